"""BoardLink's lifecycle with a fake opener, StringTransport and task.Clock."""

from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from blitz.server.board_link import BoardLink, LinkSettings
from blitz.server.board_protocol import BoardProtocol
from blitz.server.overflow import OverflowCounter

SETTINGS = LinkSettings(reset_wait_s=2.0, drain_s=0.1, reply_timeout_s=1.0, missed_polls_lost=2,
                        retry_initial_s=0.5, retry_max_s=2.0)


class Sink:
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.lines: list[bytes] = []

    def link_ready(self, link: BoardLink) -> None:
        self.events.append(("ready", link.board_id))

    def link_lost(self, link: BoardLink, reason: str) -> None:
        self.events.append(("lost", reason))

    def lines_received(self, link: BoardLink, lines: list[bytes]) -> None:
        self.lines.extend(lines)

    def link_problem(self, link: BoardLink, severity: int, text: str, errors: int = 1) -> None:
        self.events.append(("problem", text))

    def link_not_logging(self, link: BoardLink) -> None:
        self.events.append(("not logging", None))


class Opener:
    """Opens StringTransports; fails while `present` is False."""

    def __init__(self) -> None:
        self.present = True
        self.opened: list[tuple[BoardProtocol, StringTransport]] = []

    def __call__(self, port: str, protocol: BoardProtocol) -> StringTransport:
        if not self.present:
            raise OSError(2, "No such file or directory")
        transport = StringTransport()
        protocol.makeConnection(transport)
        self.opened.append((protocol, transport))
        return transport

    @property
    def last(self) -> tuple[BoardProtocol, StringTransport]:
        return self.opened[-1]


STATUS = b"08840000abcd8000000000000000"  # logging, both indices 0


def line(ts: int, board: int = 8) -> bytes:
    return b"%02xa0%08x0000000000000000" % (board, ts)


def make() -> tuple[BoardLink, Opener, Sink, Clock]:
    clock, opener, sink = Clock(), Opener(), Sink()
    link = BoardLink("/dev/ttyACM0", opener, clock, sink, SETTINGS)
    return link, opener, sink, clock


def handshake(link: BoardLink, opener: Opener, clock: Clock, board: int = 8) -> None:
    protocol, transport = opener.last
    protocol.dataReceived(b"0840\r\nstale junk\r\n")  # during the reset wait: discarded
    clock.advance(2.1)
    assert transport.value() == b"0081\n"  # never an empty line
    transport.clear()
    protocol.dataReceived(b"%02x82\r\n" % board)


def test_waits_for_the_reset_then_handshakes() -> None:
    link, opener, sink, clock = make()
    link.open()
    assert link.state == "resetting"
    clock.advance(2.0)
    assert opener.last[1].value() == b""
    handshake(link, opener, clock)
    assert link.ready and link.board_id == 8
    assert sink.events == [("ready", 8)]


def test_poll_delivers_lines_and_restarts_on_66() -> None:
    link, opener, sink, clock = make()
    link.open()
    handshake(link, opener, clock)
    protocol, transport = opener.last
    link.poll()
    assert link.poll() is None  # one poll at a time
    assert transport.value() == b"08c0\n0883\n"  # TRANSMIT and STATUS back to back
    protocol.dataReceived(line(1) + b"\r\n" + line(2) + b"\r\n0840\r\n")
    assert sink.lines == []  # the STATUS reply ends the poll
    protocol.dataReceived(STATUS + b"\r\n")
    assert sink.lines == [line(1), line(2)]
    link.poll()
    protocol.dataReceived(b"0866\r\n" + STATUS + b"\r\n")
    assert ("not logging", None) in sink.events


def test_missed_polls_mark_the_board_lost_and_it_is_retried() -> None:
    link, opener, sink, clock = make()
    link.open()
    handshake(link, opener, clock)
    for _ in range(2):
        link.poll()
        clock.advance(1.0)
    assert link.state == "lost"
    assert opener.last[1].disconnecting
    assert sink.events[-1][0] == "lost" and "stopped answering" in sink.events[-1][1]
    clock.advance(0.5)  # retry: a new connection and a new handshake
    assert len(opener.opened) == 2
    handshake(link, opener, clock)
    assert link.ready and sink.events[-1] == ("ready", 8)


def test_port_gone_backs_off_and_comes_back() -> None:
    link, opener, sink, clock = make()
    opener.present = False
    link.open()
    assert link.state == "lost"
    for delay in (0.5, 1.0, 2.0, 2.0):  # capped exponential backoff
        clock.advance(delay - 0.01)
        attempts = link.state
        clock.advance(0.01)
        assert attempts == "lost"
    assert len([e for e in sink.events if e[0] == "lost"]) == 1  # reported once, not per retry
    opener.present = True
    clock.advance(2.0)
    handshake(link, opener, clock)
    assert link.ready


def test_io_error_salvages_lines_and_retries() -> None:
    link, opener, sink, clock = make()
    link.open()
    handshake(link, opener, clock)
    protocol, _ = opener.last
    link.poll()
    protocol.dataReceived(line(5) + b"\r\n")
    protocol.connectionLost(Failure(OSError(5, "Input/output error")))
    assert sink.lines == [line(5)]  # received before the loss: kept
    assert link.state == "lost" and "Input/output error" in sink.events[-1][1]
    clock.advance(0.5)
    assert len(opener.opened) == 2


def test_start_failure_is_reported_not_fatal() -> None:
    link, opener, sink, clock = make()
    link.open()
    handshake(link, opener, clock)
    results: list[Any] = []
    link.start_logging().addCallback(results.append)
    clock.advance(1.0)
    assert results == [False]
    assert "START failed" in sink.events[-1][1]
    assert link.ready


def test_stop_logging_drains_then_stops() -> None:
    link, opener, sink, clock = make()
    link.open()
    handshake(link, opener, clock)
    protocol, transport = opener.last
    results: list[Any] = []
    link.stop_logging().addCallback(results.append)
    assert transport.value() == b"08c0\n0820\n0883\n"
    protocol.dataReceived(line(9) + b"\r\n0840\r\n0840\r\n" + STATUS + b"\r\n")
    assert results == [True] and sink.lines == [line(9)]


def test_close_stops_retrying() -> None:
    link, opener, sink, clock = make()
    opener.present = False
    link.open()
    link.close()
    clock.advance(10)
    assert opener.opened == [] and link.state == "closed"


def test_without_status_overwritten_messages_are_estimated_from_timestamps() -> None:
    tracker = OverflowCounter()
    assert tracker.observe([line(t) for t in range(0, 100, 10)], None) == 0
    assert tracker.observe([line(t) for t in range(100, 200, 10)], None) == 0  # contiguous
    assert tracker.observe([line(t) for t in range(500, 600, 10)], None) == 30  # 200..490 missing
    tracker.start(None)
    assert tracker.observe([line(t) for t in (7, 9, 10, 12)], None) == 0
    assert tracker.observe([line(13), line(15)], None) == 0  # 1 ms jitter is no loss
    assert tracker.total == 30 and not tracker.exact
