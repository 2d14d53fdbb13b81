"""The logging core: the `Logger` the control protocol drives.

It owns the session state machine (idle, starting, running, stopping), the
board links' bookkeeping (counters, newest line, lost/ok), the notifications
and the live subscribers.  Board I/O is done by `BoardLink`s, which report
here as their `LinkSink`; Redis writes go through the `RedisWriter` so the
reactor never waits on Redis for the hot path.  Reads (SESSIONS, DOWNLOAD)
are quick synchronous calls, refused at once while Redis is known to be down.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from redis.exceptions import RedisError
from twisted.internet.defer import Deferred, DeferredList, fail, inlineCallbacks, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

from blitz.boards import BUILTIN_BOARDS
from blitz.data.redis_buffer import DatabaseServer, SessionStateError
from blitz.errors import StorageError
from blitz.server.board_link import BoardLink
from blitz.server.board_protocol import BoardReplyError, PortLost, ReplyTimeout
from blitz.server.interfaces import (
    AlreadyLogging,
    BoardCommandError,
    BoardStatus,
    CommandDisabled,
    LiveBatch,
    LiveListener,
    NoSuchBoard,
    NoSuchSession,
    NotLogging,
    Notification,
    NotificationListener,
    SessionRunning,
    SessionSummary,
    StatusReport,
    StorageUnavailable,
)
from blitz.server.redis_writer import RedisWriter

log = logging.getLogger(__name__)

_DESCRIPTIONS = {board.id: board.description for board in BUILTIN_BOARDS}
_STATES = {"ok": "ok", "lost": "lost"}


@dataclass
class _Counters:
    messages: int = 0
    errors: int = 0


@dataclass(frozen=True)
class LoggerOptions:
    """Policy knobs of the Logger (from ServerConfig)."""

    allow_delete: bool = True
    allow_reset: bool = True
    stop_record_timeout_s: float = 10.0  # STOP waits this long for Redis to record the end
    max_notifications: int = 500
    repeat_note_s: float = 10.0  # the same kind of note at most this often per board
    redis_url: str = ""


class BlitzLogger:
    """Implements `blitz.server.interfaces.Logger` over board links and Redis."""

    def __init__(
        self,
        store: DatabaseServer,
        writer: RedisWriter,
        clock: IReactorTime,
        options: LoggerOptions = LoggerOptions(),
        wall_clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.writer = writer
        self.clock = clock
        self.options = options
        self.wall_clock = wall_clock
        self.monotonic = monotonic
        self.links: list[BoardLink] = []
        self.phase = "idle"  # idle, starting, running, stopping
        self.outside_session = 0  # data lines that arrived with no session running
        self._session_id = -1
        self._session_messages = 0
        self._by_id: dict[int, BoardLink] = {}
        self._counters: dict[int, _Counters] = {}
        self._latest: dict[int, str] = {}
        self._notes: deque[Notification] = deque(maxlen=options.max_notifications)
        self._live: list[LiveListener] = []
        self._note_listeners: list[NotificationListener] = []
        self._last_note: dict[tuple[Any, ...], float] = {}
        self._started = monotonic()
        self._session_started_s = self._started

    # -- setup ------------------------------------------------------------

    def add_link(self, link: BoardLink) -> None:
        """Track a port's link (its sink must be this logger)."""
        self.links.append(link)

    def resume(self) -> None:
        """Adopt a session Redis still marks running (the server crashed).

        Its count and clock go on from what Redis holds; boards that kept
        logging meanwhile are drained, not restarted (see `link_ready`).
        """
        try:
            session_id = self.store.resume()
            info = self.store.session_info(session_id) if session_id >= 0 else None
        except (RedisError, StorageError) as exc:
            self.notify(3, f"cannot read the running session from Redis: {exc}")
            return
        if session_id >= 0 and info is not None:
            self._session_id = session_id
            self.phase = "running"
            self._session_messages = info.count
            running_s = max(0.0, self.wall_clock() - info.start_ms / 1000)
            self._session_started_s = self.monotonic() - running_s
            self.notify(2, f"resuming session {session_id} ({info.count} lines stored), "
                           "left running by a previous server")

    # -- sessions -----------------------------------------------------------

    @property
    def session_id(self) -> int:
        """The running session's number, or -1."""
        return self._session_id

    def start(self) -> Deferred[int]:
        """Start a session in Redis, then START every ready board."""
        if self.phase != "idle":
            return fail(AlreadyLogging(self._session_id))
        self.phase = "starting"
        d = self.writer.call(self.store.start_session)
        d.addCallbacks(self._session_started, self._start_failed)
        return d

    def _session_started(self, session_id: int) -> Deferred[int]:
        self._session_id = session_id
        self.phase = "running"
        self._session_started_s = self.monotonic()
        self._session_messages = 0
        self._latest.clear()
        for counters in self._counters.values():
            counters.messages = 0
        for link in self.links:
            link.new_session()  # overwritten counts start again (not when a board is STARTed again)
        self.notify(1, f"session {session_id} started")
        ready = [link for link in self.links if link.ready]
        if not ready:
            self.notify(2, f"session {session_id} started with no board connected")
        d = DeferredList([link.start_logging() for link in ready], consumeErrors=True)
        return d.addCallback(lambda _: session_id)

    def _start_failed(self, failure: Failure) -> Failure:
        self.phase = "idle"
        error = failure.check(SessionStateError, StorageError)
        if error is SessionStateError:
            running = failure.value.session_id  # type: ignore[union-attr]
            self._session_id = running
            self.phase = "running"
            return Failure(AlreadyLogging(running))
        if error is StorageError:
            return Failure(StorageUnavailable(str(failure.value)))
        return failure

    @inlineCallbacks
    def stop(self) -> Any:
        """Drain and STOP every board, then record the session's end."""
        if self.phase != "running":
            raise NotLogging("no session is running")
        self.phase = "stopping"
        session_id = self._session_id
        try:
            ready = [link for link in self.links if link.ready]
            yield DeferredList([link.stop_logging() for link in ready], consumeErrors=True)
            recorded = self.writer.call(self.store.stop_session, when_down="queue")
            if not (yield self._within(recorded, self.options.stop_record_timeout_s)):
                self.notify(3, f"session {session_id} stopped; Redis will record its end when it is back")
        finally:
            self._session_id = -1
            self.phase = "idle"
        self.notify(1, f"session {session_id} stopped ({self._session_messages} messages)")
        return session_id

    def _within(self, d: Deferred[Any], timeout_s: float) -> Deferred[bool]:
        """Fire True when `d` fires in time, False otherwise (d goes on)."""
        result: Deferred[bool] = Deferred()
        timer = self.clock.callLater(timeout_s, lambda: result.called or result.callback(False))

        def done(outcome: Any) -> None:
            if timer.active():
                timer.cancel()
            if isinstance(outcome, Failure):
                self.notify(3, f"recording the session end failed: {outcome.getErrorMessage()}")
            if not result.called:
                result.callback(not isinstance(outcome, Failure))

        d.addBoth(done)
        return result

    def shutdown(self) -> Deferred[Any]:
        """End a running session cleanly (for SIGTERM / service stop)."""
        if self.phase == "running":
            return self.stop().addErrback(lambda f: f.trap(NotLogging))
        return succeed(None)

    def latest_lines(self) -> list[str]:
        """The newest line of each board in the running session."""
        if self.phase not in ("running", "stopping"):
            raise NotLogging("no session is running")
        return [self._latest[board_id] for board_id in sorted(self._latest)]

    def sessions(self) -> list[SessionSummary]:
        """Every session Redis holds, newest first."""
        infos = self._redis(self.store.list_sessions)
        return [SessionSummary(i.id, i.start_ms, i.end_ms, i.count) for i in infos]

    def read_session(self, session_id: int, offset: int, count: int) -> list[bytes]:
        """Up to `count` raw lines of a session from `offset`."""
        if not self._redis(lambda: self.store.session_exists(session_id)):
            raise NoSuchSession(session_id)
        lines: list[bytes] = self._redis(lambda: self.store.read_session(session_id, offset, count, raw=True))
        return lines

    def delete_session(self, session_id: int) -> None:
        """Delete a stored session; never the running one."""
        if not self.options.allow_delete:
            raise CommandDisabled("DELETE is disabled")
        if session_id == self._session_id:
            raise SessionRunning(f"session {session_id} is running")
        try:
            existed = self._redis(lambda: self.store.delete_session(session_id))
        except SessionStateError as exc:
            raise SessionRunning(f"session {session_id} is running") from exc
        if not existed:
            raise NoSuchSession(session_id)

    def reset(self) -> Deferred[None]:
        """Stop logging if running, then delete every stored session."""
        if not self.options.allow_reset:
            return fail(CommandDisabled("RESET is disabled"))
        stopped = self.stop() if self.phase == "running" else succeed(None)

        def delete_all(_: Any) -> Deferred[Any]:
            def run() -> int:
                ids = self.store.available_sessions()
                for session_id in ids:
                    self.store.delete_session(session_id)
                return len(ids)

            return self.writer.call(run).addCallbacks(self._reset_done, self._storage_failed)

        return stopped.addCallback(delete_all)

    def _reset_done(self, count: int) -> None:
        self.notify(2, f"reset: {count} sessions deleted")

    @staticmethod
    def _storage_failed(failure: Failure) -> Failure:
        if failure.check(StorageError, RedisError):
            return Failure(StorageUnavailable(failure.getErrorMessage()))
        return failure

    def _redis(self, call: Callable[[], Any]) -> Any:
        """Run a quick Redis read now, or fail fast when Redis is known to be down."""
        if not self.writer.ok:
            raise StorageUnavailable(f"Redis is unavailable: {self.writer.last_error}")
        try:
            return call()
        except RedisError as exc:
            raise StorageUnavailable(f"Redis is unavailable: {exc}") from exc

    # -- boards -------------------------------------------------------------

    def boards(self) -> list[BoardStatus]:
        """Every board seen since the server started, by id."""
        return [self._board_status(board_id, link) for board_id, link in sorted(self._by_id.items())]

    def _board_status(self, board_id: int, link: BoardLink) -> BoardStatus:
        counters = self._counters.setdefault(board_id, _Counters())
        state = _STATES.get(link.state, "unknown") if link.board_id == board_id else "lost"
        return BoardStatus(
            id=board_id,
            port=link.port,
            state=state,
            description=_DESCRIPTIONS.get(board_id, "unknown board"),
            messages=counters.messages,
            errors=counters.errors,
            overwritten=link.overwritten,
        )

    def board_command(self, board_id: int, line: str) -> Deferred[list[str]]:
        """Send one command line to a board between polls; fires with its replies."""
        link = self._by_id.get(board_id)
        if link is None or not link.ready or link.board_id != board_id:
            return fail(NoSuchBoard(board_id))
        try:
            d = link.command(line.strip().encode("ascii"))
        except (ValueError, UnicodeEncodeError) as exc:
            return fail(BoardCommandError(board_id, f"expected a hex command line: {exc}"))
        except PortLost:
            return fail(NoSuchBoard(board_id))

        def failed(failure: Failure) -> Failure:
            if failure.check(BoardReplyError):
                return Failure(BoardCommandError(board_id, failure.getErrorMessage()))
            if failure.check(ReplyTimeout):
                return Failure(BoardCommandError(board_id, "no reply"))
            if failure.check(PortLost):
                return Failure(NoSuchBoard(board_id))
            return failure

        return d.addErrback(failed)

    def poll(self) -> None:
        """Send TRANSMIT to every ready board not already busy (the poll timer)."""
        if self.phase != "running":
            return
        for link in self.links:
            if link.ready:
                link.poll()

    # -- LinkSink -----------------------------------------------------------

    def link_ready(self, link: BoardLink) -> None:
        """A board answered its handshake; START it if a session runs."""
        board_id = link.board_id
        assert board_id is not None
        other = self._by_id.get(board_id)
        if other is not None and other is not link and other.ready:
            self.notify(3, f"board {board_id:02x} answers on {other.port} and {link.port}; using {link.port}")
        self._by_id[board_id] = link
        self._counters.setdefault(board_id, _Counters())
        self.notify(1, f"board {board_id:02x} ({_DESCRIPTIONS.get(board_id, 'unknown board')}) ready on {link.port}")
        if self.phase == "running":
            # START would drop the lines a board still logging for this session
            # holds (after a server restart or a port hiccup): TRANSMIT first;
            # a board that is not logging answers 66 and is STARTed then.
            link.poll()

    def link_lost(self, link: BoardLink, reason: str) -> None:
        """A board or its port went away; the link retries by itself."""
        who = f"board {link.board_id:02x}" if link.board_id is not None else "port"
        self.notify(3 if self.phase == "running" else 2, f"{who} lost: {reason}")

    def lines_received(self, link: BoardLink, lines: list[bytes]) -> None:
        """Append one poll's lines to the running session (the hot path)."""
        if self.phase not in ("running", "stopping"):
            self.outside_session += len(lines)
            self._limited(("outside", link.port), 2, f"{len(lines)} lines from {link.port} arrived with no "
                          f"session running and were not stored ({self.outside_session} so far)")
            return
        text = b"\n".join(lines).decode("ascii").split("\n")
        self._append(link.board_id if link.board_id is not None else -1, text)

    def external_line(self, board_id: int, line: str) -> None:
        """A line from a bridge that is no serial board (the NetScanner)."""
        if self.phase not in ("running", "stopping"):
            self.outside_session += 1
            return
        self._append(board_id, [line])

    def session_ms(self) -> int | None:
        """Milliseconds since the running session started (server clock), or None."""
        if self.phase not in ("running", "stopping"):
            return None
        return int((self.monotonic() - self._session_started_s) * 1000)

    def _append(self, board_id: int, text: list[str]) -> None:
        session_id = self._session_id
        self.writer.submit(session_id, text)
        counters = self._counters.setdefault(board_id, _Counters())
        counters.messages += len(text)
        self._session_messages += len(text)
        self._latest[board_id] = text[-1]
        if self._live:
            self._emit(self._live, LiveBatch(session_id, tuple(text), board_id, self.monotonic()))

    def link_problem(self, link: BoardLink, severity: int, text: str, errors: int = 1) -> None:
        """Count an error against the board and tell the user (rate limited)."""
        if link.board_id is not None:
            self._counters.setdefault(link.board_id, _Counters()).errors += errors
        who = f"board {link.board_id:02x}" if link.board_id is not None else link.port
        self._limited(("problem", link.port, text[:20]), severity, f"{who}: {text}")

    def link_not_logging(self, link: BoardLink) -> None:
        """TRANSMIT got 66: the board forgot it was logging (it reset); START it again."""
        who = f"board {link.board_id:02x}" if link.board_id is not None else link.port
        # Rate limited: a board that never obeys START answers 66 to every poll.
        self._limited(("not logging", link.port), 2,
                      f"{who} answered TRANSMIT with 66 (not logging): it lost its state, sending START again")
        if self.phase == "running":
            link.start_logging()

    # -- status and notifications ---------------------------------------------

    def status(self) -> StatusReport:
        """The server's state for STATUS."""
        redis = {"ok": self.writer.ok, "url": self.options.redis_url, "buffered": self.writer.buffered,
                 "dropped": self.writer.dropped, "lost_in_redis": self.writer.lost_in_redis}
        return StatusReport(
            logging=self.phase in ("running", "stopping"),
            session=self._session_id,
            uptime_s=round(self.monotonic() - self._started, 3),
            redis=redis,
            boards=self.boards(),
            session_messages=self._session_messages,
            notifications=len(self._notes),
        )

    def notifications(self) -> list[Notification]:
        """Recent notifications, oldest first."""
        return list(self._notes)

    def notify(self, severity: int, text: str) -> None:
        """Record a notification, log it and push it to listeners."""
        note = Notification(int(self.wall_clock() * 1000), severity, text)
        self._notes.append(note)
        log.log({1: logging.INFO, 2: logging.WARNING}.get(severity, logging.ERROR), "%s", text)
        self._emit(self._note_listeners, note)

    def _limited(self, key: tuple[Any, ...], severity: int, text: str) -> None:
        now = self.clock.seconds()
        if now - self._last_note.get(key, -1e18) >= self.options.repeat_note_s:
            self._last_note[key] = now
            self.notify(severity, text)

    def subscribe(self, live: LiveListener, notes: NotificationListener | None = None) -> Callable[[], None]:
        """Call `live` with every batch appended to the running session."""
        self._live.append(live)
        if notes is not None:
            self._note_listeners.append(notes)

        def unsubscribe() -> None:
            if live in self._live:
                self._live.remove(live)
            if notes is not None and notes in self._note_listeners:
                self._note_listeners.remove(notes)

        return unsubscribe

    @staticmethod
    def _emit(listeners: Iterable[Callable[[Any], None]], item: Any) -> None:
        for listener in list(listeners):
            try:
                listener(item)
            except Exception:  # a broken client must not stop the logging path
                log.exception("listener %r failed", listener)
