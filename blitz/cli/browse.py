"""The offline commands that look into a stored session: readings, stats, compare."""

from __future__ import annotations

import csv
import io
from typing import Any, Optional

import click

from blitz.cli.browse_common import offline_errors, open_store, session_id_argument, warn_if_partial
from blitz.cli.layout import format_value, table
from blitz.cli.options import database_option, json_option, print_json


@click.command()
@session_id_argument()
@click.option("--variable", "variables", multiple=True, metavar="NAME", help="Only this variable (repeatable).")
@click.option("--since", "since_ms", type=int, metavar="MS", help="From this many ms after the session's first reading.")
@click.option("--until", "until_ms", type=int, metavar="MS", help="Before this many ms after the first reading.")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True, help="Rows per page.")
@click.option("--offset", type=click.IntRange(min=0), default=0, show_default=True, help="Rows to skip.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@database_option
@offline_errors
def readings(
    session_id: int,
    variables: tuple[str, ...],
    since_ms: Optional[int],
    until_ms: Optional[int],
    limit: int,
    offset: int,
    fmt: str,
    db: str,
) -> None:
    """Show one page of a downloaded session's readings, oldest first.

    Times are seconds since the session's first reading (time_s) and UTC.
    --since/--until are ms on that same scale (since <= t < until); page on
    with --offset, or jump ahead with --since.

    \b
    Example:
      blitz readings 3 --limit 20
      blitz readings 3 --variable adc_channel_one --since 60000 --until 61000
      blitz readings 3 --format csv --limit 1000 --offset 1000 > page2.csv
    """
    from blitz.data.browse import iso_utc, load_session, read_page

    with open_store(db) as store, store.engine.connect() as conn:
        overview = load_session(conn, session_id)
        warn_if_partial(overview)
        page = read_page(conn, overview, list(variables), since_ms, until_ms, limit, offset)
    if fmt == "json":
        print_json(page.to_dict())
    elif fmt == "csv":
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(["time_logged", "time_s", "time_utc", "variable", "value"])
        for t, name, value in page.rows:
            writer.writerow([t, overview.relative_s(t), iso_utc(overview.absolute_ms(t)) or "", name, repr(value)])
        click.echo(text.getvalue(), nl=False)
    else:
        rows = [
            [f"{overview.relative_s(t):.3f}", iso_utc(overview.absolute_ms(t)) or "-", name, repr(value)]
            for t, name, value in page.rows
        ]
        click.echo(table(["TIME_S", "TIME_UTC", "VARIABLE", "VALUE"], rows, right=(0, 3)))
    if page.has_more:
        click.echo(f"more rows: add --offset {offset + limit}", err=True)
    elif not page.rows:
        click.echo(f"no readings of session {session_id} match", err=True)


def _stats_rows(stats: Any) -> list[list[str]]:
    view = stats.overview
    return [
        [
            s.name,
            str(s.count),
            format_value(s.minimum),
            format_value(s.maximum),
            format_value(s.mean),
            "-" if s.std is None else format_value(s.std),
            f"{view.relative_s(s.first_ms):.3f}",
            f"{view.relative_s(s.last_ms):.3f}",
        ]
        for s in stats.variables
    ]


def _session_line(stats: Any) -> str:
    view = stats.overview
    from blitz.data.browse import iso_utc

    started = iso_utc(view.time_started) or "unknown start"
    return (
        f"session {view.ref_id}: started {started}, {stats.readings} readings of "
        f"{len(stats.variables)} variables over {(view.last_ms - view.first_ms) / 1000:.3f} s"
    )


@click.command()
@session_id_argument()
@click.option("--variable", "variables", multiple=True, metavar="NAME", help="Only this variable (repeatable).")
@json_option
@database_option
@offline_errors
def stats(session_id: int, variables: tuple[str, ...], as_json: bool, db: str) -> None:
    """Per-variable statistics of a downloaded session, computed by the database.

    Count, min, max, mean, sample standard deviation, and the first and last
    reading's time in seconds since the session's first reading.

    \b
    Example:
      blitz stats 3
      blitz stats 3 --json | jq '.variables[] | {name, mean}'
    """
    from blitz.data.browse import load_session, session_stats

    with open_store(db) as store, store.engine.connect() as conn:
        overview = load_session(conn, session_id)
        warn_if_partial(overview)
        result = session_stats(conn, overview, list(variables))
    if as_json:
        print_json(result.to_dict())
        return
    click.echo(_session_line(result))
    headers = ["VARIABLE", "COUNT", "MIN", "MAX", "MEAN", "STD", "FIRST_S", "LAST_S"]
    click.echo(table(headers, _stats_rows(result), right=(1, 2, 3, 4, 5, 6, 7)))


def _difference(value: Optional[float]) -> str:
    return "-" if value is None else ("+" if value > 0 else "") + format_value(value)


@click.command()
@session_id_argument("session_a")
@session_id_argument("session_b")
@json_option
@database_option
@offline_errors
def compare(session_a: int, session_b: int, as_json: bool, db: str) -> None:
    """Compare two downloaded sessions variable by variable; differences are B - A.

    \b
    Example:
      blitz compare 3 4
      blitz compare 3 4 --json | jq .differences
    """
    from blitz.data.browse import compare_sessions

    with open_store(db) as store, store.engine.connect() as conn:
        comparison = compare_sessions(conn, session_a, session_b)
    if as_json:
        print_json(comparison.to_dict())
        return
    data = comparison.to_dict()
    click.echo(f"A: {_session_line(comparison.a)}")
    click.echo(f"B: {_session_line(comparison.b)}")
    rows: list[list[str]] = []
    for variable in comparison.variables:
        a, b, diff = variable.a, variable.b, variable.differences() or {}
        for label, attribute, key in (
            ("count", "count", "count"),
            ("min", "minimum", "min"),
            ("max", "maximum", "max"),
            ("mean", "mean", "mean"),
            ("std", "std", "std"),
            ("duration_s", "duration_s", "duration_s"),
        ):
            cells = [_cell(a, attribute), _cell(b, attribute), _difference(diff.get(key)) if diff else "-"]
            rows.append([variable.name if label == "count" else "", label, *cells])
    click.echo(table(["VARIABLE", "STAT", "A", "B", "B - A"], rows, right=(2, 3, 4)))
    for side, names in (("A", data["only_in_a"]), ("B", data["only_in_b"])):
        if names:
            click.echo(f"only in {side}: {', '.join(names)}")


def _cell(stats: Any, attribute: str) -> str:
    if stats is None:
        return "-"
    value = getattr(stats, attribute)
    return "-" if value is None else format_value(value)


__all__ = ["compare", "readings", "stats"]
