"""Serial transports: pyserial URLs through a reader thread, device paths on the reactor."""

from __future__ import annotations

import os
import tty
from typing import Any

import pytest
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure

from blitz.server.serial_transport import FastSerialPort, ThreadedSerialTransport, is_url, make_opener
from tests.server.reactor_harness import run, wait_until

pytestmark = pytest.mark.timeout(30)


class Collect(Protocol):
    def __init__(self) -> None:
        self.data = b""
        self.lost: list[Failure] = []

    def dataReceived(self, data: bytes) -> None:
        self.data += data

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self.lost.append(reason)


def test_is_url() -> None:
    assert is_url("socket://127.0.0.1:7000") and is_url("loop://")
    assert not is_url("/dev/ttyACM0")


def test_loop_url_is_served_by_a_thread() -> None:
    protocol = Collect()

    def scenario(reactor: Any) -> Any:
        transport = make_opener(reactor)("loop://", protocol)
        assert isinstance(transport, ThreadedSerialTransport)
        transport.write(b"0081\n")  # loop:// echoes what is written
        yield wait_until(reactor, lambda: protocol.data == b"0081\n", what="echo")
        transport.loseConnection()
        yield wait_until(reactor, lambda: bool(protocol.lost), what="connectionLost")

    run(scenario)
    assert len(protocol.lost) == 1


@pytest.mark.integration
def test_pty_is_read_in_big_chunks_and_eio_is_connection_lost() -> None:
    master, slave = os.openpty()
    tty.setraw(slave)
    path = os.ttyname(slave)
    os.close(slave)
    os.set_blocking(master, False)
    protocol = Collect()
    received = bytearray()

    def read_master() -> bytes:
        try:
            received.extend(os.read(master, 100))
        except (BlockingIOError, OSError):
            pass
        return bytes(received)

    payload = b"08a000002f19572076ac00000000\r\n" * 2000  # 60 kB in one go

    def scenario(reactor: Any) -> Any:
        transport = make_opener(reactor)(path, protocol)
        assert isinstance(transport, FastSerialPort)
        transport.write(b"08c0\n")
        yield wait_until(reactor, lambda: read_master() == b"08c0\n", what="command")
        written = 0
        while written < len(payload):
            try:
                written += os.write(master, payload[written:written + 4096])
            except BlockingIOError:
                pass
            yield wait_until(reactor, lambda: len(protocol.data) >= written, what="data")
        os.close(master)  # the board is unplugged
        yield wait_until(reactor, lambda: bool(protocol.lost), what="connectionLost")

    run(scenario)
    assert protocol.data == payload
