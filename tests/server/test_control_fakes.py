"""Test doubles for the control protocol: an in-memory Logger and a connection harness.

`FakeLogger` implements blitz.server.interfaces.Logger with the semantics
docs/protocol.md describes (session numbers 1, 2, 3... never reused, sessions
newest first, DELETE of the running session refused, ...), so protocol tests
run without Redis or boards.  The tests at the bottom pin those semantics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator

import pytest
from twisted.internet import task
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.testing import StringTransport

from blitz.server.control_protocol import ControlFactory, ControlProtocol
from blitz.server.interfaces import (
    AlreadyLogging, BoardCommandError, BoardStatus, CommandDisabled, LiveBatch,
    LiveListener, NoSuchBoard, NoSuchSession, Notification, NotificationListener,
    NotLogging, SessionRunning, SessionSummary, StatusReport, StorageUnavailable,
)


@dataclass
class FakeSession:
    id: int
    start_ms: int
    end_ms: int | None
    lines: list[bytes]


@dataclass
class FakeBoard:
    status: BoardStatus
    answer: Callable[[str], list[str]]  # raises BoardCommandError to refuse


class FakeLogger:
    """An in-memory Logger; `hold = True` makes Deferred methods wait for `release()`."""

    def __init__(self, *, allow_delete: bool = True, allow_reset: bool = True) -> None:
        self.allow_delete = allow_delete
        self.allow_reset = allow_reset
        self.hold = False
        self.held: list[tuple[Deferred[Any], Callable[[], Any]]] = []
        self.storage_down = False
        self.calls: list[tuple[Any, ...]] = []
        self.reads: list[tuple[int, int, int]] = []
        self.sessions_by_id: dict[int, FakeSession] = {}
        self.boards_by_id: dict[int, FakeBoard] = {}
        self.notes: list[Notification] = []
        self.live_listeners: list[tuple[LiveListener, NotificationListener | None]] = []
        self.time_ms = 1_700_000_000_000
        self._last_id = 0
        self._running: int = -1

    # -- helpers for tests -------------------------------------------------

    def add_board(self, board_id: int, answer: Callable[[str], list[str]] | None = None,
                  state: str = "ok", port: str = "/dev/ttyACM0") -> None:
        status = BoardStatus(id=board_id, port=port, state=state,
                             description=f"Board {board_id:02x}")
        self.boards_by_id[board_id] = FakeBoard(status, answer or (lambda line: [f"{board_id:02x}40"]))

    def add_session(self, lines: list[bytes], running: bool = False) -> int:
        self._last_id += 1
        self.sessions_by_id[self._last_id] = FakeSession(
            self._last_id, self.time_ms, None if running else self.time_ms + 1000, list(lines))
        if running:
            self._running = self._last_id
        return self._last_id

    def append(self, lines: list[str], board_id: int | None = 8) -> None:
        """Log lines into the running session and tell LIVE subscribers."""
        session = self.sessions_by_id[self._running]
        session.lines.extend(line.encode("ascii") for line in lines)
        batch = LiveBatch(session_id=self._running, lines=tuple(lines), board_id=board_id)
        for live, _ in list(self.live_listeners):
            live(batch)

    def notify(self, text: str, severity: int = 2) -> Notification:
        note = Notification(time_ms=self.time_ms, severity=severity, text=text)
        self.notes.append(note)
        for _, notes in list(self.live_listeners):
            if notes is not None:
                notes(note)
        return note

    def release(self) -> None:
        """Fire the oldest held Deferred with its result (or failure)."""
        deferred, outcome = self.held.pop(0)
        try:
            value = outcome()
        except Exception as error:
            deferred.errback(error)
        else:
            deferred.callback(value)

    def _deferred(self, outcome: Callable[[], Any]) -> Deferred[Any]:
        if self.hold:
            deferred: Deferred[Any] = Deferred()
            self.held.append((deferred, outcome))
            return deferred
        try:
            return succeed(outcome())
        except Exception as error:
            return fail(error)

    def _storage(self) -> None:
        if self.storage_down:
            raise StorageUnavailable("connection refused")

    # -- the Logger interface -----------------------------------------------

    @property
    def session_id(self) -> int:
        return self._running

    def start(self) -> Deferred[int]:
        self.calls.append(("start",))

        def outcome() -> int:
            if self._running >= 0:
                raise AlreadyLogging(self._running)
            return self.add_session([], running=True)

        return self._deferred(outcome)

    def stop(self) -> Deferred[int]:
        self.calls.append(("stop",))

        def outcome() -> int:
            if self._running < 0:
                raise NotLogging("no session is running")
            stopped, self._running = self._running, -1
            self.sessions_by_id[stopped].end_ms = self.time_ms + 5000
            return stopped

        return self._deferred(outcome)

    def latest_lines(self) -> list[str]:
        self.calls.append(("latest_lines",))
        if self._running < 0:
            raise NotLogging("no session is running")
        lines = self.sessions_by_id[self._running].lines
        return [lines[-1].decode("ascii")] if lines else []

    def sessions(self) -> list[SessionSummary]:
        self.calls.append(("sessions",))
        self._storage()
        return [SessionSummary(s.id, s.start_ms, s.end_ms, len(s.lines))
                for s in sorted(self.sessions_by_id.values(), key=lambda s: -s.id)]

    def read_session(self, session_id: int, offset: int, count: int) -> list[bytes]:
        self.reads.append((session_id, offset, count))
        self._storage()
        if session_id not in self.sessions_by_id:
            raise NoSuchSession(session_id)
        return self.sessions_by_id[session_id].lines[offset:offset + count]

    def delete_session(self, session_id: int) -> None:
        self.calls.append(("delete_session", session_id))
        if not self.allow_delete:
            raise CommandDisabled("DELETE is disabled")
        if session_id not in self.sessions_by_id:
            raise NoSuchSession(session_id)
        if session_id == self._running:
            raise SessionRunning(f"session {session_id} is running")
        del self.sessions_by_id[session_id]

    def reset(self) -> Deferred[None]:
        self.calls.append(("reset",))

        def outcome() -> None:
            if not self.allow_reset:
                raise CommandDisabled("RESET is disabled")
            self._running = -1
            self.sessions_by_id.clear()

        return self._deferred(outcome)

    def boards(self) -> list[BoardStatus]:
        self.calls.append(("boards",))
        return [board.status for _, board in sorted(self.boards_by_id.items())]

    def board_command(self, board_id: int, line: str) -> Deferred[list[str]]:
        self.calls.append(("board_command", board_id, line))

        def outcome() -> list[str]:
            if board_id not in self.boards_by_id:
                raise NoSuchBoard(board_id)
            return self.boards_by_id[board_id].answer(line)

        return self._deferred(outcome)

    def status(self) -> StatusReport:
        self.calls.append(("status",))
        running = self._running >= 0
        return StatusReport(
            logging=running, session=self._running, uptime_s=12.5,
            redis={"ok": not self.storage_down, "url": "redis://fake", "buffered": 0, "dropped": 0},
            boards=[board.status for board in self.boards_by_id.values()],
            session_messages=len(self.sessions_by_id[self._running].lines) if running else 0,
            notifications=len(self.notes))

    def notifications(self) -> list[Notification]:
        self.calls.append(("notifications",))
        return list(self.notes)

    def subscribe(self, live: LiveListener,
                  notes: NotificationListener | None = None) -> Callable[[], None]:
        self.calls.append(("subscribe",))
        entry = (live, notes)
        self.live_listeners.append(entry)

        def unsubscribe() -> None:
            if entry in self.live_listeners:
                self.live_listeners.remove(entry)

        return unsubscribe


@dataclass(frozen=True)
class FakeConfig:
    """The ServerConfig fields the control protocol reads."""

    host: str = "127.0.0.1"
    port: int = 0
    token: str | None = None
    allow_delete: bool = True
    allow_reset: bool = True
    tls_cert: str | None = None
    tls_key: str | None = None
    max_line_bytes: int = 4096


class Connection:
    """A ControlProtocol on a StringTransport, with a task.Clock."""

    def __init__(self, logger: FakeLogger | Any, config: FakeConfig | None = None,
                 transport: StringTransport | None = None, clock: task.Clock | None = None,
                 **options: Any) -> None:
        self.logger = logger
        self.clock = clock or task.Clock()
        self.factory = ControlFactory(logger, config or FakeConfig(), self.clock, **options)
        self.protocol: ControlProtocol = self.factory.buildProtocol(None)
        self.transport = transport or StringTransport()
        self.protocol.makeConnection(self.transport)
        self._read = 0

    def feed(self, data: bytes, chunk: int = 4096) -> None:
        """Deliver bytes to the protocol in pieces of `chunk` bytes."""
        for start in range(0, len(data), chunk):
            self.protocol.dataReceived(data[start:start + chunk])

    def send(self, *lines: str, chunk: int = 4096) -> list[str]:
        """Send command lines; return the reply lines written since the last call."""
        self.feed("".join(line + "\n" for line in lines).encode("utf-8"), chunk)
        return self.output()

    def output(self) -> list[str]:
        """Lines written since the last call (a partial last line stays unread)."""
        data = self.transport.value()
        end = data.rfind(b"\n") + 1
        new, self._read = data[self._read:end], max(self._read, end)
        return [line.decode("utf-8") for line in new.split(b"\n")[:-1]]


def reactor_turn(clock: task.Clock) -> int:
    """Run the calls due now, like one reactor iteration: calls they schedule wait a turn.

    (task.Clock.advance(0) would also run calls scheduled with delay 0 while
    advancing, hiding whether a producer really yields between chunks.)
    """
    due = [call for call in clock.getDelayedCalls() if call.getTime() <= clock.seconds()]
    for call in due:
        if call.active():
            clock.calls.remove(call)
            call.called = 1
            call.func(*call.args, **call.kw)
    return len(due)


class SlowTransport(StringTransport):
    """A consumer like a TCP transport: pauses its producer above `limit` unread bytes."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.consumed = 0
        self.paused = False
        self.max_unread = 0

    @property
    def unread(self) -> int:
        return len(self.value()) - self.consumed

    def write(self, data: bytes) -> None:
        super().write(data)
        self._after_write()

    def writeSequence(self, data: Any) -> None:
        super().writeSequence(data)
        self._after_write()

    def _after_write(self) -> None:
        self.max_unread = max(self.max_unread, self.unread)
        if self.unread > self.limit and not self.paused and self.producer is not None:
            self.paused = True
            self.producer.pauseProducing()

    def drain(self) -> None:
        """The client read everything; resume the producer like doWrite does."""
        self.consumed = len(self.value())
        if self.paused:
            self.paused = False
            self.producer.resumeProducing()


