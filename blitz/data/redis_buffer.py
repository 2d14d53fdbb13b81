"""The logger's Redis buffer of raw board lines, one list per session.

The server appends every line it reads to the running session; clients later
list, download and delete sessions.  Keeping raw lines (not decoded values)
makes the hot path one RPUSH and lets any client decode with its own boards.

Key layout (every key starts with `prefix`, default ``"blitz:"``)::

    <prefix>session            running session number, "-1" (or absent) when none
    <prefix>session_counter    last number handed out; survives flush()
    <prefix>sessions           sorted set of stored session numbers (score = number)
    <prefix>session_<N>        list of raw lines of session N, oldest first
    <prefix>session_<N>_start  start time of N, ms since the Unix epoch
    <prefix>session_<N>_end    end time of N in ms; absent while N runs

Decisions api.md leaves open:

- Starting a session while one runs raises `SessionStateError` naming the
  running one (the caller decides whether to stop it); so does deleting the
  running session.
- Session numbers are never reused: not after `delete_session`, and not after
  `flush`, which keeps ``session_counter`` so that a client still holding old
  downloads can never mistake a new session for an old one.
- `flush` while a session runs drops that session too; `session_id` becomes -1.
- Redis connection failures propagate as `redis.exceptions.RedisError` (the
  server's buffer catches and retries them); `StorageError` means Redis holds
  something unexpected or a session is in the wrong state.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, overload

from redis import ConnectionPool, Redis
from redis.client import Pipeline
from redis.backoff import NoBackoff
from redis.exceptions import RedisError, WatchError
from redis.retry import Retry

from blitz.errors import ConfigError, StorageError

logger = logging.getLogger(__name__)

Line = str | bytes
_T = TypeVar("_T")
_URL_SCHEMES = ("redis://", "rediss://", "unix://")
_GLOB_SPECIALS = re.compile(r"([*?\[\]\\])")
_SCAN_BATCH = 500


class SessionStateError(StorageError):
    """A session is running where none may run, e.g. START twice or DELETE of it."""

    def __init__(self, message: str, session_id: int) -> None:
        super().__init__(message)
        self.session_id = session_id


class SessionNotFound(StorageError):
    """Redis holds no session with this number."""

    def __init__(self, session_id: int, prefix: str) -> None:
        super().__init__(f"no session {session_id} in Redis (key prefix {prefix!r})")
        self.session_id = session_id


@dataclass(frozen=True)
class SessionInfo:
    """One stored session: number, start and end (ms epoch) and message count."""

    id: int
    start_ms: int
    end_ms: int | None
    count: int

    def __str__(self) -> str:
        """The wire form of api.md: ``"<id> <start ms> <end ms or None> <count>"``."""
        return f"{self.id} {self.start_ms} {self.end_ms} {self.count}"


class _Keys:
    """Builds this prefix's key names (see the module docstring)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.current = f"{prefix}session"
        self.counter = f"{prefix}session_counter"
        self.sessions = f"{prefix}sessions"
        self.scan_pattern = _GLOB_SPECIALS.sub(r"\\\1", prefix) + "session*"
        # Keys flush() may drop: everything above except the counter.
        self.flushable = re.compile(re.escape(prefix) + r"(?:session|sessions|session_\d+(?:_start|_end)?)")

    def lines(self, session_id: int) -> str:
        return f"{self.prefix}session_{session_id}"

    def start(self, session_id: int) -> str:
        return f"{self.prefix}session_{session_id}_start"

    def end(self, session_id: int) -> str:
        return f"{self.prefix}session_{session_id}_end"


