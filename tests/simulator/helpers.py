"""Helpers of the simulator tests: a hand-driven clock and chunked feeding."""

from __future__ import annotations

from blitz.protocol import Message
from blitz.simulator import Firmware


class FakeClock:
    """A clock in milliseconds that only moves when a test says so."""

    def __init__(self, start_ms: float = 0.0) -> None:
        self.ms = start_ms

    def __call__(self) -> float:
        return self.ms

    def advance(self, delta_ms: float) -> None:
        self.ms += delta_ms


def feed(firmware: Firmware, data: bytes, chunk_size: int | None = None) -> bytes:
    """Feed `data` in chunks of `chunk_size` bytes (all at once by default)."""
    if chunk_size is None:
        return firmware.receive(data)
    return b"".join(firmware.receive(data[i : i + chunk_size]) for i in range(0, len(data), chunk_size))


def lines_of(reply: bytes) -> list[str]:
    """Split a board's output into lines, checking every one ends in CRLF."""
    assert reply.endswith(b"\r\n") or not reply, reply
    parts = reply.split(b"\r\n")[:-1]
    assert all(b"\n" not in part and b"\r" not in part for part in parts), reply
    return [part.decode("ascii") for part in parts]


def status_of(firmware: Firmware) -> tuple[Message, bool, int, int]:
    """Ask STATUS; return (message, logging, buffer index, send index)."""
    (line,) = lines_of(firmware.receive(b"0083\n"))
    message = Message.parse(line)
    payload = message.payload
    return message, bool(payload >> 63), (payload >> 53) & 0x3FF, (payload >> 43) & 0x3FF
