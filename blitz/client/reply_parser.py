"""Pure parsing of control-protocol lines into replies, pushes and typed results.

Both clients (Twisted and blocking) feed received lines to a `ReplyAssembler`
and turn finished `Reply`s into results with the `to_*` functions, so the
rules of docs/protocol.md live in this one module.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union

from blitz.client.errors import (
    AuthError,
    BadReply,
    BoardErrorReply,
    ClientError,
    NoBoard,
    NoSession,
    Refused,
    ServerError,
    UnknownSession,
)

TERMINAL_WORDS = frozenset({"ACK", "NACK", "INSESSION", "NOSESSION", "NOBOARD", "BOARDERROR", "ERROR"})
SEVERITY_WORDS = {"info": 1, "warning": 2, "warn": 2, "error": 3, "critical": 3}


@dataclass(frozen=True)
class Reply:
    """One complete answer: its data lines (without `+`) and the terminal line."""

    command: str
    status: str
    text: str
    data: tuple[str, ...] = ()


@dataclass(frozen=True)
class LivePush:
    """`!LIVE <session> <line>`: a new line of the running session."""

    session_id: int
    line: str


@dataclass(frozen=True)
class NoteInfo:
    """A server notification (NOTIFICATIONS data line or `!NOTE` push)."""

    time_ms: int
    severity: int
    text: str


@dataclass(frozen=True)
class OtherPush:
    """A push line of a kind this client does not know (kept, not an error)."""

    kind: str
    text: str


Push = Union[LivePush, NoteInfo, OtherPush]


@dataclass(frozen=True)
class SessionInfo:
    """One SESSIONS row; `end_ms` is None while the session runs."""

    id: int
    start_ms: int
    end_ms: Optional[int]
    messages: int


@dataclass(frozen=True)
class BoardInfo:
    """One BOARDS row; `state` is `ok`, `lost` or `unknown`."""

    id: int
    state: str
    port: str
    description: str


@dataclass(frozen=True)
class StartResult:
    """START's answer: the running session and whether this call started it."""

    session_id: int
    new: bool


@dataclass(frozen=True)
class DownloadResult:
    """DOWNLOAD's final ACK: messages sent and the offset to continue from."""

    sent: int
    next_offset: int


def describe_command(command: str) -> str:
    """The command as shown in error messages, never revealing a token."""
    words = command.split()
    if not words:
        return "(empty command)"
    if words[0].upper() == "AUTH":
        return "AUTH"
    return " ".join([words[0].upper(), *words[1:]])


def split_terminal(line: str) -> tuple[str, str]:
    """Split a terminal line into (status word, rest); BadReply if unknown."""
    word, _, rest = line.partition(" ")
    status = word.upper()
    if status not in TERMINAL_WORDS:
        raise BadReply(f"expected a reply line (ACK, NACK, ERROR ...), got {line[:80]!r}")
    return status, rest.strip()


