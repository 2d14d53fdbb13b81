"""Turn SQLAlchemy and driver failures into `StorageError` naming the action and the database.

Callers (the CLI, the download loop) catch `BlitzError`; a raw `IntegrityError`
or `OperationalError` would escape them with a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, IntegrityError

from blitz.errors import StorageError

__all__ = ["ConcurrentDownload", "storage_errors"]


class ConcurrentDownload(StorageError):
    """Another download stored messages of the session meanwhile; this chunk was not stored."""

    def __init__(self, session_id: int, expected: int, stored: int) -> None:
        super().__init__(
            f"session {session_id}: another download is storing it ({stored} messages stored, this one "
            f"expected {expected}); stopped without storing anything twice, run it again to continue"
        )
        self.session_id = session_id
        self.expected = expected
        self.stored = stored


@contextmanager
def storage_errors(action: str, url: URL) -> Iterator[None]:
    """Re-raise database errors inside the block as StorageError('<action> on <url>: <cause>')."""
    try:
        yield
    except IntegrityError as exc:
        raise StorageError(f"{action}: the database rejected the data ({_cause(exc)})") from exc
    except DBAPIError as exc:
        where = url.render_as_string(hide_password=True)
        raise StorageError(f"{action} on {where} failed: {_cause(exc)}") from exc


def _cause(exc: DBAPIError) -> str:
    """The driver's own message, first line only (the SQL is in the chained exception)."""
    text = str(exc.orig) if exc.orig is not None else str(exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc.orig).__name__
