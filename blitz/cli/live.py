"""`blitz live`: a table of the latest value of every variable, refreshed in place."""

from __future__ import annotations

import sys
from typing import Any, Optional, TextIO

import click

from blitz.cli.layout import format_value, sparkline, table
from blitz.cli.options import (
    ServerOptions,
    boards_option,
    database_option,
    handle_errors,
    json_option,
    load_board_map,
    open_database,
    print_json,
    server_options,
)
from blitz.client.live import LiveView


def render(view: LiveView, ascii_only: bool = False, trend_width: int = 24) -> str:
    """The live table as text: variable, value, unit, trend, count, plus a status line."""
    rows = [[row.name, format_value(row.value), row.unit, sparkline(row.trend, trend_width, ascii_only), row.count]
            for row in view.values()]
    session = view.session_id if view.session_id is not None else "-"
    status = f"session {session}: {view.lines} lines, {view.readings} readings, {view.cached} cached"
    if view.bad_lines or view.unknown:
        status += f", {view.bad_lines + sum(view.unknown.values())} lines skipped"
    if view.dropped:
        status += f", {view.dropped} lines dropped by the server (this client was too slow)"
    body = table(["VARIABLE", "VALUE", "UNIT", "TREND", "COUNT"], rows, right=(1, 4)) if rows else "(no data yet)"
    notes = [f"! {note.text}" for note in view.notes]
    return "\n".join([body, "", status, *notes])


class Screen:
    """Redraw a block of text in place on a terminal (cursor up, clear below)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._height = 0

    def draw(self, text: str) -> None:
        if self._height:
            self.stream.write(f"\x1b[{self._height}F\x1b[J")
        self.stream.write(text + "\n")
        self.stream.flush()
        self._height = text.count("\n") + 1


@click.command()
@click.option("--seconds", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Stop after this many seconds (default: until Ctrl-C).")
@click.option("--refresh", "refresh_s", type=click.FloatRange(min=0.05), default=0.5, show_default=True,
              help="Seconds between redraws.")
@click.option("--no-cache", is_flag=True, help="Do not write the values to the local cache table.")
@server_options
@database_option
@boards_option
@json_option
@handle_errors
def live(seconds: Optional[float], refresh_s: float, no_cache: bool, server: ServerOptions, db: str,
         boards: tuple[str, ...], as_json: bool) -> None:
    """Watch the running session: latest value and a small trend per variable.

    On a terminal the table is redrawn in place; otherwise (or with --json)
    it is printed once at the end.  Values also go to the local cache table,
    which the browser's live view reads.

    \b
    Example:
      blitz start && blitz live
      blitz live --seconds 10 --json > snapshot.json
    """
    board_map = load_board_map(boards)
    stdout = sys.stdout
    screen = Screen(stdout) if stdout.isatty() and not as_json else None
    ascii_only = not _can_encode(stdout, "▁█")
    database = None if no_cache else open_database(db)
    view = LiveView(board_map, database)
    try:
        with server.client() as client:
            if client.logging() is None:
                click.echo("not logging: nothing to show until 'blitz start'", err=True)
            try:
                for pushes in client.live(seconds=seconds, idle_s=refresh_s):
                    view.feed(pushes)
                    if screen is not None:
                        screen.draw(render(view, ascii_only))
            except KeyboardInterrupt:
                pass
        view.flush()
    finally:
        if database is not None:
            database.close()
    if as_json:
        print_json(_snapshot(view))
    elif screen is None:
        click.echo(render(view, ascii_only))


def _can_encode(stream: TextIO, text: str) -> bool:
    try:
        text.encode(getattr(stream, "encoding", None) or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def _snapshot(view: LiveView) -> dict[str, Any]:
    return {
        "session": view.session_id,
        "lines": view.lines,
        "readings": view.readings,
        "cached": view.cached,
        "bad_lines": view.bad_lines,
        "dropped": view.dropped,
        "unknown_boards": {f"{k:02x}": v for k, v in view.unknown.items()},
        "values": [{"name": row.name, "board": row.board_id, "value": row.value, "unit": row.unit,
                    "time_logged": row.time_logged, "count": row.count, "trend": list(row.trend)}
                   for row in view.values()],
        "notes": [{"time_ms": n.time_ms, "severity": n.severity, "text": n.text} for n in view.notes],
    }