def _int(text: str, what: str, line: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise BadReply(f"expected {what} to be an integer, got {text!r} in {line[:80]!r}") from None


def error_for(reply: Reply) -> ClientError:
    """The exception that a non-success terminal line stands for."""
    command = describe_command(reply.command)
    if reply.status == "ERROR":
        code_text, _, reason = reply.text.partition(" ")
        code = _int(code_text, "the error code", f"ERROR {reply.text}")
        kind = {401: AuthError, 404: UnknownSession}.get(code, ServerError)
        return kind(command, code, reason or "no reason given")
    if reply.status == "NACK":
        return Refused(command, reply.text or "no reason given")
    if reply.status == "NOSESSION":
        return NoSession(command)
    if reply.status == "NOBOARD":
        return NoBoard(command, reply.text)
    if reply.status == "BOARDERROR":
        board_id, _, reason = reply.text.partition(" ")
        return BoardErrorReply(command, board_id, reason or "no reason given")
    if reply.status == "INSESSION":
        return Refused(command, f"session {reply.text} is running")
    return BadReply(f"{command}: unexpected reply {reply.status} {reply.text}".rstrip())


def expect(reply: Reply, *allowed: str) -> Reply:
    """Return `reply` if its status is allowed (ACK by default), else raise."""
    if reply.status in (allowed or ("ACK",)):
        return reply
    raise error_for(reply)


def parse_push(text: str) -> Push:
    """Parse a push line without its leading `!`."""
    kind, _, rest = text.partition(" ")
    kind = kind.upper()
    if kind == "LIVE":
        session_text, _, line = rest.partition(" ")
        return LivePush(_int(session_text, "the session id", text), line.strip())
    if kind == "NOTE":
        return parse_note(rest)
    return OtherPush(kind, rest)


def parse_note(text: str) -> NoteInfo:
    """Parse `<ms epoch> <severity> <text>` (severity as a number or a word)."""
    parts = text.split(" ", 2)
    if len(parts) < 2:
        raise BadReply(f"expected '<ms> <severity> <text>', got {text[:80]!r}")
    severity_text = parts[1]
    if severity_text.lower() in SEVERITY_WORDS:
        severity = SEVERITY_WORDS[severity_text.lower()]
    else:
        severity = _int(severity_text, "the severity", text)
    return NoteInfo(_int(parts[0], "the time", text), severity, parts[2] if len(parts) > 2 else "")


class ReplyAssembler:
    """Match received lines to the commands sent, which are answered in order.

    Data lines go to the oldest pending command (its `on_data` callback, or
    collected into the Reply); push lines go to `on_push` at once.
    """

    def __init__(self, on_push: Callable[[Push], None]) -> None:
        self._on_push = on_push
        self._pending: deque[tuple[str, Optional[Callable[[str], None]], list[str]]] = deque()

    def expect(self, command: str, on_data: Optional[Callable[[str], None]] = None) -> None:
        """Register a sent command; its reply is the next one not yet claimed."""
        self._pending.append((command, on_data, []))

    @property
    def pending(self) -> int:
        """How many sent commands still wait for their terminal line."""
        return len(self._pending)

    def clear(self) -> list[str]:
        """Forget every pending command (connection lost); returns them."""
        commands = [command for command, _, _ in self._pending]
        self._pending.clear()
        return commands

    def feed(self, line: str) -> Optional[Reply]:
        """Take one received line; returns the Reply it completes, if any."""
        if line.endswith("\r"):
            line = line[:-1]
        first = line[:1]
        if first == "!":
            self._on_push(parse_push(line[1:]))
            return None
        if not self._pending:
            raise BadReply(f"expected no reply (no command pending), got {line[:80]!r}")
        command, on_data, data = self._pending[0]
        if first == "+":
            if on_data is not None:
                on_data(line[1:])
            else:
                data.append(line[1:])
            return None
        status, text = split_terminal(line)
        self._pending.popleft()
        return Reply(command, status, text, tuple(data))


# -- typed results of each command ------------------------------------------------


def to_pong(reply: Reply) -> str:
    """PING: the ACK text (`PONG`)."""
    return expect(reply).text


def to_logging(reply: Reply) -> Optional[int]:
    """LOGGING: the running session's number, or None."""
    expect(reply, "INSESSION", "NOSESSION")
    if reply.status == "NOSESSION":
        return None
    return _int(reply.text, "the session id", f"INSESSION {reply.text}")


def to_start(reply: Reply) -> StartResult:
    """START: the session now running, and whether this START created it."""
    expect(reply, "ACK", "INSESSION")
    return StartResult(_int(reply.text, "the session id", f"{reply.status} {reply.text}"), reply.status == "ACK")


def to_session_id(reply: Reply) -> int:
    """STOP (and other `ACK <id>` replies): the session number."""
    expect(reply)
    return _int(reply.text.split(" ")[0], "the session id", f"ACK {reply.text}")


def to_lines(reply: Reply) -> list[str]:
    """UPDATE, BOARD, HELP: the data lines."""
    return list(expect(reply).data)


def to_none(reply: Reply) -> None:
    """Commands whose only answer is ACK (DELETE, RESET, LIVE, AUTH)."""
    expect(reply)


def parse_session(line: str) -> SessionInfo:
    """One SESSIONS data line: `<id> <start ms> <end ms or None> <messages>`."""
    parts = line.split()
    if len(parts) != 4:
        raise BadReply(f"expected '<id> <start> <end> <messages>', got {line[:80]!r}")
    end = None if parts[2] in ("None", "-", "") else _int(parts[2], "the end time", line)
    return SessionInfo(
        _int(parts[0], "the session id", line),
        _int(parts[1], "the start time", line),
        end,
        _int(parts[3], "the message count", line),
    )


def to_sessions(reply: Reply) -> list[SessionInfo]:
    """SESSIONS: every session, newest first."""
    return [parse_session(line) for line in expect(reply).data]


def to_download(reply: Reply) -> DownloadResult:
    """DOWNLOAD's terminal line: `ACK <sent> <next offset>`."""
    expect(reply)
    parts = reply.text.split()
    if len(parts) != 2:
        raise BadReply(f"expected 'ACK <sent> <next offset>', got {('ACK ' + reply.text)[:80]!r}")
    return DownloadResult(_int(parts[0], "the sent count", reply.text), _int(parts[1], "the offset", reply.text))


def parse_board(line: str) -> BoardInfo:
    """One BOARDS data line: `<id hex> <state> <port> <description>`."""
    parts = line.split(None, 3)
    if len(parts) < 3:
        raise BadReply(f"expected '<id> <state> <port> <description>', got {line[:80]!r}")
    try:
        board_id = int(parts[0], 16)
    except ValueError:
        raise BadReply(f"expected a hex board id, got {parts[0]!r} in {line[:80]!r}") from None
    return BoardInfo(board_id, parts[1], parts[2], parts[3] if len(parts) > 3 else "")


def to_boards(reply: Reply) -> list[BoardInfo]:
    """BOARDS: every board the server knows."""
    return [parse_board(line) for line in expect(reply).data]


def to_status(reply: Reply) -> dict[str, Any]:
    """STATUS: the JSON object of its data line."""
    expect(reply)
    if len(reply.data) != 1:
        raise BadReply(f"STATUS: expected one data line, got {len(reply.data)}")
    try:
        value = json.loads(reply.data[0])
    except ValueError as exc:
        raise BadReply(f"STATUS: expected a JSON object, got {reply.data[0][:80]!r} ({exc})") from None
    if not isinstance(value, dict):
        raise BadReply(f"STATUS: expected a JSON object, got {type(value).__name__}")
    return value


def to_notifications(reply: Reply) -> list[NoteInfo]:
    """NOTIFICATIONS: recent notifications, oldest first."""
    return [parse_note(line) for line in expect(reply).data]


@dataclass
class PushBuffer:
    """A simple push sink that keeps pushes in arrival order (bounded)."""

    limit: int = 1_000_000
    items: deque[Push] = field(default_factory=deque)
    dropped: int = 0

    def __call__(self, push: Push) -> None:
        if len(self.items) >= self.limit:
            self.items.popleft()
            self.dropped += 1
        self.items.append(push)

    def take(self) -> list[Push]:
        """Remove and return every buffered push."""
        items = list(self.items)
        self.items.clear()
        return items


__all__ = [
    "BoardInfo",
    "DownloadResult",
    "LivePush",
    "NoteInfo",
    "OtherPush",
    "Push",
    "PushBuffer",
    "Reply",
    "ReplyAssembler",
    "SessionInfo",
    "StartResult",
    "describe_command",
    "error_for",
    "expect",
    "parse_board",
    "parse_note",
    "parse_push",
    "parse_session",
    "split_terminal",
    "to_boards",
    "to_download",
    "to_lines",
    "to_logging",
    "to_none",
    "to_notifications",
    "to_pong",
    "to_session_id",
    "to_sessions",
    "to_start",
    "to_status",
]
