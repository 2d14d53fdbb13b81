"""The contract between the logging core and the control protocol.

The control protocol (TCP side) only ever talks to a `Logger`; the serial side
implements it.  Keeping the contract in one small module lets each side be
built and tested alone (the protocol against a fake Logger, the core without
any socket).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from twisted.internet.defer import Deferred

from blitz.errors import BlitzError


class AlreadyLogging(BlitzError):
    """START while a session runs; `session_id` is the running one."""

    def __init__(self, session_id: int) -> None:
        super().__init__(f"session {session_id} is running")
        self.session_id = session_id


class NotLogging(BlitzError):
    """STOP or UPDATE while no session runs."""


class NoSuchSession(BlitzError):
    """A session number that Redis does not hold."""

    def __init__(self, session_id: int) -> None:
        super().__init__(f"no session {session_id}")
        self.session_id = session_id


class SessionRunning(BlitzError):
    """DELETE of the session that is running."""


class NoSuchBoard(BlitzError):
    """BOARD for an id no connected board has."""

    def __init__(self, board_id: int) -> None:
        super().__init__(f"no board {board_id:02x}")
        self.board_id = board_id


class BoardCommandError(BlitzError):
    """The board answered a command with an error code, or not at all."""

    def __init__(self, board_id: int, reason: str) -> None:
        super().__init__(f"board {board_id:02x}: {reason}")
        self.board_id = board_id
        self.reason = reason


class CommandDisabled(BlitzError):
    """DELETE or RESET turned off in the configuration."""


class StorageUnavailable(BlitzError):
    """Redis cannot be reached for a command that needs it now."""


@dataclass(frozen=True)
class BoardStatus:
    """What STATUS and BOARDS say about one board."""

    id: int
    port: str
    state: str  # "ok", "lost" or "unknown"
    description: str
    messages: int = 0  # data lines logged in the running (or last) session
    errors: int = 0  # error replies and bad lines
    overwritten: int = 0  # messages the board reported lost from its buffer


@dataclass(frozen=True)
class SessionSummary:
    """One row of SESSIONS."""

    id: int
    start_ms: int
    end_ms: int | None
    messages: int


@dataclass(frozen=True)
class Notification:
    """Something the user should be told (board lost, Redis down, bad lines)."""

    time_ms: int
    severity: int  # 1 info, 2 warning, 3 error
    text: str


@dataclass(frozen=True)
class LiveBatch:
    """Lines appended to the running session by one poll of one board."""

    session_id: int
    lines: tuple[str, ...]
    board_id: int | None = None
    received_s: float = 0.0  # monotonic time the server read them, for latency


@dataclass
class StatusReport:
    """The STATUS reply, serialised as one JSON object by the protocol."""

    logging: bool
    session: int
    uptime_s: float
    redis: dict[str, Any]
    boards: list[BoardStatus] = field(default_factory=list)
    session_messages: int = 0
    notifications: int = 0


LiveListener = Callable[[LiveBatch], None]
NotificationListener = Callable[[Notification], None]


class Logger(Protocol):
    """What the control protocol needs from the logging core.

    Methods that touch boards return Deferreds; the rest answer at once.
    Every method raises only the BlitzError subclasses above for expected
    failures.
    """

    @property
    def session_id(self) -> int:
        """The running session's number, or -1."""

    def start(self) -> Deferred[int]:
        """Start a session on every board; fires with its number (AlreadyLogging)."""

    def stop(self) -> Deferred[int]:
        """Drain and stop the boards, record the end; fires with the number (NotLogging)."""

    def latest_lines(self) -> list[str]:
        """The newest line of each board in the running session (NotLogging)."""

    def sessions(self) -> list[SessionSummary]:
        """Every session Redis holds, newest first (StorageUnavailable)."""

    def read_session(self, session_id: int, offset: int, count: int) -> list[bytes]:
        """Up to `count` raw lines of a session from `offset` (NoSuchSession)."""

    def delete_session(self, session_id: int) -> None:
        """Delete a stored session (NoSuchSession, SessionRunning, CommandDisabled)."""

    def reset(self) -> Deferred[None]:
        """Stop logging if running and delete every session (CommandDisabled)."""

    def boards(self) -> list[BoardStatus]:
        """Every board seen since the server started."""

    def board_command(self, board_id: int, line: str) -> Deferred[list[str]]:
        """Send one command line to a board; fires with its reply lines.

        NoSuchBoard, BoardCommandError.
        """

    def status(self) -> StatusReport:
        """The server's state for STATUS."""

    def notifications(self) -> list[Notification]:
        """Recent notifications, oldest first."""

    def subscribe(self, live: LiveListener, notes: NotificationListener | None = None) -> Callable[[], None]:
        """Call `live` with every batch appended to the running session; returns unsubscribe."""
