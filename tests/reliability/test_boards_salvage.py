"""Lines salvaged from a port that went away are checked like every other batch.

When a port fails in the middle of a TRANSMIT reply, the data lines already
received are kept (docs/server.md).  They must pass the same check as a
completed reply: garbage among them is dropped and counted, never stored,
and never reaches the Logger (whose ASCII decoding would raise on the
logging path).
"""

from __future__ import annotations

from typing import Any

import pytest
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from blitz.server.board_link import BoardLink, LinkSettings
from blitz.server.board_protocol import BoardProtocol

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

GOOD = [b"08a0%08x0000000000000000" % stamp for stamp in (1, 2, 3)]
NOT_HEX = b"08a0zz00" + b"0" * 20  # 28 characters, not hex
NOT_ASCII = bytes(range(0x80, 0x9C))  # 28 bytes, not even ASCII


class StrictSink:
    """A LinkSink that, like the Logger, decodes every data line as ASCII hex."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.errors = 0

    def link_ready(self, link: BoardLink) -> None:
        pass

    def link_lost(self, link: BoardLink, reason: str) -> None:
        pass

    def lines_received(self, link: BoardLink, lines: list[bytes]) -> None:
        for line in lines:
            int(line.decode("ascii"), 16)  # raises for garbage, as BlitzLogger.lines_received would
        self.lines.extend(lines)

    def link_problem(self, link: BoardLink, severity: int, text: str, errors: int = 1) -> None:
        self.errors += errors

    def link_not_logging(self, link: BoardLink) -> None:
        pass


def ready_link() -> tuple[BoardLink, BoardProtocol, StrictSink]:
    clock, sink = Clock(), StrictSink()
    opened: list[BoardProtocol] = []

    def opener(port: str, protocol: BoardProtocol) -> Any:
        transport = StringTransport()
        protocol.makeConnection(transport)
        opened.append(protocol)
        return transport

    link = BoardLink("/dev/ttyACM0", opener, clock, sink, LinkSettings(reset_wait_s=0, drain_s=0))
    link.open()
    clock.advance(0)
    opened[-1].dataReceived(b"0882\r\n")
    assert link.ready
    return link, opened[-1], sink


@pytest.mark.parametrize("how", ["port error", "poll timeouts"])
def test_garbage_in_a_salvaged_reply_is_dropped_and_counted(how: str) -> None:
    link, protocol, sink = ready_link()
    link.poll()
    protocol.dataReceived(b"\r\n".join([GOOD[0], NOT_HEX, GOOD[1], NOT_ASCII, GOOD[2]]) + b"\r\n")
    if how == "port error":
        protocol.connectionLost(Failure(OSError(5, "Input/output error")))
    else:
        for _ in range(link.settings.missed_polls_lost):
            link.clock.advance(link.settings.reply_timeout_s)  # type: ignore[attr-defined]
            link.poll()
    assert link.state == "lost"
    assert sink.lines == GOOD
    assert sink.errors == 2
