"""Commands for the logger's sessions: list (and sync), download, delete."""

from __future__ import annotations

import sys
import time
from typing import Any, Optional, TextIO

import click

from blitz.cli.layout import format_duration, format_time_ms, table
from blitz.cli.options import (
    ServerOptions,
    boards_option,
    complete_session_ids,
    database_option,
    handle_errors,
    json_option,
    load_board_map,
    open_database,
    print_json,
    quiet_option,
    server_options,
)
from blitz.client.download import DownloadProgress, DownloadReport


@click.command()
@server_options
@database_option
@json_option
@click.option("--offline", is_flag=True, help="Do not ask the logger; show the local list only.")
@handle_errors
def sessions(server: ServerOptions, db: str, as_json: bool, offline: bool) -> None:
    """List the logger's sessions and how much of each is downloaded.

    The logger's list replaces the local one (sessions whose readings are
    stored locally stay listed even when deleted on the logger).

    \b
    Example:
      blitz sessions
      blitz sessions --json --db postgresql+psycopg://me@db/blitz
    """
    from blitz.client.download import Downloader
    from blitz.data.models import Session

    with open_database(db) as database:
        if not offline:
            with server.client() as client:
                Downloader(client, database, {}).sync_sessions()
        rows = sorted(database.all(Session), key=lambda s: -s.ref_id)
    if as_json:
        print_json([_session_dict(s) for s in rows])
        return
    if not rows:
        click.echo("no sessions", err=True)
        return
    click.echo(table(
        ["ID", "STARTED", "STOPPED", "DURATION", "MESSAGES", "DOWNLOADED", "AVAILABLE"],
        [[s.ref_id, format_time_ms(s.time_started), format_time_ms(s.time_stopped), _duration(s),
          s.number_of_readings, s.downloaded_messages, "yes" if s.available else "no"] for s in rows],
        right=(0, 4, 5),
    ))


def _duration(session: Any) -> str:
    if session.time_started is None:
        return "-"
    end = session.time_stopped if session.time_stopped is not None else time.time() * 1000
    return format_duration((end - session.time_started) / 1000)


def _session_dict(session: Any) -> dict[str, Any]:
    return {
        "id": session.ref_id,
        "time_started": session.time_started,
        "time_stopped": session.time_stopped,
        "messages": session.number_of_readings,
        "downloaded_messages": session.downloaded_messages,
        "available": bool(session.available),
    }


class ProgressLine:
    """A one-line progress display on stderr; rate-limited plain lines when not a TTY."""

    def __init__(self, stream: TextIO, interval_s: float = 0.1, plain_interval_s: float = 5.0) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.interval_s = interval_s if self.tty else plain_interval_s
        self._last: Optional[float] = None
        self._shown = False

    def __call__(self, progress: DownloadProgress) -> None:
        now = time.monotonic()
        recent = self._last is not None and now - self._last < self.interval_s
        if recent and progress.done < progress.total:
            return
        self._last = now
        width = 30
        fraction = progress.done / progress.total if progress.total else 1.0
        filled = int(width * min(fraction, 1.0))
        eta = format_duration(progress.eta_s) if progress.eta_s is not None else "-"
        text = (f"session {progress.session_id} [{'#' * filled}{'-' * (width - filled)}] {fraction:4.0%} "
                f"{progress.done:,}/{progress.total:,} msgs  {progress.rate_per_s:,.0f} msg/s  ETA {eta}")
        if self.tty:
            self.stream.write("\r\x1b[K" + text)
            self._shown = True
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def end(self) -> None:
        """Finish the line (TTY only)."""
        if self.tty and self._shown:
            self.stream.write("\n")
            self.stream.flush()
        self._shown = False


@click.command()
@click.argument("session_ids", nargs=-1, type=click.IntRange(min=1), metavar="[ID]...",
                shell_complete=complete_session_ids)
@click.option("--all", "all_sessions", is_flag=True, help="Download every finished session not yet stored.")
@click.option("--chunk", "chunk_messages", type=click.IntRange(min=1), default=5000, show_default=True,
              help="Messages decoded and stored per transaction.")
