"""Build the SQLAlchemy engine of the client's store from a path or a URL.

SQLite files get WAL journaling, a busy timeout and synchronous=NORMAL on every
new connection, so a download writing while the UI reads never fails with
"database is locked" and commits stay cheap; ":memory:" stays one database for
the engine's life.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool

from blitz.errors import ConfigError

__all__ = ["MEMORY", "SQLITE_BUSY_TIMEOUT_MS", "create_client_engine"]

MEMORY = ":memory:"
SQLITE_BUSY_TIMEOUT_MS = 30_000


def create_client_engine(
    path: str | Path = MEMORY,
    url: str | URL | None = None,
    verbose: bool = False,
    **engine_kwargs: Any,
) -> Engine:
    """Return an engine for `url` if given, else for the SQLite file or ":memory:" at `path`.

    `verbose` echoes every SQL statement; `engine_kwargs` pass through to
    `sqlalchemy.create_engine` (for example `connect_args`).
    """
    if url is not None:
        try:
            parsed = make_url(url)
        except Exception as exc:  # ArgumentError, ValueError: both mean a bad URL
            raise ConfigError(
                f"database url: expected a SQLAlchemy URL such as "
                f"'postgresql+psycopg://user@host/db', got {str(url)!r} ({exc})"
            ) from exc
        if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", MEMORY):
            return _memory_engine(verbose, parsed, **engine_kwargs)
        engine = create_engine(parsed, echo=verbose, **engine_kwargs)
    elif str(path) == MEMORY:
        return _memory_engine(verbose, None, **engine_kwargs)
    else:
        if not str(path).strip():
            raise ConfigError("database path: expected a file path or ':memory:', got ''")
        file_path = Path(path).expanduser()
        if file_path.is_dir():
            raise ConfigError(f"database path: expected a file, got the directory {str(file_path)!r}")
        file_path.parent.mkdir(parents=True, exist_ok=True)
        connect_args = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        connect_args.update(engine_kwargs.pop("connect_args", {}))
        engine = create_engine(
            URL.create("sqlite", database=str(file_path)),
            echo=verbose,
            connect_args=connect_args,
            **engine_kwargs,
        )
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _tune_sqlite_file)
    return engine


def _memory_engine(verbose: bool, url: URL | None, **engine_kwargs: Any) -> Engine:
    """One shared connection, so every thread and session sees the same in-memory database."""
    connect_args = {"check_same_thread": False}
    connect_args.update(engine_kwargs.pop("connect_args", {}))
    return create_engine(
        url or "sqlite://",
        echo=verbose,
        poolclass=StaticPool,
        connect_args=connect_args,
        **engine_kwargs,
    )


def _tune_sqlite_file(dbapi_connection: Any, _record: Any) -> None:
    """Set the per-connection pragmas; busy_timeout first so the WAL switch can wait for a lock."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()
