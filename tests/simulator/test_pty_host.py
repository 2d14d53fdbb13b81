"""Simulated boards on real pseudo-terminals, driven through pyserial like a server would."""

from __future__ import annotations

import os
import select
import time
import tty
from pathlib import Path

import pytest
import serial

from blitz.boards import BlitzBasicBoard
from blitz.protocol import Message
from blitz.simulator import Simulator

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]


def _port(path: str) -> serial.Serial:
    return serial.Serial(path, baudrate=57600, timeout=2)


def _ask(port: serial.Serial, command: bytes) -> bytes:
    port.write(command)
    return port.readline()


def _transmit(port: serial.Serial) -> list[bytes]:
    """Send TRANSMIT; return its lines (data lines, then the closing short reply)."""
    port.write(b"00c0\n")
    data = bytearray()
    deadline = time.monotonic() + 5
    while not (data.endswith(b"\r\n") and len(data.rsplit(b"\r\n", 2)[-2]) == 4):
        assert time.monotonic() < deadline, bytes(data[-100:])
        data += port.read(max(1, port.in_waiting))  # pyserial's readline reads byte by byte
    lines = bytes(data).split(b"\r\n")
    assert lines[-1] == b""
    return lines[:-1]


def _wait_for(condition: object, timeout_s: float = 2.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_each_board_answers_id_on_its_own_pty() -> None:
    with Simulator(["basic", "motor", "3c"]) as sim:
        paths = [board.device_path for board in sim.boards]
        assert len(set(paths)) == 3 and all(p and p.startswith("/dev/") for p in paths)
        for board, expected in zip(sim.boards, [b"0882\r\n", b"0982\r\n", b"3c82\r\n"]):
            assert board.device_path is not None
            with _port(board.device_path) as port:
                assert _ask(port, b"0081\n") == expected


def test_transmitted_lines_are_exactly_the_generated_ones() -> None:
    with Simulator(["basic"], rate_hz=2000, buffer_size=1000, record=True) as sim:
        board = sim.boards[0]
        assert board.device_path is not None
        with _port(board.device_path) as port:
            assert _ask(port, b"0800\n") == b"0840\r\n"
            received: list[bytes] = []
            for _ in range(10):
                time.sleep(0.03)
                received += _transmit(port)[:-1]
            assert _ask(port, b"0820\n") == b"0840\r\n"
            received += _transmit(port)  # 0866: stopped
            assert received[-1] == b"0866"
        expected = board.expected_lines()
        assert len(received) > 400
        assert [line.decode() for line in received[:-1]] == expected[: len(received) - 1]
        status = board.status()
        assert status["transmitted"] == len(received) - 1
        assert status["generated"] == len(expected) == status["transmitted"] + status["pending"]
        assert status["overwritten"] == 0


def test_commands_written_a_byte_at_a_time_are_framed_the_same() -> None:
    with Simulator(["basic"]) as sim:
        assert sim.boards[0].device_path is not None
        with _port(sim.boards[0].device_path) as port:
            for byte in b"0081\r\n\n0800\n":
                port.write(bytes([byte]))
                port.flush()
            assert [port.readline() for _ in range(4)] == [b"0882\r\n", b"0861\r\n", b"0840\r\n", b"0840\r\n"]
            message = Message.parse(_ask(port, b"0083\n"))
            assert message.meta == 0x84 and message.payload >> 63 == 1


def test_unplug_fails_the_servers_io_and_replug_repoints_the_link(tmp_path: Path) -> None:
    with Simulator(["basic", "basic"], link_dir=tmp_path / "links") as sim:
        first, second = sim.boards
        assert first.link_path == str(tmp_path / "links" / "board-08")
        assert second.link_path == str(tmp_path / "links" / "board-08-2")
        assert os.readlink(first.link_path) == first.device_path
        old_device = first.device_path
        with _port(first.link_path) as port:
            assert _ask(port, b"0800\n") == b"0840\r\n"
            first.unplug()
            assert not first.plugged and first.device_path is None
            assert not os.path.lexists(first.link_path)
            with pytest.raises(serial.SerialException):
                port.write(b"0081\n")
                port.read(10)
        first.replug()
        assert first.device_path is not None and os.readlink(first.link_path) == first.device_path
        with _port(first.link_path) as port:
            assert _ask(port, b"0081\n") == b"0882\r\n"
            message = Message.parse(_ask(port, b"0083\n"))
            assert message.payload >> 63 == 0  # a fresh boot: not logging
            assert message.timestamp < 1000
        assert old_device is not None
        with _port(second.link_path or "") as port:  # the other board never noticed
            assert _ask(port, b"0081\n") == b"0882\r\n"


def test_output_for_a_closed_port_is_dropped() -> None:
    with Simulator(["basic"], rate_hz=1000) as sim:
        board = sim.boards[0]
        assert board.device_path is not None
        port = _port(board.device_path)
        _wait_for(lambda: board.connected)
        port.write(b"0800\n0081\n0081\n")
        _wait_for(lambda: board.counters().lines == 3)
        port.close()
        _wait_for(lambda: not board.connected)
        with _port(board.device_path) as port:
            port.timeout = 0.2
            assert port.read(100) == b""
            assert _ask(port, b"0081\n") == b"0882\r\n"


def test_reset_on_open_reboots_and_ignores_input_while_booting() -> None:
    with Simulator(["basic"], reset_delay_s=0.3, tick_s=0.005) as sim:
        board = sim.boards[0]
        assert board.device_path is not None
        with _port(board.device_path) as port:
            port.timeout = 0.2
            time.sleep(0.05)
            port.write(b"0081\n")
            assert port.readline() == b""  # the bootloader swallowed it
            time.sleep(0.3)
            port.timeout = 2
            assert _ask(port, b"0800\n") == b"0840\r\n"
        _wait_for(lambda: not board.connected)
        with _port(board.device_path) as port:
            time.sleep(0.35)
            message = Message.parse(_ask(port, b"0083\n"))
            assert message.payload >> 63 == 0  # rebooted on open: START is forgotten
        assert board.status()["opens"] == 2


def test_ten_boards_at_5_khz_lose_nothing() -> None:
    """50,000 lines/s through ten ptys, drained by TRANSMIT every 20 ms."""
    with Simulator(["basic"] * 10, rate_hz=5000, buffer_size=1000) as sim:
        fds = []
        for board in sim.boards:
            assert board.device_path is not None
            fd = os.open(board.device_path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
            tty.setraw(fd)
            fds.append(fd)
        received = {fd: bytearray() for fd in fds}
        poller = select.poll()
        for fd in fds:
            poller.register(fd, select.POLLIN)
            os.write(fd, b"0000\n")
        start = time.monotonic()
        next_transmit = start
        while time.monotonic() - start < 1.0:
            if time.monotonic() >= next_transmit:
                for fd in fds:
                    os.write(fd, b"00c0\n")
                next_transmit += 0.02
            for fd, _ in poller.poll(5):
                received[fd] += os.read(fd, 1 << 20)
        for fd in fds:
            os.write(fd, b"00c0\n0020\n")
        deadline = time.monotonic() + 5
        while not all(data.endswith(b"0840\r\n0840\r\n") for data in received.values()):
            assert time.monotonic() < deadline, "the final replies never came"
            for fd, _ in poller.poll(50):
                received[fd] += os.read(fd, 1 << 20)
        for fd in fds:
            os.close(fd)
        stats = sim.stats()
    total = 0
    for data, entry in zip(received.values(), stats):
        lines = bytes(data).split(b"\r\n")[:-1]
        rows = [line for line in lines if len(line) == 28]
        assert len(rows) + lines.count(b"0840") == len(lines)
        assert entry["overwritten"] == 0
        assert len(rows) == entry["transmitted"] == entry["generated"]
        _, values = BlitzBasicBoard().decode_lines(rows)
        assert len(values["adc_channel_one"]) == len(rows)
        total += len(rows)
    assert total >= 45_000