def _text(value: Line) -> str:
    """A Redis value as str, whatever the client's decode_responses."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _to_int(value: Any, key: str) -> int | None:
    """Parse an integer stored at `key`; None when the key is absent."""
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise StorageError(f"Redis key {key!r} holds {value!r}, expected an integer") from None


def _check_range(offset: int, count: int) -> None:
    if offset < 0:
        raise ValueError(f"offset must be >= 0, got {offset}")
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")


class DatabaseServer:
    """Session bookkeeping and raw-line storage for one logger in Redis.

    Pass a ready client (`redis`, e.g. ``fakeredis.FakeRedis()`` in tests) or a
    ``redis://`` / ``unix://`` `url`; `clock` returns seconds since the epoch.
    """

    def __init__(
        self,
        redis: Redis | None = None,
        url: str | None = None,
        prefix: str = "blitz:",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if (redis is None) == (url is None):
            raise ConfigError("DatabaseServer needs exactly one of a redis client or a url, got "
                              f"{'both' if redis is not None else 'neither'}")
        if redis is None:
            assert url is not None
            if not url.startswith(_URL_SCHEMES):
                raise ConfigError(f"Redis url must start with redis://, rediss:// or unix://, got {url!r}")
            # One immediate retry replaces a connection Redis dropped; more would
            # stall the server's reactor while Redis is down.
            redis = Redis.from_url(url, socket_timeout=5.0, socket_connect_timeout=2.0,
                                   health_check_interval=30, retry=Retry(NoBackoff(), 1))
        self._owns_client = url is not None
        self._redis: Redis = redis
        self._decodes = bool(redis.connection_pool.connection_kwargs.get("decode_responses", False))
        self._raw_client: Redis | None = None if self._decodes else redis
        self._keys = _Keys(prefix)
        self._clock = clock
        self._session_id: int | None = None  # loaded from Redis on first use
        self._latest_seen: dict[int, int] = {}  # session -> length at the last get_latest call

    @property
    def prefix(self) -> str:
        """The string every key of this logger starts with."""
        return self._keys.prefix

    @property
    def session_id(self) -> int:
        """The running session's number, or -1; resumes a session left running."""
        if self._session_id is None:
            return self.resume()
        return self._session_id

    def resume(self) -> int:
        """Re-read the running session from Redis (after a crash or another writer)."""
        current = _to_int(self._redis.get(self._keys.current), self._keys.current)
        self._session_id = -1 if current is None else current
        return self._session_id

    def start_session(self) -> int:
        """Start a new session and return its number (1, 2, 3, ..., never reused).

        Raises SessionStateError when a session already runs.  The bookkeeping
        is one MULTI/EXEC, so a crash leaves either no new session or a running
        one that the next DatabaseServer resumes.
        """
        keys = self._keys
        now_ms = self._now_ms()

        def attempt(pipe: Pipeline) -> int:
            running = _to_int(pipe.get(keys.current), keys.current)
            if running is not None and running != -1:
                raise SessionStateError(f"session {running} is already running; stop it first", running)
            counter = _to_int(pipe.get(keys.counter), keys.counter) or 0
            newest = pipe.zrevrange(keys.sessions, 0, 0)
            highest = _to_int(newest[0], keys.sessions) if newest else 0
            new_id = max(counter, highest or 0) + 1
            pipe.multi()
            pipe.set(keys.counter, new_id)
            pipe.set(keys.current, new_id)
            pipe.set(keys.start(new_id), now_ms)
            pipe.delete(keys.end(new_id), keys.lines(new_id))
            pipe.zadd(keys.sessions, {str(new_id): new_id})
            return new_id

        new_id = self._transaction(attempt, keys.current, keys.counter, keys.sessions)
        self._session_id = new_id
        return new_id

    def stop_session(self) -> int | None:
        """Record the running session's end; returns its number, None if none ran."""
        keys = self._keys
        now_ms = self._now_ms()

        def attempt(pipe: Pipeline) -> int | None:
            running = _to_int(pipe.get(keys.current), keys.current)
            if running is None or running == -1:
                return None
            pipe.multi()
            pipe.set(keys.end(running), now_ms)
            pipe.set(keys.current, -1)
            return running

        stopped = self._transaction(attempt, keys.current)
        if stopped is None:
            logger.warning("stop_session: no session is running (key prefix %r)", keys.prefix)
        self._session_id = -1
        return stopped

    def delete_session(self, session_id: int) -> bool:
        """Delete a stored session and its lines; False when it did not exist.

        Raises SessionStateError for the running session.  Its number stays used.
        """
        keys = self._keys

        def attempt(pipe: Pipeline) -> bool:
            running = _to_int(pipe.get(keys.current), keys.current)
            if running == session_id:
                raise SessionStateError(f"session {session_id} is running; stop it before deleting it", session_id)
            existed = pipe.zscore(keys.sessions, str(session_id)) is not None
            pipe.multi()
            pipe.delete(keys.lines(session_id), keys.start(session_id), keys.end(session_id))
            pipe.zrem(keys.sessions, str(session_id))
            return existed

        existed = self._transaction(attempt, keys.current, keys.sessions)
        self._latest_seen.pop(session_id, None)
        return existed

    def flush(self) -> int:
        """Drop every session of this prefix (SCAN, never KEYS); returns keys deleted.

        Other prefixes' keys and this prefix's session counter survive.
        """
        deleted = 0
        batch: list[Line] = []
        for key in self._redis.scan_iter(match=self._keys.scan_pattern, count=_SCAN_BATCH):
            if self._keys.flushable.fullmatch(_text(key)):
                batch.append(key)
            if len(batch) >= _SCAN_BATCH:
                deleted += int(self._redis.delete(*batch))
                batch = []
        if batch:
            deleted += int(self._redis.delete(*batch))
        self._session_id = -1
        self._latest_seen.clear()
        return deleted

    def queue(self, message: Line) -> Line | None:
        """Append one line to the running session; None (and a warning) if none runs."""
        session_id = self.session_id
        if session_id == -1:
            logger.warning("no session is running; message %r was not stored", message)
            return None
        self._redis.rpush(self._keys.lines(session_id), message)
        return message

    def queue_many(self, messages: Sequence[Line], session_id: int | None = None) -> int | None:
        """Append many lines in one RPUSH; returns the session's new length.

        Goes to `session_id` or else the running session (None when none runs).
        The session is not checked for existence, to keep this one round trip.
        """
        target = self.session_id if session_id is None else session_id
        if target == -1:
            if messages:
                logger.warning("no session is running; %d messages were not stored", len(messages))
            return None
        key = self._keys.lines(target)
        if not messages:
            return int(self._redis.llen(key))
        return int(self._redis.rpush(key, *messages))

    def session_exists(self, session_id: int) -> bool:
        """Whether Redis holds session `session_id` (running or stopped)."""
        return self._redis.zscore(self._keys.sessions, str(session_id)) is not None

    def session_length(self, session_id: int) -> int:
        """Number of lines stored for the session (0 for an unknown one)."""
        return int(self._redis.llen(self._keys.lines(session_id)))

    def session_info(self, session_id: int) -> SessionInfo:
        """Number, start, end and count of one session (SessionNotFound if absent)."""
        infos = self._session_infos([session_id])
        if not infos:
            raise SessionNotFound(session_id, self._keys.prefix)
        return infos[0]

    def list_sessions(self) -> list[SessionInfo]:
        """Every stored session, newest first, read in two round trips."""
        return self._session_infos(self.available_sessions())

    def available_sessions(self) -> list[int]:
        """Stored session numbers, newest first."""
        members: list[Line] = self._redis.zrevrange(self._keys.sessions, 0, -1)  # type: ignore[assignment]
        return [int(member) for member in members]

    def build_client_session_list(self) -> list[str]:
        """Newest first, ``"<id> <start ms> <end ms or None> <count>"`` per session."""
        return [str(info) for info in self.list_sessions()]

    def get_all_from_session(self, session_id: int) -> list[str]:
        """Every line of the session, oldest first (use iter_session for big ones)."""
        return [_text(value) for value in self._redis.lrange(self._keys.lines(session_id), 0, -1)]

    def get_ten_from_session(self, session_id: int | None = None) -> list[str]:
        """The last ten lines of the running (or given) session, oldest first."""
        target = self.session_id if session_id is None else session_id
        if target == -1:
            return []
        return [_text(value) for value in self._redis.lrange(self._keys.lines(target), -10, -1)]

    def get_latest_from_session(self, session_id: int) -> str:
        """The newest line, or "" when nothing arrived since this instance last asked."""
        key = self._keys.lines(session_id)
        pipe = self._redis.pipeline(transaction=False)
        pipe.llen(key)
        pipe.lindex(key, -1)
        length, newest = pipe.execute()
        if length == 0 or newest is None or self._latest_seen.get(session_id) == length:
            return ""
        self._latest_seen[session_id] = int(length)
        return _text(newest)

    @overload
    def read_session(self, session_id: int, offset: int, count: int, raw: Literal[False] = False) -> list[str]: ...
    @overload
    def read_session(self, session_id: int, offset: int, count: int, raw: Literal[True]) -> list[bytes]: ...
    @overload
    def read_session(self, session_id: int, offset: int, count: int, raw: bool) -> list[str] | list[bytes]: ...

    def read_session(self, session_id: int, offset: int, count: int, raw: bool = False) -> list[str] | list[bytes]:
        """Up to `count` lines from position `offset`; bytes as stored when `raw`."""
        _check_range(offset, count)
        if count == 0:
            return []
        key = self._keys.lines(session_id)
        if raw:
            return [value if isinstance(value, bytes) else value.encode() for value in
                    self._raw().lrange(key, offset, offset + count - 1)]
        return [_text(value) for value in self._redis.lrange(key, offset, offset + count - 1)]

    @overload
    def iter_session(
        self, session_id: int, offset: int = 0, chunk_size: int = 5000, raw: Literal[False] = False
    ) -> Iterator[list[str]]: ...
    @overload
    def iter_session(
        self, session_id: int, offset: int = 0, chunk_size: int = 5000, *, raw: Literal[True]
    ) -> Iterator[list[bytes]]: ...
    @overload
    def iter_session(
        self, session_id: int, offset: int, chunk_size: int, raw: bool
    ) -> Iterator[list[str]] | Iterator[list[bytes]]: ...

    def iter_session(
        self, session_id: int, offset: int = 0, chunk_size: int = 5000, raw: bool = False
    ) -> Iterator[list[str]] | Iterator[list[bytes]]:
        """Yield the session's lines from `offset` in chunks of at most `chunk_size`.

        Only one chunk is in memory at a time; lines appended meanwhile are read too.
        """
        _check_range(offset, chunk_size)
        if chunk_size == 0:
            raise ValueError("chunk_size must be > 0, got 0")
        return self._iter_chunks(session_id, offset, chunk_size, raw)

    def _iter_chunks(self, session_id: int, offset: int, chunk_size: int, raw: bool) -> Iterator[Any]:
        while True:
            chunk = self.read_session(session_id, offset, chunk_size, raw)
            if not chunk:
                return
            yield chunk
            if len(chunk) < chunk_size:
                return
            offset += len(chunk)

    def ping(self) -> bool:
        """Whether Redis answers right now; never raises."""
        try:
            return bool(self._redis.ping())
        except RedisError:
            return False

    def close(self) -> None:
        """Release the connections this object opened itself (not a client passed in)."""
        if self._decodes and self._raw_client is not None:
            self._raw_client.close()
            self._raw_client = None
        if self._owns_client:
            self._redis.close()

    def _session_infos(self, session_ids: Sequence[int]) -> list[SessionInfo]:
        """Read start, end and count of each session in one pipeline; skip vanished ones."""
        if not session_ids:
            return []
        keys = self._keys
        pipe = self._redis.pipeline(transaction=False)
        for session_id in session_ids:
            pipe.get(keys.start(session_id))
            pipe.get(keys.end(session_id))
            pipe.llen(keys.lines(session_id))
        replies = pipe.execute()
        infos = []
        for index, session_id in enumerate(session_ids):
            start, end, count = replies[3 * index: 3 * index + 3]
            start_ms = _to_int(start, keys.start(session_id))
            if start_ms is None:  # deleted meanwhile, or never started
                continue
            infos.append(SessionInfo(session_id, start_ms, _to_int(end, keys.end(session_id)), int(count)))
        return infos

    def _transaction(self, attempt: Callable[[Pipeline], _T], *watched: str) -> _T:
        """Run `attempt` under WATCH of `watched` and EXEC it, retrying on conflicts.

        `attempt` reads in immediate mode, then calls ``pipe.multi()`` and queues
        writes; it may return without MULTI (nothing to write) or raise to abort.
        """
        with self._redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(*watched)  # type: ignore[no-untyped-call]
                    value = attempt(pipe)
                    pipe.execute()
                    return value
                except WatchError:
                    continue

    def _raw(self) -> Redis:
        """A client on the same server that returns bytes (built once, if needed)."""
        if self._raw_client is None:
            pool = self._redis.connection_pool
            kwargs = dict(pool.connection_kwargs, decode_responses=False)
            self._raw_client = Redis(connection_pool=ConnectionPool(connection_class=pool.connection_class, **kwargs))
        return self._raw_client

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)
