"""What the offline browsing commands share: opening the local store and turning failures into one line.

The `--db` option, `handle_errors` and JSON printing come from `blitz.cli.options`;
this adds the checks that only offline commands need (the store must already
exist, database and file errors are user errors too).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import click

from blitz.cli.options import complete_session_ids, handle_errors, open_database
from blitz.errors import StorageError

if TYPE_CHECKING:
    from blitz.data.browse import SessionOverview
    from blitz.data.database import DatabaseClient

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["offline_errors", "open_store", "session_id_argument", "warn_if_partial"]


def offline_errors(func: F) -> F:
    """Like `handle_errors`, and database or file-system failures also become one-line errors (exit 1)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            return func(*args, **kwargs)
        except SQLAlchemyError as exc:
            cause = getattr(exc, "orig", None) or exc
            first_line = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
            raise StorageError(f"database error: {first_line}") from None
        except OSError as exc:
            raise StorageError(f"{exc.filename or 'file'}: {exc.strerror or exc}") from None

    return handle_errors(wrapper)  # type: ignore[return-value]


@contextmanager
def open_store(db: str, create: bool = False) -> Iterator[DatabaseClient]:
    """The local store named by --db; a missing SQLite file is an error unless `create`."""
    if not create and "://" not in db and db != ":memory:" and not Path(db).expanduser().exists():
        raise StorageError(
            f"no local database at {db!r}; download a session first (`blitz download N`) "
            f"or point --db / BLITZ_DB at your database"
        )
    client = open_database(db)
    try:
        yield client
    finally:
        client.close()


def session_id_argument(name: str = "session_id") -> Callable[[F], F]:
    """A session number (the logger's), as a positional argument completed from the local store."""
    return click.argument(
        name, type=click.IntRange(min=0), metavar=name.upper().replace("_", "-"), shell_complete=complete_session_ids
    )


def warn_if_partial(overview: SessionOverview) -> None:
    """Say on stderr when only part of the session is stored."""
    if not overview.complete:
        click.echo(
            f"warning: session {overview.ref_id} is only partly downloaded "
            f"({overview.downloaded_messages} of {overview.number_of_readings} messages); "
            f"run `blitz download {overview.ref_id}` for the rest",
            err=True,
        )
