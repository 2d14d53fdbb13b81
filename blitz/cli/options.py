"""Shared options of the online commands and the BlitzError-to-ClickException boundary.

Every command that talks to a logger takes `--host/--port/--token/--timeout`
(env BLITZ_HOST, BLITZ_PORT, BLITZ_TOKEN); every command that touches the local
store takes `--db` (env BLITZ_DB: a file path or any SQLAlchemy URL).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar

import click

from blitz.errors import BlitzError

if TYPE_CHECKING:  # imported lazily so `blitz --help` stays fast
    from blitz.boards.definition import Board
    from blitz.client.blocking import Client
    from blitz.data.client_database import DatabaseClient

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_DB = "blitz.db"


@dataclass(frozen=True)
class ServerOptions:
    """Where the logger is and how to authenticate."""

    host: str
    port: int
    token: Optional[str]
    timeout_s: float
    tls: bool = False
    tls_ca: Optional[str] = None

    def client(self) -> "Client":
        """A blocking client for these options (connects on first use)."""
        import ssl

        from blitz.client.blocking import Client

        tls: Any = self.tls
        if self.tls_ca:
            tls = ssl.create_default_context(cafile=self.tls_ca)
        return Client(self.host, self.port, token=self.token or None, timeout=self.timeout_s, tls=tls)


def server_options(func: F) -> F:
    """Add --host, --port, --token, --timeout and --tls, passed on as `server: ServerOptions`."""

    @functools.wraps(func)
    def wrapper(*args: Any, host: str, port: int, token: Optional[str], timeout: float, tls: bool,
                tls_ca: Optional[str], **kwargs: Any) -> Any:
        options = ServerOptions(host, port, token, timeout, tls or bool(tls_ca), tls_ca)
        return func(*args, server=options, **kwargs)

    decorators = [
        click.option("--host", envvar="BLITZ_HOST", default="127.0.0.1", show_default=True,
                     help="Logger (blitz server) host. Env: BLITZ_HOST."),
        click.option("--port", envvar="BLITZ_PORT", type=click.IntRange(1, 65535), default=8999,
                     show_default=True, help="Logger control port. Env: BLITZ_PORT."),
        click.option("--token", envvar="BLITZ_TOKEN", default=None,
                     help="Token, when the server requires one. Env: BLITZ_TOKEN."),
        click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=10.0, show_default=True,
                     help="Seconds to wait for the server."),
        click.option("--tls", is_flag=True, envvar="BLITZ_TLS",
                     help="Connect with TLS (a server started with --tls-cert). Env: BLITZ_TLS."),
        click.option("--tls-ca", type=click.Path(exists=True, dir_okay=False), envvar="BLITZ_TLS_CA",
                     default=None, metavar="FILE",
                     help="CA or self-signed certificate to trust (implies --tls). Env: BLITZ_TLS_CA."),
    ]
    result: Any = wrapper
    for decorate in reversed(decorators):
        result = decorate(result)
    return result  # type: ignore[no-any-return]


def database_option(func: F) -> F:
    """Add --db (a SQLite file or a SQLAlchemy URL), passed on as `db: str`."""
    return click.option(
        "--db", envvar="BLITZ_DB", default=DEFAULT_DB, show_default=True, metavar="PATH|URL",
        help="Local store: a SQLite file or an SQLAlchemy URL (postgresql+psycopg://...). Env: BLITZ_DB.",
    )(func)


def boards_option(func: F) -> F:
    """Add --boards (board definition TOML files or folders), passed on as `boards: tuple[str, ...]`."""
    return click.option(
        "--boards", "boards", multiple=True, envvar="BLITZ_BOARDS", type=click.Path(exists=True),
        metavar="PATH", help="Board definition file or folder of *.toml (repeatable). Env: BLITZ_BOARDS.",
    )(func)


def json_option(func: F) -> F:
    """Add --json: machine-readable data on stdout."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout instead of text.")(func)


def quiet_option(func: F) -> F:
    """Add --quiet: only the essential result, no progress."""
    return click.option("--quiet", "-q", is_flag=True, help="Print only the result, no progress.")(func)


def open_database(db: str) -> "DatabaseClient":
    """Open the local store named by --db (a URL if it contains '://', else a SQLite file)."""
    from blitz.data.database import DatabaseClient

    if "://" in db:
        return DatabaseClient(url=db)
    return DatabaseClient(path=db)


def load_board_map(paths: tuple[str, ...] = ()) -> "dict[int, Board]":
    """Built-in, plug-in and definition-file boards by id."""
    from blitz.boards.loader import load_boards

    return load_boards(paths, entry_points=True)


def print_json(data: Any) -> None:
    """Write `data` as JSON on stdout."""
    click.echo(json.dumps(data, indent=2, default=str))


def complete_session_ids(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """Shell completion of session ids from the local SQLite store (never from the network)."""
    import os
    import sqlite3

    db = ctx.params.get("db") or os.environ.get("BLITZ_DB", DEFAULT_DB)
    if "://" in db or not os.path.isfile(db):
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            ids = [str(row[0]) for row in conn.execute("SELECT ref_id FROM session ORDER BY ref_id DESC")]
    except sqlite3.Error:
        return []
    return [session_id for session_id in ids if session_id.startswith(incomplete)]


def handle_errors(func: F) -> F:
    """Turn a BlitzError into a one-line click error (exit code 1, no traceback)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except BlitzError as exc:
            message = " ".join(str(exc).split()) or type(exc).__name__
            raise click.ClickException(message) from None

    return wrapper  # type: ignore[return-value]


__all__ = [
    "DEFAULT_DB",
    "ServerOptions",
    "boards_option",
    "complete_session_ids",
    "database_option",
    "handle_errors",
    "json_option",
    "load_board_map",
    "open_database",
    "print_json",
    "quiet_option",
    "server_options",
]