CHUNK_SIZES = range(1, 10)


def chunkings() -> Iterator[int]:
    """Chunk sizes 1-9 plus 'everything at once', as house style asks."""
    yield from CHUNK_SIZES
    yield 1 << 20


# -- the fake's own semantics ------------------------------------------------


def test_session_numbers_are_never_reused() -> None:
    logger = FakeLogger()
    first = logger.start().result
    assert logger.stop().result == first
    logger.delete_session(first)
    assert logger.start().result == first + 1


def test_held_deferreds_wait_for_release() -> None:
    logger = FakeLogger()
    logger.hold = True
    started = logger.start()
    assert not started.called
    logger.release()
    assert started.result == 1


def test_errors_follow_the_interface() -> None:
    logger = FakeLogger()
    with pytest.raises(NotLogging):
        logger.latest_lines()
    with pytest.raises(NoSuchSession):
        logger.read_session(4, 0, 10)
    session = logger.start().result
    with pytest.raises(SessionRunning):
        logger.delete_session(session)
    errors: list[Any] = []
    logger.board_command(9, "0981").addErrback(errors.append)

    def refuse(line: str) -> list[str]:
        raise BoardCommandError(8, "no answer")

    logger.add_board(8, answer=refuse)
    logger.board_command(8, "0885").addErrback(errors.append)
    assert [type(f.value) for f in errors] == [NoSuchBoard, BoardCommandError]