@server_options
@database_option
@boards_option
@json_option
@quiet_option
@handle_errors
def download(session_ids: tuple[int, ...], all_sessions: bool, chunk_messages: int, server: ServerOptions,
             db: str, boards: tuple[str, ...], as_json: bool, quiet: bool) -> None:
    """Download sessions from the logger into the local store.

    Only messages not stored yet are fetched: an interrupted download
    continues where it stopped and never stores a message twice.  Progress
    (messages/s, ETA) goes to stderr.

    \b
    Example:
      blitz download 3
      blitz download --all --db ~/runs/blitz.db
    """
    from blitz.client.download import Downloader

    if bool(session_ids) == all_sessions:
        raise click.UsageError("give session IDs or --all (not both)")
    board_map = load_board_map(boards)
    progress = None if quiet or as_json else ProgressLine(sys.stderr)
    reports: list[DownloadReport] = []
    with open_database(db) as database, server.client() as client:
        downloader = Downloader(client, database, board_map, chunk_messages=chunk_messages)
        current: Optional[int] = None
        try:
            if all_sessions:
                listed = downloader.sync_sessions()
                targets = [s.id for s in sorted(listed, key=lambda s: s.id) if s.end_ms is not None]
            else:
                listed = downloader.sync_sessions()
                targets = list(session_ids)
            for session_id in targets:
                current = session_id
                reports.append(downloader.download(session_id, progress, listed))
                if progress is not None:
                    progress.end()
                if not as_json:
                    click.echo(_report_text(reports[-1]))
        except KeyboardInterrupt:
            if progress is not None:
                progress.end()
            stored = database.stored_messages(current) if current is not None else 0
            raise click.ClickException(
                f"interrupted: session {current} has {stored} messages stored; run the same command to continue")
        finally:
            if progress is not None:
                progress.end()
    if as_json:
        print_json([_report_dict(r) for r in reports])
    elif all_sessions and not reports:
        click.echo("nothing to download", err=True)


def _report_text(report: DownloadReport) -> str:
    if report.skipped:
        return f"session {report.session_id}: already downloaded ({report.total} messages)"
    text = (f"session {report.session_id}: {report.messages:,} messages, {report.readings:,} readings "
            f"in {report.seconds:.1f}s ({report.rate_per_s:,.0f} msg/s)")
    if report.offset:
        text += f", continued from {report.offset:,}"
    if report.bad_lines or report.unknown:
        text += f"; {report.bad_lines + sum(report.unknown.values())} lines skipped (see 'blitz errors')"
    if not report.available:
        text += "; incomplete (still logging?)"
    return text


def _report_dict(report: DownloadReport) -> dict[str, Any]:
    return {
        "session": report.session_id, "offset": report.offset, "total": report.total,
        "messages": report.messages, "readings": report.readings, "bad_lines": report.bad_lines,
        "unknown_boards": {f"{k:02x}": v for k, v in report.unknown.items()},
        "available": report.available, "seconds": round(report.seconds, 3),
        "rate_per_s": round(report.rate_per_s, 1), "skipped": report.skipped,
    }


@click.command()
@click.argument("session_id", type=click.IntRange(min=1), metavar="ID", shell_complete=complete_session_ids)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--local", "local_only", is_flag=True,
              help="Only drop the local readings (keeps the logger's copy for a new download).")
@server_options
@database_option
@handle_errors
def delete(session_id: int, yes: bool, local_only: bool, server: ServerOptions, db: str) -> None:
    """Delete a session on the logger and in the local store.

    \b
    Example:
      blitz delete 3 --yes
      blitz delete 3 --local && blitz download 3   # decode again
    """
    from blitz.client.errors import UnknownSession
    from blitz.data.models import Session

    where = "in the local store" if local_only else "on the logger and in the local store"
    if not yes:
        click.confirm(f"Delete session {session_id} {where}?", abort=True, err=True)
    with open_database(db) as database:
        known_locally = bool(database.find(Session, {"ref_id": session_id}))
        if local_only:
            if not known_locally:
                raise click.ClickException(f"no session {session_id} in the local store {db}")
            database.clear_session_data(session_id)
            click.echo(f"session {session_id}: local readings deleted")
            return
        on_logger = True
        try:
            with server.client() as client:
                client.delete(session_id)
        except UnknownSession:
            if not known_locally:
                raise
            on_logger = False
        if known_locally:
            database.delete_session(session_id)
    if on_logger:
        click.echo(f"session {session_id} deleted" + ("" if known_locally else " (it was not downloaded)"))
    else:
        click.echo(f"session {session_id} deleted locally (the logger no longer had it)")
