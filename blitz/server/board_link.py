"""The lifecycle of one serial port: open, handshake, poll, lose and retry.

A `BoardLink` owns one port.  It opens it through an injected opener, waits
for the Arduino's DTR reset while discarding input (never by writing an empty
line: wire.md), asks the board's id, and then polls it with TRANSMIT when the
`LinkSink` (the Logger) says a session runs.  A port that fails, closes or
stops answering is marked lost and reopened with a capped exponential backoff;
a board that returns is handshaken again and the sink decides whether to START
it.  Everything runs on the reactor thread; time comes from the injected clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.python.failure import Failure

from blitz.protocol.constants import MessageType
from blitz.server.board_protocol import (
    BoardProtocol,
    BoardReplyError,
    PortLost,
    ReplyTimeout,
    StartReply,
    TransmitResult,
    split_valid,
)
from blitz.server.overflow import OverflowCounter, parse_status

PortOpener = Callable[[str, BoardProtocol], Any]
"""Open `port` with the protocol attached; return its transport or raise."""

#: Board commands (by message type) that move the buffer's indices behind the poll's back.
_INDEX_MOVERS = frozenset({MessageType.START, MessageType.STOP, MessageType.TRANSMIT})


@dataclass(frozen=True)
class LinkSettings:
    """Timing of one link; tests shrink the waits to zero."""

    reset_wait_s: float = 2.0  # the Arduino reboots when the port opens (DTR)
    drain_s: float = 0.1  # extra time to discard stale input after the reset wait
    reply_timeout_s: float = 1.0  # idle time before a command counts as unanswered
    silent_timeout_s: float = 0.3  # BOARD commands: silence means "handled, no reply"
    handshake_attempts: int = 3
    missed_polls_lost: int = 3  # unanswered TRANSMITs in a row before "lost"
    retry_initial_s: float = 0.5
    retry_max_s: float = 5.0


class LinkSink(Protocol):
    """What a link reports to (the Logger)."""

    def link_ready(self, link: "BoardLink") -> None:
        """The board answered the handshake (first time or again)."""

    def link_lost(self, link: "BoardLink", reason: str) -> None:
        """The board or its port went away; the link retries on its own."""

    def lines_received(self, link: "BoardLink", lines: list[bytes]) -> None:
        """Data lines from one poll (or salvaged from a lost port), in order."""

    def link_problem(self, link: "BoardLink", severity: int, text: str, errors: int = 1) -> None:
        """Something to count against the board and tell the user."""

    def link_not_logging(self, link: "BoardLink") -> None:
        """TRANSMIT was answered 66: the board lost its state (it reset)."""


class BoardLink:
    """One serial port and the board on it."""

    def __init__(
        self,
        port: str,
        opener: PortOpener,
        clock: IReactorTime,
        sink: LinkSink,
        settings: LinkSettings = LinkSettings(),
    ) -> None:
        self.port = port
        self.opener = opener
        self.clock = clock
        self.sink = sink
        self.settings = settings
        self.state = "closed"  # closed, opening, resetting, handshake, ok, lost
        self.board_id: int | None = None
        self.last_error = ""
        self.overflow = OverflowCounter()  # messages lost in the board's buffer this session
        self._with_status = True  # poll with TRANSMIT + STATUS (False: the board refuses STATUS)
        self._protocol: BoardProtocol | None = None
        self._transport: Any = None
        self._pending_call: IDelayedCall | None = None
        self._retry_s = settings.retry_initial_s
        self._handshake_tries = 0
        self._missed = 0
        self._polling = False
        self._closing = False
        self._closed_waiters: list[Deferred[None]] = []

    # -- lifecycle ------------------------------------------------------

    def open(self) -> None:
        """Open the port now (and keep trying until `close`)."""
        self._closing = False
        self._cancel_pending()
        self._connect()

    def close(self) -> Deferred[None]:
        """Stop retrying and close the port; fires once it is closed."""
        self._closing = True
        self._cancel_pending()
        if self._protocol is None:
            self.state = "closed"
            return succeed(None)
        waiter: Deferred[None] = Deferred()
        self._closed_waiters.append(waiter)
        self._drop_transport()
        return waiter

    @property
    def ready(self) -> bool:
        """True when the board answered its handshake and the port works."""
        return self.state == "ok"

    @property
    def busy(self) -> bool:
        """True while a command or poll is in flight on the port."""
        return self._polling or (self._protocol is not None and self._protocol.busy)

    def _connect(self) -> None:
        self._pending_call = None
        if self._closing:
            return
        self.state = "opening"
        protocol = BoardProtocol(self.clock, self.settings.reply_timeout_s, self.settings.silent_timeout_s)
        protocol.discarding = True
        protocol.on_lost = lambda why, p=protocol: self._port_lost(p, why)
        self._protocol = protocol
        try:
            self._transport = self.opener(self.port, protocol)
        except Exception as exc:  # any opener failure is "port not there (yet)"
            self._protocol = None
            self._become_lost(f"cannot open {self.port}: {exc}", quiet=self.last_error.startswith("cannot open"))
            return
        self.state = "resetting"
        wait_s = self.settings.reset_wait_s + self.settings.drain_s
        self._pending_call = self.clock.callLater(wait_s, self._handshake)

    def _handshake(self) -> None:
        self._pending_call = None
        protocol = self._protocol
        if protocol is None:
            return
        protocol.discarding = False  # stale input was dropped while waiting
        self.state = "handshake"
        protocol.identify().addCallbacks(self._identified, self._handshake_failed, errbackArgs=(protocol,))

    def _identified(self, board_id: int) -> None:
        self.board_id = board_id
        self.state = "ok"
        self.last_error = ""
        self._missed = 0
        self._handshake_tries = 0
        self._retry_s = self.settings.retry_initial_s
        self.overflow.new_board()
        self._with_status = True
        self.sink.link_ready(self)

    def _handshake_failed(self, failure: Failure, protocol: BoardProtocol) -> None:
        if protocol is not self._protocol or failure.check(PortLost):
            return
        self._handshake_tries += 1
        if self._handshake_tries < self.settings.handshake_attempts:
            self._handshake()
            return
        self._handshake_tries = 0
        self._lose(f"no answer to the ID request on {self.port}: {failure.getErrorMessage()}")

    def _port_lost(self, protocol: BoardProtocol, why: str) -> None:
        if protocol is not self._protocol:
            return
        self._salvage(protocol)
        self._protocol = None
        self._transport = None
        if self._closing:
            self.state = "closed"
            waiters, self._closed_waiters = self._closed_waiters, []
            for waiter in waiters:
                waiter.callback(None)
            return
        self._become_lost(f"{self.port}: {why}")

    def _lose(self, reason: str) -> None:
        """Give up on the current connection: close it and retry later."""
        protocol = self._protocol
        if protocol is not None:
            self._salvage(protocol)
        self._protocol = None
        self._drop_transport()
        self._become_lost(reason)

    def _become_lost(self, reason: str, quiet: bool = False) -> None:
        was_ok = self.state == "ok"
        self.state = "lost"
        self.last_error = reason
        self._polling = False
        if not quiet or was_ok:
            self.sink.link_lost(self, reason)
        if not self._closing and self._pending_call is None:
            self._pending_call = self.clock.callLater(self._retry_s, self._connect)
            self._retry_s = min(self._retry_s * 2, self.settings.retry_max_s)

    def _drop_transport(self) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            try:
                transport.loseConnection()
            except Exception as exc:  # a port that fails to close is still gone
                self.last_error = f"closing {self.port}: {exc}"

    def _salvage(self, protocol: BoardProtocol) -> None:
        """Keep data lines that arrived before a port went away."""
        good, bad = split_valid(protocol.take_data())
        protocol.garbage.extend(bad)  # checked like a completed reply: garbage is counted, not stored
        if good or bad:
            self._deliver(TransmitResult(good, bad))

    def _cancel_pending(self) -> None:
        if self._pending_call is not None and self._pending_call.active():
            self._pending_call.cancel()
        self._pending_call = None

    # -- logging --------------------------------------------------------

    @property
    def overwritten(self) -> int:
        """Messages the board overwrote in its buffer in this session (overflow.py)."""
        return self.overflow.total

    def new_session(self) -> None:
        """A session starts: count overwritten messages from zero."""
        self.overflow.new_session()

    def start_logging(self) -> Deferred[bool]:
        """START the board (and read its STATUS); fires True once it logs, False (reported) otherwise."""
        if self._protocol is None or not self.ready:
            return succeed(False)
        d = self._protocol.start_with_status()
        return d.addCallbacks(self._started, self._command_failed, errbackArgs=("START",))

    def _started(self, reply: StartReply) -> bool:
        indices = parse_status(reply.status) if reply.status is not None else None
        if reply.status is None:
            self._with_status = False  # the sketch has no STATUS: poll with TRANSMIT alone
        logging = indices.logging if indices is not None else reply.acked
        if not logging:
            self.sink.link_problem(self, 3, f"START failed on {self.port}: the board is not logging")
            return False
        if not reply.acked:
            self.sink.link_problem(self, 2, f"START was not acknowledged on {self.port}, "
                                            "but the board reports that it is logging", errors=0)
        self.overflow.start(reply.status)
        return True

    def stop_logging(self) -> Deferred[bool]:
        """Drain the board with a last TRANSMIT, STOP it; fires True on success."""
        if self._protocol is None or not self.ready:
            return succeed(False)
        if self._with_status:
            d = self._protocol.drain_stop_with_status()
        else:
            d = self._protocol.drain_and_stop()
        return d.addCallbacks(self._drained, self._command_failed, errbackArgs=("STOP",))

    def poll(self) -> Deferred[None] | None:
        """Send TRANSMIT unless a poll is already running; None when skipped."""
        if self._protocol is None or not self.ready or self._polling:
            return None
        self._polling = True
        protocol = self._protocol
        d = protocol.transmit_with_status() if self._with_status else protocol.transmit()
        d.addCallbacks(self._polled, self._poll_failed, errbackArgs=(protocol,))
        return d

    def command(self, line: bytes) -> Deferred[list[str]]:
        """Send one user command between polls; fires with the reply lines."""
        if self._protocol is None or not self.ready:
            raise PortLost(f"{self.port}: board not connected")
        d = self._protocol.send_raw(line)
        try:
            if int(line[2:4], 16) >> 5 in _INDEX_MOVERS:
                self.overflow.lose_sync()  # the user moved the indices: count by timestamps until START
        except ValueError:
            pass
        return d

    def _polled(self, result: TransmitResult) -> None:
        self._polling = False
        self._missed = 0
        self._deliver(result)
        if result.not_logging:
            self.sink.link_not_logging(self)

    def _drained(self, result: TransmitResult) -> bool:
        self._deliver(result)
        return True

    def _deliver(self, result: TransmitResult) -> None:
        lost = self.overflow.observe(result.lines, result.status)
        if result.lines:
            self.sink.lines_received(self, result.lines)
        if lost > 0:
            about = "" if self.overflow.exact else "about "
            self.sink.link_problem(
                self, 2, f"{about}{lost} messages overwritten in the board's buffer (poll faster)", errors=0
            )
        # The protocol keeps every bad line (result.bad is the part of them in this batch).
        bad = self._protocol.take_garbage() if self._protocol is not None else result.bad
        if bad:
            sample = bad[0][:40].decode("ascii", "replace")
            self.sink.link_problem(self, 2, f"{len(bad)} bad lines dropped, e.g. {sample!r}", errors=len(bad))

    def _poll_failed(self, failure: Failure, protocol: BoardProtocol) -> None:
        self._polling = False
        if protocol is not self._protocol or failure.check(PortLost):
            return
        if failure.check(ReplyTimeout):
            self.overflow.lose_sync()  # a late reply may still come: its STATUS cannot be placed
            self._missed += 1
            if self._missed >= self.settings.missed_polls_lost:
                self._lose(f"board on {self.port} stopped answering ({self._missed} polls)")
            return
        self.sink.link_problem(self, 2, f"TRANSMIT failed: {failure.getErrorMessage()}")

    def _command_failed(self, failure: Failure, what: str) -> bool:
        if failure.check(BoardReplyError, ReplyTimeout, PortLost) is None:
            return failure  # type: ignore[return-value]  # a bug: let it surface
        self.sink.link_problem(self, 3, f"{what} failed on {self.port}: {failure.getErrorMessage()}")
        return False
