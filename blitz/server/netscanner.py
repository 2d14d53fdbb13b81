"""The NetScanner bridge: polls a NetScanner 9116 over TCP and queues board lines.

The scanner speaks a command/response text protocol with one command per TCP
packet and no guaranteed terminator, so a reply is complete when it has the
expected shape (`A`, `Nxx`, or 16 values) and the data has settled.  While a
session runs, every scan becomes one `0A50...` line handed to `sink`; lost
connections are retried by a ClientService with backoff.
"""

from __future__ import annotations

import logging
from typing import Callable

from twisted.application.internet import ClientService
from twisted.internet import endpoints
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.protocol import Factory, Protocol
from twisted.python.failure import Failure

from blitz.server.netscanner_codec import (
    CHANNELS,
    INIT_COMMANDS,
    NETSCANNER_PORT,
    READ_COMMAND,
    NetScannerError,
    encode_reading,
    parse_ack,
    parse_readings,
)

log = logging.getLogger(__name__)

#: Called with (board id, line) for every scan while a session runs.
LineSink = Callable[[int, str], None]
#: Called with (text, severity) for things the user should be told.
Reporter = Callable[[str, int], None]
#: Milliseconds since the running session started, or None when not logging.
SessionClock = Callable[[], "int | None"]

_SETTLE_S = 0.05
_MAX_REPLY_BYTES = 4096


class NetScannerProtocol(Protocol):
    """Initialise the scanner, then read all channels every `interval_s`."""

    def __init__(
        self,
        board_id: int,
        sink: LineSink,
        report: Reporter,
        session_ms: SessionClock,
        clock: IReactorTime,
        interval_s: float = 0.5,
        reply_timeout_s: float = 2.0,
    ) -> None:
        self.board_id = board_id
        self.sink = sink
        self.report = report
        self.session_ms = session_ms
        self.clock = clock
        self.interval_s = interval_s
        self.reply_timeout_s = reply_timeout_s
        self.scans = 0
        self.clamped = 0
        self._buffer = ""
        self._expect: str | None = None  # "ack" or "readings"
        self._pending: list[str] = []
        self._timeout: IDelayedCall | None = None
        self._settle: IDelayedCall | None = None
        self._next_poll: IDelayedCall | None = None

    def connectionMade(self) -> None:
        log.info("NetScanner 0x%02x connected", self.board_id)
        self._pending = list(INIT_COMMANDS)
        self._send_next_init()

    def _send(self, command: str, expect: str) -> None:
        self._buffer = ""
        self._expect = expect
        assert self.transport is not None
        self.transport.write(command.encode("ascii"))
        self._timeout = self.clock.callLater(self.reply_timeout_s, self._timed_out, command)

    def _send_next_init(self) -> None:
        if self._pending:
            self._send(self._pending.pop(0), "ack")
        else:
            self._poll()

    def _poll(self) -> None:
        self._next_poll = None
        self._send(READ_COMMAND, "readings")

    def dataReceived(self, data: bytes) -> None:
        self._buffer += data.decode("ascii", errors="replace")
        if len(self._buffer) > _MAX_REPLY_BYTES:
            self._fail(f"NetScanner 0x{self.board_id:02x} sent an over-long reply; reconnecting")
            return
        if self._expect is None:
            return  # unsolicited bytes; they are dropped at the next command
        if self._settle is not None and self._settle.active():
            self._settle.cancel()
        self._settle = self.clock.callLater(_SETTLE_S, self._reply_complete)
        if self._buffer.endswith(("\r", "\n")) and self._looks_complete():
            self._settle.cancel()
            self._reply_complete()

    def _looks_complete(self) -> bool:
        text = self._buffer.strip()
        if self._expect == "ack" or (text.startswith("N") and len(text) == 3):
            return bool(text)
        return len(text.split()) >= CHANNELS

    def _reply_complete(self) -> None:
        self._settle = None
        if self._timeout is not None and self._timeout.active():
            self._timeout.cancel()
        expect, self._expect = self._expect, None
        reply, self._buffer = self._buffer, ""
        try:
            if expect == "ack":
                parse_ack(reply)
                self._send_next_init()
                return
            self._handle_readings(parse_readings(reply))
        except NetScannerError as exc:
            self.report(f"NetScanner 0x{self.board_id:02x}: {exc}", 2)
            if expect == "ack":
                self._send_next_init()  # a refused init command is reported, not fatal
                return
        self._schedule_poll()

    def _handle_readings(self, values: list[float]) -> None:
        self.scans += 1
        elapsed = self.session_ms()
        if elapsed is None:
            return
        encoded = encode_reading(self.board_id, elapsed, values)
        if encoded.clamped:
            self.clamped += len(encoded.clamped)
            channels = ", ".join(str(c) for c in encoded.clamped)
            self.report(
                f"NetScanner 0x{self.board_id:02x}: channel(s) {channels} outside the encodable range "
                "(-2.0 kPa and up); clamped",
                2,
            )
        self.sink(self.board_id, encoded.line)

    def _schedule_poll(self) -> None:
        if self.transport is not None and self._next_poll is None:
            self._next_poll = self.clock.callLater(self.interval_s, self._poll)

    def _timed_out(self, command: str) -> None:
        self._timeout = None
        self._fail(f"NetScanner 0x{self.board_id:02x} did not answer {command!r}; reconnecting")

    def _fail(self, text: str) -> None:
        self.report(text, 3)
        self._expect = None
        if self.transport is not None:
            self.transport.loseConnection()

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        for call in (self._timeout, self._settle, self._next_poll):
            if call is not None and call.active():
                call.cancel()
        self._timeout = self._settle = self._next_poll = None
        self.transport = None  # type: ignore[assignment]
        log.info("NetScanner 0x%02x disconnected", self.board_id)


class NetScannerFactory(Factory):
    """Builds NetScannerProtocols sharing one sink, reporter and session clock."""

    def __init__(self, board_id: int, sink: LineSink, report: Reporter, session_ms: SessionClock,
                 clock: IReactorTime, interval_s: float = 0.5) -> None:
        self.board_id = board_id
        self.sink = sink
        self.report = report
        self.session_ms = session_ms
        self.clock = clock
        self.interval_s = interval_s

    def buildProtocol(self, addr: object) -> NetScannerProtocol:
        return NetScannerProtocol(self.board_id, self.sink, self.report, self.session_ms, self.clock, self.interval_s)


def netscanner_service(reactor: object, host: str, board_id: int, sink: LineSink, report: Reporter,
                       session_ms: SessionClock, port: int = NETSCANNER_PORT,
                       interval_s: float = 0.5) -> ClientService:
    """A service that keeps one scanner connected (with backoff) and polled."""
    endpoint = endpoints.TCP4ClientEndpoint(reactor, host, port, timeout=5)
    factory = NetScannerFactory(board_id, sink, report, session_ms, reactor, interval_s)  # type: ignore[arg-type]
    return ClientService(endpoint, factory, retryPolicy=_retry_policy)


def _retry_policy(attempt: int) -> float:
    """Back off 0.5 s, 1 s, 2 s ... up to 30 s between reconnection attempts."""
    return float(min(30.0, 0.5 * (2 ** min(attempt, 6))))


__all__ = ["NetScannerFactory", "NetScannerProtocol", "netscanner_service"]
