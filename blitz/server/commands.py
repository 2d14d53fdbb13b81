"""Parse control-protocol command lines into typed commands.

Pure: no Twisted, no I/O.  `parse_command` turns one received line into one of
the frozen dataclasses below or raises `CommandSyntaxError`, whose text is the
reason sent back after `ERROR 400`.  docs/protocol.md is the contract.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar, Union

from blitz.errors import ProtocolError

#: Commands that work before `AUTH` on a server with a token.
PRE_AUTH_VERBS = frozenset({"AUTH", "PING", "HELP", "QUIT"})

#: One synopsis per command, in the order HELP lists them.
SYNOPSES: dict[str, str] = {
    "AUTH": "AUTH <token>",
    "PING": "PING",
    "LOGGING": "LOGGING",
    "START": "START",
    "STOP": "STOP",
    "UPDATE": "UPDATE",
    "SESSIONS": "SESSIONS",
    "DOWNLOAD": "DOWNLOAD <id> [<offset>]",
    "DELETE": "DELETE <id>",
    "BOARDS": "BOARDS",
    "BOARD": "BOARD <id> <hex>",
    "RESET": "RESET",
    "STATUS": "STATUS",
    "LIVE": "LIVE ON|OFF",
    "NOTIFICATIONS": "NOTIFICATIONS",
    "HELP": "HELP",
    "QUIT": "QUIT",
}

#: The firmware's receive buffer holds 27 characters plus the terminator (wire.md 3).
BOARD_LINE_MIN_CHARS = 4
BOARD_LINE_MAX_CHARS = 27

_SEPARATOR = re.compile(r"[ \t]+")
_DECIMAL = re.compile(r"[0-9]{1,18}")
_BOARD_ID = re.compile(r"[0-9A-Fa-f]{2}")
_HEX = re.compile(r"[0-9A-Fa-f]+")
_SHOWN_CHARS = 40


class CommandSyntaxError(ProtocolError, ValueError):
    """A line that is not a valid command; `verb` is set when the verb is known."""

    def __init__(self, message: str, verb: str | None = None) -> None:
        super().__init__(message)
        self.verb = verb


@dataclass(frozen=True)
class Command:
    """Base of every parsed command; `verb` names it in replies and logs."""

    verb: ClassVar[str] = ""


@dataclass(frozen=True)
class Auth(Command):
    verb: ClassVar[str] = "AUTH"
    token: str


@dataclass(frozen=True)
class Ping(Command):
    verb: ClassVar[str] = "PING"


@dataclass(frozen=True)
class Logging(Command):
    verb: ClassVar[str] = "LOGGING"


@dataclass(frozen=True)
class Start(Command):
    verb: ClassVar[str] = "START"


@dataclass(frozen=True)
class Stop(Command):
    verb: ClassVar[str] = "STOP"


@dataclass(frozen=True)
class Update(Command):
    verb: ClassVar[str] = "UPDATE"


@dataclass(frozen=True)
class Sessions(Command):
    verb: ClassVar[str] = "SESSIONS"


@dataclass(frozen=True)
class Download(Command):
    verb: ClassVar[str] = "DOWNLOAD"
    session_id: int
    offset: int = 0


@dataclass(frozen=True)
class Delete(Command):
    verb: ClassVar[str] = "DELETE"
    session_id: int


@dataclass(frozen=True)
class Boards(Command):
    verb: ClassVar[str] = "BOARDS"


@dataclass(frozen=True)
class Board(Command):
    verb: ClassVar[str] = "BOARD"
    board_id: int
    line: str


@dataclass(frozen=True)
class Reset(Command):
    verb: ClassVar[str] = "RESET"


@dataclass(frozen=True)
class Status(Command):
    verb: ClassVar[str] = "STATUS"


@dataclass(frozen=True)
class Live(Command):
    verb: ClassVar[str] = "LIVE"
    on: bool


@dataclass(frozen=True)
class Notifications(Command):
    verb: ClassVar[str] = "NOTIFICATIONS"


@dataclass(frozen=True)
class Help(Command):
    verb: ClassVar[str] = "HELP"


@dataclass(frozen=True)
class Quit(Command):
    verb: ClassVar[str] = "QUIT"


AnyCommand = Union[
    Auth, Ping, Logging, Start, Stop, Update, Sessions, Download, Delete,
    Boards, Board, Reset, Status, Live, Notifications, Help, Quit,
]

_NO_ARGUMENTS: dict[str, type[Command]] = {
    cls.verb: cls
    for cls in (Ping, Logging, Start, Stop, Update, Sessions, Boards, Reset,
                Status, Notifications, Help, Quit)
}


def show(text: str) -> str:
    """Quote client text for an error message: shortened, control characters escaped."""
    if len(text) > _SHOWN_CHARS:
        return repr(text[:_SHOWN_CHARS]) + "..."
    return repr(text)


def decode_line(line: bytes) -> str:
    """The text of a received line (trailing CR removed); CommandSyntaxError if not UTF-8."""
    if line.endswith(b"\r"):
        line = line[:-1]
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        raise CommandSyntaxError("line is not UTF-8 text") from None


def is_blank(line: bytes) -> bool:
    """Whether a received line holds nothing but spaces, tabs and a CR (ignored)."""
    return not line.strip(b" \t\r")


def parse_command(line: bytes) -> AnyCommand:
    """Parse one received line (without its LF) into a command."""
    text = decode_line(line).strip(" \t")
    if not text:
        raise CommandSyntaxError("empty command")
    head, _, rest = _SEPARATOR.sub(" ", text).partition(" ")
    verb = head.upper()
    if verb not in SYNOPSES:
        raise CommandSyntaxError(f"unknown command {show(head)}")
    if verb == "AUTH":
        # The token is the rest of the line, so a token may hold spaces.
        token = _SEPARATOR.split(text, maxsplit=1)[1] if rest else ""
        if not token:
            raise CommandSyntaxError("AUTH: expected a token (AUTH <token>)", verb)
        return Auth(token=token)
    args = rest.split(" ") if rest else []
    if verb in _NO_ARGUMENTS:
        if args:
            raise CommandSyntaxError(f"{verb}: expected no arguments, got {len(args)}", verb)
        return _NO_ARGUMENTS[verb]()  # type: ignore[return-value]
    try:
        return _parse_arguments(verb, args)
    except CommandSyntaxError as error:
        raise CommandSyntaxError(f"{verb}: {error}", verb) from None


def _parse_arguments(verb: str, args: list[str]) -> AnyCommand:
    if verb == "DOWNLOAD":
        if not 1 <= len(args) <= 2:
            raise _usage(verb, "a session id and an optional offset", len(args))
        offset = parse_number(args[1], "an offset") if len(args) == 2 else 0
        return Download(session_id=parse_number(args[0], "a session id"), offset=offset)
    if verb == "DELETE":
        if len(args) != 1:
            raise _usage(verb, "a session id", len(args))
        return Delete(session_id=parse_number(args[0], "a session id"))
    if verb == "BOARD":
        if len(args) != 2:
            raise _usage(verb, "a board id and a hex command", len(args))
        return Board(board_id=parse_board_id(args[0]), line=parse_board_line(args[1]))
    if verb == "LIVE":
        if len(args) != 1 or args[0].upper() not in ("ON", "OFF"):
            raise CommandSyntaxError(f"expected ON or OFF, got {show(' '.join(args))}")
        return Live(on=args[0].upper() == "ON")
    raise AssertionError(f"verb {verb} has no parser")  # pragma: no cover


def parse_number(text: str, what: str) -> int:
    """A non-negative decimal number of at most 18 digits."""
    if not _DECIMAL.fullmatch(text):
        raise CommandSyntaxError(f"expected {what} as a decimal number, got {show(text)}")
    return int(text)


def parse_board_id(text: str) -> int:
    """A board id written as exactly two hex digits."""
    if not _BOARD_ID.fullmatch(text):
        raise CommandSyntaxError(f"expected a board id as 2 hex digits, got {show(text)}")
    return int(text, 16)


def parse_board_line(text: str) -> str:
    """A command line for a board: 4 to 27 hex characters (never empty, wire.md 3)."""
    if not _HEX.fullmatch(text):
        raise CommandSyntaxError(f"expected hex digits, got {show(text)}")
    if not BOARD_LINE_MIN_CHARS <= len(text) <= BOARD_LINE_MAX_CHARS:
        raise CommandSyntaxError(
            f"expected {BOARD_LINE_MIN_CHARS} to {BOARD_LINE_MAX_CHARS} hex characters, "
            f"got {len(text)}")
    return text


def _usage(verb: str, expected: str, got: int) -> CommandSyntaxError:
    return CommandSyntaxError(f"expected {expected} ({SYNOPSES[verb]}), got {got} arguments")
