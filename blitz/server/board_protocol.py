"""The line protocol spoken with one expansion board over its serial port.

It sends one command at a time (the firmware handles one line at a time and
never checks the id byte), matches replies to the command in flight and
collects data lines.  It is pure: it only writes to `self.transport` and uses
the injected clock for reply timeouts, so it is tested with `StringTransport`
and `task.Clock`.

Data lines are kept in arrival order until a TRANSMIT completes; lines that
arrive outside a TRANSMIT (a late reply after a timeout, or after a stray
`..40` ended the reply early) are handed over with the next one, so nothing a
board sent is lost or reordered.  Stray `..61` / `..40` lines (wire.md: the
empty-line firmware bug) are counted and otherwise ignored.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.protocols.basic import LineOnlyReceiver
from twisted.python.failure import Failure

from blitz.errors import BoardError
from blitz.protocol.constants import (
    ERROR_CODES,
    MESSAGE_HEX_CHARS,
    META_START,
    META_STOP,
    META_TRANSMIT,
    SHORT_HEX_CHARS,
    Instruction,
    ResponseCode,
)

_HEX = b"0123456789abcdefABCDEF"
_STATUS_META = b"84"
_ACK = ResponseCode.ACK
_TOO_SHORT = ResponseCode.TOO_SHORT
_NOT_LOGGING = ResponseCode.NOT_LOGGING
#: Commands that end with a STATUS request: its `..84` reply ends them.
_WITH_STATUS = frozenset({"transmit_status", "start_status", "drain_stop_status"})


class BoardReplyError(BoardError):
    """The board answered a command with an error code (61-66)."""

    def __init__(self, command: str, code: int) -> None:
        meaning = ERROR_CODES.get(code, f"unexpected code 0x{code:02x}")
        super().__init__(f"board answered {command!r} with {code:02x} ({meaning})")
        self.command = command
        self.code = code


class ReplyTimeout(BoardError):
    """The board did not answer a command in time."""


class PortLost(BoardError):
    """The port closed or failed while a command was waiting."""


def is_hex(line: bytes) -> bool:
    """True when `line` is non-empty and holds only hex digits."""
    return bool(line) and not line.translate(None, _HEX)


def split_valid(lines: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """Split data lines into (valid hex lines, garbage), keeping order.

    One C-level check covers the whole batch; only a batch with garbage in it
    is looked at line by line.
    """
    if not b"".join(lines).translate(None, _HEX):
        return lines, []
    good = [line for line in lines if not line.translate(None, _HEX)]
    bad = [line for line in lines if line.translate(None, _HEX)]
    return good, bad


@dataclass
class _Command:
    """One command in flight or waiting for the port."""

    kind: str  # "id", "ack", "transmit", "drain_stop", "status", "raw", or one of _WITH_STATUS
    lines: tuple[bytes, ...]
    timeout_s: float
    deferred: Deferred[Any] = field(default_factory=Deferred)
    replies: list[str] = field(default_factory=list)
    terminals: int = 1  # terminal replies still expected
    not_logging: bool = False
    acks: int = 0  # ACKs seen (commands of _WITH_STATUS)
    timer: IDelayedCall | None = None


@dataclass(frozen=True)
class TransmitResult:
    """The data lines handed over by a TRANSMIT (or a drain before STOP)."""

    lines: list[bytes]
    bad: list[bytes]
    not_logging: bool = False  # the board answered 66: it was not logging
    status: str | None = None  # the STATUS reply that followed (the *_with_status commands)


@dataclass(frozen=True)
class StartReply:
    """What START and the STATUS request written right after it got back."""

    acked: bool  # the board answered START with 40
    status: str | None  # its STATUS reply, None if it refused STATUS


class BoardProtocol(LineOnlyReceiver):
    """Commands and replies for one board, one command at a time."""

    delimiter = b"\n"
    MAX_LENGTH = 4096

    def __init__(
        self,
        clock: IReactorTime,
        reply_timeout_s: float = 1.0,
        silent_timeout_s: float = 0.3,
    ) -> None:
        self.clock = clock
        self.reply_timeout_s = reply_timeout_s
        self.silent_timeout_s = silent_timeout_s
        self.board_id: int | None = None
        self.discarding = False
        self.strays = 0  # short responses nobody waited for
        self.garbage: list[bytes] = []  # bad lines not yet reported
        self._data: list[bytes] = []
        self._current: _Command | None = None
        self._queue: deque[_Command] = deque()
        self._closed = False
        self.lost_reason: Failure | None = None
        self.on_lost: Callable[[str], None] | None = None  # called once the port is gone

    # -- commands -------------------------------------------------------

    def identify(self) -> Deferred[int]:
        """Ask any board for its id (`0081`) and fire with the id it answers."""
        return self._submit("id", (b"0081",), self.reply_timeout_s)

    def start_logging(self) -> Deferred[None]:
        """Send START and fire on its ACK."""
        return self._submit("ack", (self._head(META_START),), self.reply_timeout_s)

    def stop_logging(self) -> Deferred[None]:
        """Send STOP and fire on its ACK."""
        return self._submit("ack", (self._head(META_STOP),), self.reply_timeout_s)

    def transmit(self) -> Deferred[TransmitResult]:
        """Send TRANSMIT and fire with the data lines received since the last one."""
        return self._submit("transmit", (self._head(META_TRANSMIT),), self.reply_timeout_s)

    def drain_and_stop(self) -> Deferred[TransmitResult]:
        """Write TRANSMIT and STOP back to back and fire with the last lines.

        The board reads STOP from its input buffer as soon as the TRANSMIT
        reply is out, which keeps the unrecoverable window (messages logged
        after the last TRANSMIT) as short as the serial line allows.
        """
        lines = (self._head(META_TRANSMIT), self._head(META_STOP))
        return self._submit("drain_stop", lines, self.reply_timeout_s, terminals=2)

    def transmit_with_status(self) -> Deferred[TransmitResult]:
        """Write TRANSMIT and STATUS back to back; fire with the data lines and the STATUS line.

        Everything the board sends before its STATUS reply answers this
        TRANSMIT, so a stray `..40` cannot split the batch, and the STATUS
        send index counts exactly the messages sent so far (overflow.py).
        A board that refuses STATUS gives `status=None`.
        """
        lines = (self._head(META_TRANSMIT), self._head(Instruction.STATUS))
        return self._submit("transmit_status", lines, self.reply_timeout_s)

    def start_with_status(self) -> Deferred[StartReply]:
        """Write START and STATUS back to back: the board's clock and indices at START."""
        lines = (self._head(META_START), self._head(Instruction.STATUS))
        return self._submit("start_status", lines, self.reply_timeout_s)

    def drain_stop_with_status(self) -> Deferred[TransmitResult]:
        """`drain_and_stop`, then STATUS: its indices count the last batch too.

        STATUS comes after STOP, so the board still stops as soon as its last
        TRANSMIT reply is out; a stopped board keeps its indices.
        """
        lines = (self._head(META_TRANSMIT), self._head(META_STOP), self._head(Instruction.STATUS))
        return self._submit("drain_stop_status", lines, self.reply_timeout_s)

    def request_status(self) -> Deferred[str]:
        """Send the STATUS instruction and fire with its `..84` data line."""
        return self._submit("status", (self._head(Instruction.STATUS),), self.reply_timeout_s)

    def send_raw(self, line: bytes) -> Deferred[list[str]]:
        """Send a user's command line; fire with the reply lines, [] for silence.

        Board-specific instructions handled by the sketch have no reply at all
        (e.g. the motor's `85`), so silence after `silent_timeout_s` is a
        success with no lines.
        """
        if len(line) < SHORT_HEX_CHARS or not is_hex(line):
            raise ValueError(f"expected at least {SHORT_HEX_CHARS} hex chars, got {line!r}")
        return self._submit("raw", (line,), self.silent_timeout_s)

    def take_data(self) -> list[bytes]:
        """Hand over (and forget) the data lines received outside a TRANSMIT."""
        data, self._data = self._data, []
        return data

    def take_garbage(self) -> list[bytes]:
        """Hand over (and forget) the bad lines received so far."""
        bad, self.garbage = self.garbage, []
        return bad

    @property
    def busy(self) -> bool:
        """True while a command is in flight or waiting."""
        return self._current is not None or bool(self._queue)

    def _head(self, meta: int) -> bytes:
        board = self.board_id if self.board_id is not None else 0
        return b"%02x%02x" % (board, meta)

    def _submit(self, kind: str, lines: tuple[bytes, ...], timeout_s: float, terminals: int = 1) -> Deferred[Any]:
        command = _Command(kind, lines, timeout_s, terminals=terminals)
        if self._closed:
            command.deferred.errback(PortLost(f"port closed, cannot send {lines[0]!r}"))
            return command.deferred
        self._queue.append(command)
        if self._current is None:
            self._send_next()
        return command.deferred

    def _send_next(self) -> None:
        if self._current is not None or not self._queue or self._closed:
            return
        command = self._current = self._queue.popleft()
        command.timer = self.clock.callLater(command.timeout_s, self._timed_out, command)
        self.transport.write(b"".join(line + b"\n" for line in command.lines))

    def _finish(self, command: _Command, result: Any) -> None:
        """Complete `command` (a value or a Failure/exception) and send the next."""
        if command.timer is not None and command.timer.active():
            command.timer.cancel()
        self._current = None
        if isinstance(result, (BaseException, Failure)):
            command.deferred.errback(result)
        else:
            command.deferred.callback(result)
        self._send_next()

    def _timed_out(self, command: _Command) -> None:
        command.timer = None
        if command.kind == "raw" and not self._waiting_for_terminal(command):
            self._finish(command, [])  # a handled custom instruction: no reply
            return
        self._finish(command, ReplyTimeout(f"no reply to {command.lines[0]!r} within {command.timeout_s:g} s"))

    @staticmethod
    def _waiting_for_terminal(command: _Command) -> bool:
        """Raw commands other than custom instructions must get a reply."""
        meta = command.lines[0][2:4]
        try:
            value = int(meta, 16)
        except ValueError:
            return False
        return value >> 5 != 4 or value in (Instruction.ID, Instruction.STATUS)

    # -- input ----------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        """Split the chunk into lines and classify each one, cheaply."""
        if self.discarding:
            self._buffer = b""
            return
        current = self._current
        if current is not None and current.timer is not None:
            current.timer.reset(current.timeout_s)  # an idle timeout, not a total one
        lines = (self._buffer + data).split(b"\n")
        self._buffer = lines.pop()
        if len(self._buffer) > self.MAX_LENGTH:
            self.lineLengthExceeded(self._buffer)
            self._buffer = b""
        append = self._data.append
        for raw in lines:
            line = raw.strip()
            if len(line) >= MESSAGE_HEX_CHARS and line[2:4] != _STATUS_META:
                append(line)  # the hot path: one length check, one slice
            else:
                self._rare_line(line)
                append = self._data.append  # a completed TRANSMIT took the list

    def lineReceived(self, line: bytes) -> None:
        """Handle one complete line (dataReceived inlines the common case)."""
        line = line.strip()
        if len(line) >= MESSAGE_HEX_CHARS and line[2:4] != _STATUS_META:
            self._data.append(line)
        else:
            self._rare_line(line)

    def _rare_line(self, line: bytes) -> None:
        """Short responses, STATUS replies, blanks and garbage."""
        size = len(line)
        if size >= MESSAGE_HEX_CHARS:
            self._status_line(line)
        elif size == SHORT_HEX_CHARS and is_hex(line):
            self._short_response(line)
        elif size:
            self.garbage.append(line)

    def lineLengthExceeded(self, line: bytes) -> None:
        """Drop an endless line instead of the connection; count it as garbage."""
        self.garbage.append(line[:64])

    def _status_line(self, line: bytes) -> None:
        current = self._current
        text = line.decode("ascii", "replace")
        if current is not None and current.kind == "status":
            self._finish(current, text)
        elif current is not None and current.kind in _WITH_STATUS:
            self._finish_with_status(current, text)
        elif current is not None and current.kind == "raw":
            current.replies.append(text)
            self._finish(current, list(current.replies))
        else:
            self.strays += 1

    def _short_response(self, line: bytes) -> None:
        code = int(line[2:4], 16)
        current = self._current
        if current is None:
            self.strays += 1
            return
        kind = current.kind
        if kind in _WITH_STATUS:
            if code == _ACK:
                current.acks += 1
            elif code == _NOT_LOGGING:
                current.not_logging = True
            elif code in ERROR_CODES and code != _TOO_SHORT:  # STATUS refused
                self._finish_with_status(current, None)
            else:
                self.strays += 1
            return
        if kind == "raw":
            current.replies.append(line.decode("ascii"))
            if code in ERROR_CODES:
                self._finish(current, BoardReplyError(current.lines[0].decode("ascii"), code))
            else:
                self._finish(current, list(current.replies))
            return
        if code == _TOO_SHORT:  # never caused by us: the empty-line quirk
            self.strays += 1
            return
        if kind == "id":
            if code == ResponseCode.ID:
                self.board_id = int(line[0:2], 16)
                self._finish(current, self.board_id)
            elif code == _ACK:
                self.strays += 1
            else:
                self._finish(current, BoardReplyError("0081", code))
            return
        if kind == "status":
            if code == _ACK:
                self.strays += 1  # an ACK is no STATUS reply; keep waiting
            else:
                self._finish(current, BoardReplyError(current.lines[0].decode("ascii"), code))
            return
        if code == _ACK or (code == _NOT_LOGGING and kind in ("transmit", "drain_stop")):
            if code == _NOT_LOGGING:
                current.not_logging = True
            current.terminals -= 1
            if current.terminals > 0:
                return
            if kind in ("transmit", "drain_stop"):
                good, bad = split_valid(self.take_data())
                self.garbage.extend(bad)
                self._finish(current, TransmitResult(good, bad, current.not_logging))
            else:
                self._finish(current, None)
            return
        self._finish(current, BoardReplyError(current.lines[0].decode("ascii"), code))

    def _finish_with_status(self, command: _Command, status: str | None) -> None:
        """End a command of _WITH_STATUS: the STATUS reply (or its refusal) came last."""
        if command.kind == "start_status":
            self._finish(command, StartReply(command.acks > 0, status))
            return
        good, bad = split_valid(self.take_data())
        self.garbage.extend(bad)
        self._finish(command, TransmitResult(good, bad, command.not_logging, status))

    def connectionLost(self, reason: Failure | None = None) -> None:
        """Fail the command in flight and every waiting one with PortLost."""
        self._closed = True
        self.lost_reason = reason
        why = reason.getErrorMessage() if reason is not None else "port closed"
        pending = ([self._current] if self._current is not None else []) + list(self._queue)
        self._current = None
        self._queue.clear()
        for command in pending:
            if command.timer is not None and command.timer.active():
                command.timer.cancel()
            command.deferred.errback(PortLost(f"port lost: {why}"))
        if self.on_lost is not None:
            self.on_lost(why)
