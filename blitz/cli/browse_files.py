"""The offline commands that move sessions between the local store and files: export, import, archive."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Optional

import click

from blitz.cli.browse_common import offline_errors, open_store, session_id_argument, warn_if_partial
from blitz.cli.options import database_option
from blitz.errors import StorageError


@click.command()
@session_id_argument()
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "csv-long", "json"]), default="csv", show_default=True,
    help="csv: one row per timestamp, one column per variable; csv-long: one row per reading; "
    "json: metadata and readings, for `blitz import`.",
)
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="File to write (default: stdout).")
@database_option
@offline_errors
def export(session_id: int, fmt: str, output: Optional[str], db: str) -> None:
    """Write a downloaded session to CSV or JSON, streaming (any size, flat memory).

    CSV times are seconds since the session's first reading (time_s) and
    ISO-8601 UTC (time_utc).  A file is written under a temporary name and
    renamed when complete.

    \b
    Example:
      blitz export 3 -o session3.csv
      blitz export 3 --format csv-long | gzip > session3-long.csv.gz
      blitz export 3 --format json -o session3.json
    """
    from blitz.data.browse import load_session
    from blitz.data.export import snapshot, write_csv_long, write_csv_wide, write_json

    writer = {"csv": write_csv_wide, "csv-long": write_csv_long, "json": write_json}[fmt]
    started = time.perf_counter()
    with open_store(db) as store, snapshot(store.engine) as conn:
        overview = load_session(conn, session_id)
        warn_if_partial(overview)
        if output is None:
            try:
                summary = writer(conn, overview, sys.stdout)
                sys.stdout.flush()
            except BrokenPipeError:  # `blitz export 3 | head`: the reader left, which is fine
                _silence_stdout()
                return
        else:
            partial = Path(output + ".partial")
            try:
                with open(partial, "w", encoding="utf-8", newline="") as out:
                    summary = writer(conn, overview, out)
                os.replace(partial, output)
            finally:
                partial.unlink(missing_ok=True)
    elapsed = time.perf_counter() - started
    rate = summary.readings / elapsed if elapsed > 0 else 0.0
    click.echo(
        f"session {session_id}: {summary.readings} readings, {summary.rows} rows as {fmt} "
        f"to {output or 'stdout'} in {elapsed:.2f} s ({rate:,.0f} readings/s)",
        err=True,
    )


def _silence_stdout() -> None:
    """Point stdout at /dev/null so Python's exit flush does not complain about the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor (tests)
        pass


@click.command(name="import")
@click.argument("file", metavar="FILE")
@click.option("--replace", is_flag=True, help="Overwrite the session if its number is already stored.")
@database_option
@offline_errors
def import_(file: str, replace: bool, db: str) -> None:
    """Store a session from a JSON file written by `blitz export --format json` or `blitz archive`.

    All or nothing: a bad file leaves the database as it was.

    \b
    Example:
      blitz import session3.json
      blitz import archive/session-3-20240115T143022Z.json --replace --db other.db
    """
    from blitz.data.importer import import_session

    with open_store(db, create=True) as store:
        result = import_session(store.engine, file, replace=replace)
    replaced = " (replaced the stored copy)" if result.replaced else ""
    click.echo(
        f"imported session {result.ref_id}: {result.readings} readings of "
        f"{len(result.variables)} variables from {file}{replaced}",
        err=True,
    )


@click.command()
@click.option(
    "--older-than", "older_than_days", type=click.FloatRange(min=0), required=True, metavar="DAYS",
    help="Archive finished sessions that started more than DAYS days ago.",
)
@click.option("--to", "folder", type=click.Path(file_okay=False), default="archive", show_default=True,
              help="Folder for the JSON files.")
@click.option("--yes", is_flag=True, help="Do not ask before deleting archived sessions from the database.")
@database_option
@offline_errors
def archive(older_than_days: float, folder: str, yes: bool, db: str) -> None:
    """Move old sessions to JSON files and delete them from the local database.

    Each session is exported, synced to disk, read back and checked reading by
    reading before it is deleted; a session that fails stays in the database.
    Bring one back with `blitz import FILE`.  The logger keeps its own copy
    until you delete it there (`blitz delete`).

    \b
    Example:
      blitz archive --older-than 90 --to /mnt/backup/blitz
      blitz archive --older-than 30 --yes
    """
    from blitz.data.archive import archive_old_sessions, find_old_sessions
    from blitz.data.browse import iso_utc

    now_ms = int(time.time() * 1000)
    with open_store(db) as store:
        with store.engine.connect() as conn:
            candidates = find_old_sessions(conn, older_than_days, now_ms)
        if not candidates:
            click.echo(f"no finished session with stored readings started more than {older_than_days:g} days ago",
                       err=True)
            return
        for ref_id, started in candidates:
            click.echo(f"session {ref_id}, started {iso_utc(started)}", err=True)
        if not yes:
            click.confirm(
                f"Archive these {len(candidates)} sessions to {folder} and delete them from {db}?",
                abort=True, err=True,
            )
        report = archive_old_sessions(
            store.engine, older_than_days, folder, now_ms, progress=lambda line: click.echo(line, err=True)
        )
    for done in report.archived:
        click.echo(str(done.path))
    if report.failed:
        first_reason = report.failed[0][1]
        raise StorageError(
            f"{len(report.failed)} of {len(report.failed) + len(report.archived)} sessions were not archived "
            f"and stay in the database; first: {first_reason}"
        )


__all__ = ["archive", "export", "import_"]
