"""The bounded, ordered buffer between the serial side and Redis.

The reactor thread only appends to an in-memory queue (`submit`, `call`); one
writer thread empties it into Redis, so a slow or absent Redis never stalls
the reactor.  Consecutive batches of one session are coalesced into one
`queue_many` (one RPUSH round trip); woken from idle, the writer first waits
`linger_s` (5 ms) so that every board's reply to one poll goes together.
While Redis is down the lines wait, up to `max_buffered_lines`; beyond that
each refused line is counted as dropped and reported.  Operations (`call`)
run in the same order as the lines, so a session's end is recorded only
after all of its lines.

Exactly once: the writer knows each session's length; when a write fails it
re-reads the length before retrying, so a write that landed but whose reply
was lost is not repeated, and a partial one is completed.  If Redis comes
back with fewer lines than were acknowledged (it restarted and lost the last
second of its append-only file), the shortfall is counted and reported.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from redis.exceptions import RedisError
from twisted.internet.defer import Deferred

from blitz.errors import StorageError

Notify = Callable[[int, str], None]


class LineStore(Protocol):
    """The part of `DatabaseServer` the writer uses."""

    def queue_many(self, messages: Any, session_id: int | None = None) -> int | None: ...

    def session_length(self, session_id: int) -> int: ...


@dataclass
class _Batch:
    session_id: int
    lines: list[str]


@dataclass
class _Call:
    function: Callable[[], Any]
    retry: bool = False  # on a Redis failure: wait for Redis (True) or fail now
    deferred: Deferred[Any] = field(default_factory=Deferred)


class RedisWriter:
    """Writes session lines and session operations to Redis from one thread."""

    def __init__(
        self,
        store: LineStore,
        call_from_thread: Callable[..., Any],
        notify: Notify,
        max_buffered_lines: int = 1_000_000,
        batch_lines: int = 20_000,
        retry_s: float = 0.5,
        linger_s: float = 0.005,
        sleep: Callable[[float], Any] = time.sleep,
    ) -> None:
        self.store = store
        self.call_from_thread = call_from_thread
        self.notify = notify
        self.max_buffered_lines = max_buffered_lines
        self.batch_lines = batch_lines
        self.retry_s = retry_s
        self.linger_s = linger_s
        self.sleep = sleep
        self.ok = True
        self.buffered = 0  # lines waiting in memory
        self.dropped = 0  # lines refused because the buffer was full
        self.written = 0  # lines Redis acknowledged
        self.lost_in_redis = 0  # acknowledged lines Redis no longer had
        self.last_error = ""
        self._queue: deque[_Batch | _Call] = deque()
        self._cond = threading.Condition()
        self._lengths: dict[int, int] = {}
        self._unsure = False  # the last write failed: check the length first
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._dropping = False

    # -- reactor side ---------------------------------------------------

    def submit(self, session_id: int, lines: list[str]) -> int:
        """Queue lines for a session; returns how many were accepted (rest dropped)."""
        with self._cond:
            room = self.max_buffered_lines - self.buffered
            accepted = lines if len(lines) <= room else lines[: max(room, 0)]
            refused = len(lines) - len(accepted)
            if accepted:
                self._queue.append(_Batch(session_id, accepted))
                self.buffered += len(accepted)
                self._cond.notify()
            if refused:
                self.dropped += refused
            first_drop = refused and not self._dropping
            self._dropping = bool(refused)
        if first_drop:
            self.notify(3, f"Redis buffer full ({self.max_buffered_lines} lines): dropping lines "
                           f"of session {session_id} ({self.dropped} dropped so far)")
        return len(accepted)

    def call(self, function: Callable[[], Any], when_down: str = "fail") -> Deferred[Any]:
        """Run `function()` in the writer thread, in order with the lines.

        The Deferred fires on the reactor thread.  With `when_down="fail"` it
        fails with StorageError when Redis is down (now or during the call);
        with `"queue"` the call waits until Redis is back.
        """
        item = _Call(function, retry=when_down == "queue")
        with self._cond:
            if not self.ok and when_down == "fail":
                item.deferred.errback(StorageError(f"Redis is unavailable: {self.last_error}"))
                return item.deferred
            self._queue.append(item)
            self._cond.notify()
        return item.deferred

    def status(self) -> dict[str, Any]:
        """What STATUS shows about Redis."""
        return {"ok": self.ok, "buffered": self.buffered, "dropped": self.dropped,
                "written": self.written, "lost_in_redis": self.lost_in_redis, "error": self.last_error}

    # -- thread ---------------------------------------------------------

    def start(self) -> None:
        """Start the writer thread."""
        if self._thread is not None:
            return
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="blitz-redis-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> bool:
        """Write what is queued (waiting up to `timeout_s` for Redis), then end the thread.

        Returns True when everything was written; False leaves the rest
        unwritten (reported) rather than hanging the shutdown.
        """
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._queue and time.monotonic() < deadline and self._thread is not None:
                self._cond.wait(0.05)
            self._stopping = True
            self._cond.notify_all()
            left = self.buffered
        if self._thread is not None:
            self._thread.join(max(0.1, deadline - time.monotonic() + 1.0))
            self._thread = None
        return left == 0

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
            if self.linger_s > 0 and self.buffered < self.batch_lines:
                # Let the other boards' replies to the same poll join: one wake-up and one RPUSH
                # per poll instead of one per board (the profile showed the wake-ups and redis-py's
                # per-call cost, not the lines, dominating the writer).
                time.sleep(self.linger_s)
            if not self.write_once():
                self.sleep(self.retry_s)

    def write_once(self) -> bool:
        """Write the head of the queue; False when Redis failed (nothing is lost)."""
        with self._cond:
            if not self._queue:
                return True
            head = self._queue[0]
            if isinstance(head, _Batch):
                batches = self._take_batches(head.session_id)
        try:
            if isinstance(head, _Call):
                result = head.function()
                self._done_call(head, result)
                return True
            lines: list[str] = []
            for batch in batches:
                lines.extend(batch.lines)  # a C-level copy per batch, not a Python step per line
            written = self._write(head.session_id, lines)
        except RedisError as exc:
            self._failed(exc)
            if isinstance(head, _Call) and not head.retry:
                self._done_call(head, StorageError(f"Redis is unavailable: {self.last_error}"), ok=False)
            return False
        except Exception as exc:  # a bug in an operation: hand it to its caller
            if isinstance(head, _Call):
                self._done_call(head, exc)
                return True
            raise
        self._succeeded()
        with self._cond:
            for _ in batches:
                self._queue.popleft()
            self.buffered -= len(lines)
            self.written += written
            self._cond.notify_all()
        return True

    def _take_batches(self, session_id: int) -> list[_Batch]:
        """Consecutive batches of one session at the head, up to `batch_lines` lines."""
        taken: list[_Batch] = []
        total = 0
        for item in self._queue:
            if not isinstance(item, _Batch) or item.session_id != session_id:
                break
            if taken and total + len(item.lines) > self.batch_lines:
                break
            taken.append(item)
            total += len(item.lines)
        return taken

    def _write(self, session_id: int, lines: list[str]) -> int:
        """Append `lines` exactly once; returns how many this call wrote."""
        known = self._lengths.get(session_id)
        if known is None or self._unsure:
            length = self.store.session_length(session_id)
            if known is not None:
                landed = length - known
                if 0 < landed <= len(lines):
                    lines = lines[landed:]  # the failed write (or part of it) landed
                elif landed < 0 or landed > len(lines):
                    self._report_mismatch(session_id, known, length)
            self._lengths[session_id] = length
            self._unsure = False
        if not lines:
            return 0
        self._unsure = True
        new_length = self.store.queue_many(lines, session_id=session_id)
        self._unsure = False
        expected = self._lengths[session_id] + len(lines)
        if new_length is not None and int(new_length) != expected:
            # Redis answered, but not from the length it acknowledged: it restarted behind a
            # connection the client re-made silently, and lost (or another writer added) lines.
            self._report_mismatch(session_id, self._lengths[session_id], int(new_length) - len(lines))
        self._lengths[session_id] = int(new_length) if new_length is not None else expected
        return len(lines)

    def _report_mismatch(self, session_id: int, known: int, length: int) -> None:
        if length < known:
            self.lost_in_redis += known - length
            text = (f"Redis holds {length} lines of session {session_id}, {known} were written: "
                    f"{known - length} lost by Redis (restart without fsync?)")
        else:
            text = f"session {session_id} grew by {length - known} lines from another writer"
        self.call_from_thread(self.notify, 3, text)

    def _failed(self, exc: Exception) -> None:
        self.last_error = str(exc) or type(exc).__name__
        if self.ok:
            self.ok = False
            self.call_from_thread(self.notify, 3, f"Redis unavailable, buffering lines: {self.last_error}")

    def _succeeded(self) -> None:
        if not self.ok:
            self.ok = True
            self.call_from_thread(self.notify, 1, f"Redis is back; {self.buffered} buffered lines being written")
        self._dropping = False

    def _done_call(self, item: _Call, result: Any, ok: bool = True) -> None:
        if ok:
            self._succeeded()
        with self._cond:
            self._queue.popleft()
            self._cond.notify_all()
        if isinstance(result, BaseException):
            self.call_from_thread(item.deferred.errback, result)
        else:
            self.call_from_thread(item.deferred.callback, result)
