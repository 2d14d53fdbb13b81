"""Polls with STATUS behind TRANSMIT: the STATUS reply ends the batch, whatever comes before it.

Pure protocol tests (StringTransport, task.Clock), fed in every chunk size
from 1 to 9 bytes, as Twisted's own line-receiver tests do.
"""

from __future__ import annotations

from typing import Any

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from blitz.server.board_link import BoardLink, LinkSettings
from blitz.server.board_protocol import BoardProtocol, StartReply, TransmitResult

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

DATA = [b"08a0%08x0000000000000000" % stamp for stamp in range(1, 5)]
STATUS = b"08840000abcd8000000000000000"


def connect() -> tuple[BoardProtocol, StringTransport]:
    protocol = BoardProtocol(Clock())
    protocol.board_id = 8
    transport = StringTransport()
    protocol.makeConnection(transport)
    return protocol, transport


def feed(protocol: BoardProtocol, data: bytes, chunk: int) -> None:
    for start in range(0, len(data), chunk):
        protocol.dataReceived(data[start:start + chunk])


def result_of(d: Deferred[Any]) -> Any:
    results: list[Any] = []
    d.addBoth(results.append)
    assert results, "the Deferred has not fired"
    if isinstance(results[0], Failure):
        results[0].raiseException()
    return results[0]


@pytest.mark.parametrize("chunk", range(1, 10))
def test_a_stray_40_inside_the_reply_does_not_split_the_batch(chunk: int) -> None:
    protocol, transport = connect()
    d = protocol.transmit_with_status()
    assert transport.value() == b"08c0\n0883\n"
    feed(protocol, DATA[0] + b"\r\n0840\r\n" + DATA[1] + b"\r\n0861\r\n" + DATA[2] + b"\r\n0840\r\n", chunk)
    assert not d.called
    feed(protocol, STATUS + b"\r\n", chunk)
    result: TransmitResult = result_of(d)
    assert result.lines == DATA[:3] and result.status == STATUS.decode() and not result.not_logging


def test_66_marks_the_board_not_logging_and_a_refused_status_ends_the_poll() -> None:
    protocol, _ = connect()
    d = protocol.transmit_with_status()
    protocol.dataReceived(b"0866\r\n" + STATUS + b"\r\n")
    assert result_of(d).not_logging
    d = protocol.transmit_with_status()
    protocol.dataReceived(DATA[3] + b"\r\n0840\r\n0865\r\n")  # a sketch without STATUS
    result = result_of(d)
    assert result.lines == [DATA[3]] and result.status is None


def test_start_with_status_reports_the_ack_and_the_indices() -> None:
    protocol, transport = connect()
    d = protocol.start_with_status()
    assert transport.value() == b"0800\n0883\n"
    protocol.dataReceived(b"0840\r\n" + STATUS + b"\r\n")
    assert result_of(d) == StartReply(True, STATUS.decode())
    d = protocol.start_with_status()
    protocol.dataReceived(STATUS + b"\r\n")  # no ACK, but the board says it logs
    assert result_of(d) == StartReply(False, STATUS.decode())


def test_a_board_without_status_is_polled_with_transmit_alone() -> None:
    opened: list[tuple[BoardProtocol, StringTransport]] = []

    class Sink:
        lines: list[bytes] = []

        def link_ready(self, link: BoardLink) -> None: ...
        def link_lost(self, link: BoardLink, reason: str) -> None: ...
        def link_not_logging(self, link: BoardLink) -> None: ...
        def link_problem(self, link: BoardLink, severity: int, text: str, errors: int = 1) -> None: ...

        def lines_received(self, link: BoardLink, lines: list[bytes]) -> None:
            self.lines.extend(lines)

    def opener(port: str, protocol: BoardProtocol) -> StringTransport:
        transport = StringTransport()
        protocol.makeConnection(transport)
        opened.append((protocol, transport))
        return transport

    clock, sink = Clock(), Sink()
    link = BoardLink("/dev/ttyACM0", opener, clock, sink, LinkSettings(reset_wait_s=0, drain_s=0))
    link.open()
    clock.advance(0)
    protocol, transport = opened[-1]
    protocol.dataReceived(b"0882\r\n")
    transport.clear()
    started: list[bool] = []
    link.start_logging().addCallback(started.append)
    protocol.dataReceived(b"0840\r\n0865\r\n")  # START acknowledged, STATUS unknown to the sketch
    assert started == [True]
    transport.clear()
    link.poll()
    assert transport.value() == b"08c0\n"
    protocol.dataReceived(DATA[0] + b"\r\n0840\r\n")
    assert sink.lines == [DATA[0]]
