"""`DatabaseClient`: the laptop-side SQL store of sessions, readings, live cache, config and errors.

The methods and their meaning follow the original Blitz API (api.md); the bulk
methods (`add_readings_bulk`, `add_cache_bulk`, `get_or_create_categories`) are
the fast path downloads and the live view use.  Every call runs in its own
short transaction and returns plain, detached model objects.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import Connection, Engine, delete, func, select, update
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import StaticPool

from blitz.data import client_fixtures
from blitz.data.client_validation import require_int, require_model, require_number
from blitz.data.client_sessions import parse_session_list, refresh_availability, replace_session_list
from blitz.data.models import Base, Cache, Category, Config, Notification, Reading, Session
from blitz.data.sql_bulk import ArrayLike, prepare_samples, write_rows
from blitz.data.sql_cache import trim_cache
from blitz.data.sql_engine import MEMORY, create_client_engine
from blitz.data.sql_errors import ConcurrentDownload, storage_errors
from blitz.data.sql_schema import ensure_schema
from blitz.data.sql_upsert import get_or_create_categories, validate_names, write_config
from blitz.errors import StorageError

__all__ = ["CACHE_KEEP_ROWS", "CACHE_ROWS_PER_VARIABLE", "ConcurrentDownload", "DatabaseClient"]

ModelT = TypeVar("ModelT", bound=Base)

CACHE_ROWS_PER_VARIABLE = 50
CACHE_KEEP_ROWS = 10_000  # per variable: 50 s of a 200 Hz board


class DatabaseClient:
    """The client's SQL store: SQLite file, ":memory:", or any SQLAlchemy `url` (which wins over `path`).

    `engine` injects a ready engine (tests use it for per-test PostgreSQL schemas);
    `clock` returns seconds since the epoch and stamps notifications;
    `cache_keep_rows` bounds the live cache table per variable.
    """

    def __init__(
        self,
        verbose: bool = False,
        path: str | Path = MEMORY,
        url: str | URL | None = None,
        *,
        engine: Engine | None = None,
        clock: Callable[[], float] = time.time,
        cache_keep_rows: int = CACHE_KEEP_ROWS,
    ) -> None:
        self.verbose = verbose
        self.cache_keep_rows = require_int("cache_keep_rows", cache_keep_rows, minimum=1)
        self._cache_added: dict[int, int] = {}  # rows added per variable since its last trim
        self._owns_engine = engine is None
        self.engine: Engine = engine if engine is not None else create_client_engine(path, url, verbose)
        self._clock = clock
        self._closed = False
        # One shared DBAPI connection (":memory:") cannot hold two transactions at once.
        self._lock: AbstractContextManager[Any] = (
            threading.RLock() if isinstance(self.engine.pool, StaticPool) else nullcontext()
        )
        self._session_factory = sessionmaker(self.engine, expire_on_commit=False)
        try:
            with storage_errors("opening the database", self.engine.url):
                ensure_schema(self.engine)
        except BaseException:
            self.close()
            raise

    # -- lifecycle -------------------------------------------------------

    def close(self) -> None:
        """Release the engine's connections (only an engine this client created is disposed)."""
        if not self._closed and self._owns_engine:
            self.engine.dispose()
        self._closed = True

    def __enter__(self) -> DatabaseClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"DatabaseClient({self.engine.url.render_as_string(hide_password=True)!r})"

    @contextmanager
    def _orm(self) -> Iterator[OrmSession]:
        """One ORM session and transaction, committed on success; driver errors become StorageError."""
        self._check_open()
        with self._errors(), self._lock, self._session_factory.begin() as session:
            yield session

    @contextmanager
    def _core(self) -> Iterator[Connection]:
        """One Core connection and transaction, committed on success; driver errors become StorageError."""
        self._check_open()
        with self._errors(), self._lock, self.engine.begin() as conn:
            yield conn

    def _errors(self) -> AbstractContextManager[None]:
        return storage_errors("database call", self.engine.url)

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("DatabaseClient is closed; create a new one to use the database")

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def create_tables(self, force_drop: bool = False) -> None:
        """Create missing tables and migrate; `force_drop` first drops every table (all data is lost)."""
        self._check_open()
        with self._errors(), self._lock:
            ensure_schema(self.engine, force_drop=force_drop)

    # -- generic model access -------------------------------------------

    def add(self, item: ModelT) -> ModelT:
        """Insert one model instance and return it with its id filled in."""
        require_model(type(item))
        with self._orm() as session:
            session.add(item)
        return item

    def add_many(self, items: Iterable[ModelT]) -> list[ModelT]:
        """Insert model instances in one transaction and return them with ids."""
        rows = list(items)
        for row in rows:
            require_model(type(row))
        with self._orm() as session:
            session.add_all(rows)
        return rows

    def all(self, model: type[ModelT]) -> list[ModelT]:
        """Every row of `model`, in id order."""
        require_model(model)
        with self._orm() as session:
            return list(session.scalars(select(model).order_by(model.__table__.c.id)))

    def find(self, model: type[ModelT], query: Mapping[str, Any]) -> list[ModelT]:
        """Every row of `model` whose columns equal the `query` values, in id order."""
        require_model(model)
        if not isinstance(query, Mapping):
            raise ValueError(f"query: expected a dict of column: value, got {query!r}")
        columns = model.__table__.columns
        for key in query:
            if key not in columns:
                raise ValueError(
                    f"query key {key!r} is not a column of {model.__name__}; "
                    f"expected one of {', '.join(columns.keys())}"
                )
        statement = select(model).filter_by(**query).order_by(columns["id"])
        with self._orm() as session:
            return list(session.scalars(statement))

    def get(self, model: type[ModelT], query: Mapping[str, Any]) -> ModelT | None:
        """The first row (lowest id) matching `query`, or None."""
        found = self.find(model, query)
        return found[0] if found else None

    def get_by_id(self, model: type[ModelT], model_id: int) -> ModelT | None:
        """The row of `model` with primary key `model_id`, or None."""
        require_model(model)
        require_int("model_id", model_id)
        with self._orm() as session:
            return session.get(model, model_id)

    # -- readings and cache ---------------------------------------------

    def add_reading(self, session_id: int, time_logged: int, category_id: int, value: float) -> Reading:
        """Store one reading of session `session_id` (the logger's number)."""
        reading = Reading(
            session_id=require_int("session_id", session_id),
            time_logged=require_int("time_logged", time_logged),
            category_id=require_int("category_id", category_id),
            value=require_number("value", value),
        )
        return self.add(reading)

    def add_cache(self, time_logged: int, category_id: int, value: float) -> Cache:
        """Store one live value for the live view."""
        row = Cache(
            time_logged=require_int("time_logged", time_logged),
            category_id=require_int("category_id", category_id),
            value=require_number("value", value),
        )
        return self.add(row)

    def add_readings_bulk(
        self,
        session_id: int,
        time_logged: ArrayLike,
        category_id: ArrayLike,
        value: ArrayLike,
        messages: int = 0,
        stored_before: int | None = None,
    ) -> int:
        """Store equal-length columns of readings in ONE transaction; return the row count.

        With `messages` > 0 the session's stored-message count grows by that many
        in the same transaction, so an interrupted download resumes exactly at
        `stored_messages(session_id)`.  Callers chunk (about 5,000 messages a call).
        With `stored_before`, the chunk is stored only if the count is still that
        (checked and bumped first, under the row's write lock); otherwise
        `ConcurrentDownload` is raised and nothing is stored, so two downloads of
        one session never store a message twice.
        """
        require_int("session_id", session_id)
        require_int("messages", messages, minimum=0)
        if stored_before is not None:
            require_int("stored_before", stored_before, minimum=0)
        arrays = prepare_samples(time_logged, category_id, value)
        session_column = np.full(len(arrays[0]), session_id, dtype=np.int64)
        with self._core() as conn:
            if messages:
                claimed = Session.ref_id == session_id
                if stored_before is not None:
                    claimed = claimed & (Session.downloaded_messages == stored_before)
                bumped = conn.execute(
                    update(Session).where(claimed).values(downloaded_messages=Session.downloaded_messages + messages)
                )
                if bumped.rowcount != 1:
                    stored = conn.execute(
                        select(Session.downloaded_messages).where(Session.ref_id == session_id)
                    ).scalar()
                    if stored is None:
                        raise StorageError(
                            f"session {session_id} is not in the local session list; "
                            f"call update_session_list before storing its messages"
                        )
                    raise ConcurrentDownload(session_id, stored_before or 0, int(stored))
            count = write_rows(
                conn,
                Reading.__table__,
                ("session_id", "time_logged", "category_id", "value"),
                [session_column, *arrays],
            )
            if messages:
                refresh_availability(conn, session_id)
        return count

    def add_cache_bulk(self, time_logged: ArrayLike, category_id: ArrayLike, value: ArrayLike) -> int:
        """Store equal-length columns of live values in one transaction; return the row count.

        A long live view keeps the table bounded: once this client has added a
        tenth of `cache_keep_rows` rows to a variable, that variable is trimmed
        to its newest `cache_keep_rows` rows in the same transaction, so each
        holds at most 1.1 times that (plus rows other clients add meanwhile).
        """
        arrays = prepare_samples(time_logged, category_id, value)
        categories, counts = np.unique(arrays[1], return_counts=True)
        slack = max(1, self.cache_keep_rows // 10)
        added = {int(c): self._cache_added.get(int(c), 0) + int(n) for c, n in zip(categories, counts)}
        due = [c for c, n in added.items() if n >= slack]
        with self._core() as conn:
            count = write_rows(conn, Cache.__table__, ("time_logged", "category_id", "value"), arrays)
            trim_cache(conn, due, self.cache_keep_rows)
        self._cache_added.update(added)
        self._cache_added.update(dict.fromkeys(due, 0))
        return count

    def get_session_readings(self, session_id: int) -> list[Reading]:
        """All readings of session `session_id`, ordered by time, then variable."""
        require_int("session_id", session_id)
        statement = (
            select(Reading)
            .where(Reading.session_id == session_id)
            .order_by(Reading.time_logged, Reading.category_id, Reading.id)
        )
        with self._orm() as session:
            return list(session.scalars(statement))

    def get_session_variables(self, session_id: int) -> list[Category]:
        """The variables (categories) that have readings in session `session_id`, by name."""
        require_int("session_id", session_id)
        used = select(Reading.category_id).where(Reading.session_id == session_id).distinct()
        statement = select(Category).where(Category.id.in_(used)).order_by(Category.variable_name)
        with self._orm() as session:
            return list(session.scalars(statement))

    def get_cache(self, since: int = 0) -> list[Cache]:
        """Per variable, its newest 50 cache rows (only `time_logged >= since` when since > 0), newest first."""
        require_int("since", since, minimum=0)
        rank = (
            func.row_number()
            .over(partition_by=Cache.category_id, order_by=(Cache.time_logged.desc(), Cache.id.desc()))
            .label("rank")
        )
        ranked = select(Cache.id, rank)
        if since > 0:
            ranked = ranked.where(Cache.time_logged >= since)
        newest = ranked.subquery()
        statement = (
            select(Cache)
            .join(newest, newest.c.id == Cache.id)
            .where(newest.c.rank <= CACHE_ROWS_PER_VARIABLE)
            .order_by(Cache.category_id, Cache.time_logged.desc(), Cache.id.desc())
        )
        with self._orm() as session:
            return list(session.scalars(statement))

    def get_cache_variables(self) -> list[Category]:
        """The variables (categories) that have rows in the cache, by name."""
        used = select(Cache.category_id).distinct()
        statement = select(Category).where(Category.id.in_(used)).order_by(Category.variable_name)
        with self._orm() as session:
            return list(session.scalars(statement))

    def clear_cache(self) -> int:
        """Delete every live value; return how many rows went."""
        with self._core() as conn:
            return conn.execute(delete(Cache)).rowcount

    # -- categories -----------------------------------------------------

    def get_or_create_category(self, key: str) -> int:
        """The id of category `key`, created if missing; concurrent callers share one row."""
        return self.get_or_create_categories([key])[key]

    def get_or_create_categories(self, names: Iterable[str]) -> dict[str, int]:
        """Map each name to its category id, creating missing ones in one insert and one select."""
        wanted = validate_names(names)
        with self._core() as conn:
            return get_or_create_categories(conn, wanted)

    # -- sessions -------------------------------------------------------

    def update_session_list(self, sessions_list: Iterable[Sequence[Any] | str]) -> None:
        """Replace the session list with the logger's `[ref_id, start, stop, count]` items.

        Items may be ints or wire strings, "None" meaning still running.  Stored
        message counts survive; sessions dropped by the logger stay only while
        their readings are stored here.
        """
        sessions = parse_session_list(sessions_list)
        with self._core() as conn:
            replace_session_list(conn, sessions)

    def update_session_availability(self, session_id: int) -> bool:
        """Recompute and return whether every reported message of the session is stored."""
        require_int("session_id", session_id)
        with self._core() as conn:
            refresh_availability(conn, session_id)
            available = conn.execute(select(Session.available).where(Session.ref_id == session_id)).scalar()
        if available is None:
            raise ValueError(f"session_id: no session with logger number {session_id} in the session list")
        return bool(available)

    def stored_messages(self, session_id: int) -> int:
        """How many of the session's messages are stored locally (0 for an unknown session)."""
        require_int("session_id", session_id)
        with self._core() as conn:
            stored = conn.execute(
                select(Session.downloaded_messages).where(Session.ref_id == session_id)
            ).scalar()
        return int(stored or 0)

    def clear_session_data(self, session_id: int) -> None:
        """Delete the session's readings, reset its stored count and mark it unavailable."""
        require_int("session_id", session_id)
        with self._core() as conn:
            conn.execute(delete(Reading).where(Reading.session_id == session_id))
            conn.execute(update(Session).where(Session.ref_id == session_id).values(downloaded_messages=0))
            refresh_availability(conn, session_id)

    def delete_session(self, session_id: int) -> None:
        """Delete the session's readings and its row (mirror it on the server, or it comes back)."""
        require_int("session_id", session_id)
        with self._core() as conn:
            conn.execute(delete(Reading).where(Reading.session_id == session_id))
            conn.execute(delete(Session).where(Session.ref_id == session_id))

    # -- config, fixtures, notifications --------------------------------

    def get_config(self, key: str) -> Config | None:
        """The config row for `key`, or None."""
        if not isinstance(key, str):
            raise ValueError(f"key: expected a string, got {key!r}")
        with self._orm() as session:
            return session.scalars(select(Config).where(Config.key == key)).one_or_none()

    def set_config(self, key: str, value: str | int | float, do_update: bool = True) -> Config:
        """Store `value` (as text) under `key`; an existing key changes only when `do_update`."""
        if not isinstance(key, str) or not key.strip():
            raise ValueError(f"key: expected a non-empty string, got {key!r}")
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValueError(f"value for {key!r}: expected a string or number, got {value!r}")
        with self._core() as conn:
            write_config(conn, key, str(value), do_update)
        stored = self.get_config(key)
        if stored is None:  # only if another client deleted it in between
            raise StorageError(f"config {key!r} vanished right after being written")
        return stored

    def load_fixtures(self, testing: bool = False) -> None:
        """Load the default config from `blitz.fixtures`, and with `testing` the sample data too."""
        with self._core() as conn:
            client_fixtures.load_fixtures(conn, testing=testing)

    def log_error(self, description: str, severity: int = 1) -> Notification:
        """Record an error for the user and return the stored Notification."""
        if not isinstance(description, str) or not description.strip():
            raise ValueError(f"description: expected a non-empty string, got {description!r}")
        notification = Notification(
            time_logged=self._now_ms(),
            severity=require_int("severity", severity, minimum=0),
            description=description,
        )
        return self.add(notification)

    def handle_error(self, err_id: int) -> bool:
        """Remove notification `err_id`; return whether it existed."""
        require_int("err_id", err_id)
        with self._core() as conn:
            return conn.execute(delete(Notification).where(Notification.id == err_id)).rowcount == 1

    def clear_errors(self) -> int:
        """Remove every notification; return how many went."""
        with self._core() as conn:
            return conn.execute(delete(Notification)).rowcount
