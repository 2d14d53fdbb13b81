"""What every API handler may use: the store, a worker-thread runner, the logger link and jobs.

Database work blocks, so handlers hand it to `run` (a thread pool) and return
the Deferred; `connection()` opens one short-lived SQL connection for the
browse and export queries of `blitz.data`.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional

from sqlalchemy import Connection
from twisted.internet.defer import Deferred

from blitz.data.browse import SessionNotDownloaded, SessionNotFound, VariableNotFound
from blitz.data.client_database import DatabaseClient
from blitz.web.api_live import EventHub
from blitz.web.downloads import DownloadJobs
from blitz.web.http import BadRequest, HttpError
from blitz.web.logger_link import LoggerLink

__all__ = ["ConsoleContext", "browse_errors"]


@dataclass
class ConsoleContext:
    """The console's parts, given to each group of routes."""

    reactor: Any
    database: DatabaseClient
    run: Callable[..., "Deferred[Any]"]
    hub: EventHub
    link: Optional[LoggerLink]
    jobs: Optional[DownloadJobs]
    series_workers: int = 1

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """One SQL connection for read queries (returned to the pool afterwards)."""
        with self.database.engine.connect() as conn:
            yield conn

    def require_link(self) -> LoggerLink:
        """The logger link, or a 503 when the console runs without a logger."""
        if self.link is None:
            raise HttpError(503, "this console was started without a logger")
        return self.link


@contextmanager
def browse_errors() -> Iterator[None]:
    """Turn `blitz.data.browse` lookups that fail into 404 / 409 / 400 answers."""
    try:
        yield
    except SessionNotFound as exc:
        raise HttpError(404, str(exc)) from None
    except SessionNotDownloaded as exc:
        raise HttpError(409, str(exc)) from None
    except VariableNotFound as exc:
        raise BadRequest(str(exc)) from None
