"""Faults a simulated board can be told to have, for reliability tests.

A `Faults` value is given to `Firmware(faults=...)` (or `Simulator(faults={board id: ...})`).
Each fault is off by default and mimics something real boards do:

* `garbage_every=k`: after every k-th data line of a TRANSMIT reply the board
  prints one invalid line (not hex, the wrong length, bytes that are not
  ASCII), as line noise or a buggy sketch would.  The data lines themselves
  stay intact; `FirmwareCounters.garbage` counts the invalid lines.
* `stray_every=k`: after every k-th data line it prints a stray `<id>40` or
  `<id>61`, the replies wire.md says a server must tolerate anywhere
  (`FirmwareCounters.strays`).
* `babble=True`: the board answers every line with noise and obeys nothing
  (a board on the wrong baud rate, or another device on the port).
* `start_reply="silent"`: START starts logging but is never acknowledged;
  `"ignore"`: START is neither obeyed nor answered (a lost command).
"""

from __future__ import annotations

from dataclasses import dataclass

#: The invalid lines `garbage_every` cycles through (none holds a line feed).
GARBAGE_LINES: tuple[bytes, ...] = (
    b"zz" + b"q" * 26,  # 28 characters, not hex
    b"0badc0de",  # hex, but too long for a reply and too short for data
    bytes(range(0x80, 0x9C)),  # 28 bytes that are not ASCII
    b"08a0000000\x00\x01\x02\xffgarbage",  # control bytes inside
    b"08a0" + b"g" * 60,  # long and not hex
    b"hello, world",  # text
)

#: What a babbling board prints for every line it receives.
BABBLE_LINE = b"\xfe\x7f~~\x80 noise \x9b\x1b[0m \xc3"

_START_REPLIES = ("ack", "silent", "ignore")


@dataclass(frozen=True)
class Faults:
    """The faults of one simulated board (all off by default)."""

    garbage_every: int = 0
    stray_every: int = 0
    babble: bool = False
    start_reply: str = "ack"

    def __post_init__(self) -> None:
        for name in ("garbage_every", "stray_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"expected {name} >= 0, got {getattr(self, name)!r}")
        if self.start_reply not in _START_REPLIES:
            raise ValueError(f"expected start_reply to be one of {', '.join(_START_REPLIES)}, "
                             f"got {self.start_reply!r}")


def garbage_line(number: int) -> bytes:
    """The `number`-th invalid line (0-based) of the rotation."""
    return GARBAGE_LINES[number % len(GARBAGE_LINES)]


__all__ = ["BABBLE_LINE", "GARBAGE_LINES", "Faults", "garbage_line"]
