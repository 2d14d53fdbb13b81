"""The simulator's fault options (blitz.simulator.faults) do what the board tests rely on."""

from __future__ import annotations

import pytest

from blitz.simulator import Faults, Firmware, make_model, resolve_board
from blitz.simulator.faults import BABBLE_LINE, GARBAGE_LINES
from tests.simulator.helpers import FakeClock, status_of

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]


def firmware(faults: Faults, rate_hz: float = 1000.0) -> tuple[Firmware, FakeClock]:
    clock = FakeClock(5000.0)
    board = Firmware(make_model(resolve_board("basic"), 3, rate_hz), clock_ms=clock, faults=faults, record=True)
    return board, clock


def split(reply: bytes) -> list[bytes]:
    assert reply.endswith(b"\r\n")
    return reply.split(b"\r\n")[:-1]


def test_garbage_lines_sit_between_intact_data_lines() -> None:
    board, clock = firmware(Faults(garbage_every=3))
    assert board.receive(b"0800\n") == b"0840\r\n"
    clock.advance(20.0)  # 20 messages
    lines = split(board.receive(b"08c0\n"))
    assert lines[-1] == b"0840"
    data = [line for line in lines[:-1] if line not in GARBAGE_LINES]
    garbage = [line for line in lines[:-1] if line in GARBAGE_LINES]
    assert [line.decode() for line in data] == board.generated_lines()
    assert len(garbage) == 20 // 3 == board.counters.garbage
    assert lines[3] in GARBAGE_LINES and lines[7] in GARBAGE_LINES  # after data lines 3 and 6
    clock.advance(4.0)  # the rotation goes on across replies: after line 21 and 24
    more = split(board.receive(b"08c0\n"))[:-1]
    assert [line in GARBAGE_LINES for line in more] == [False, True, False, False, False, True]
    assert board.counters.transmitted == 24 and board.counters.garbage == 8


def test_every_garbage_line_is_invalid_and_holds_no_line_feed() -> None:
    for line in GARBAGE_LINES:
        assert b"\n" not in line and b"\r" not in line
        text = line.decode("latin-1")
        is_hex = all(c in "0123456789abcdefABCDEF" for c in text)
        assert not is_hex or 5 <= len(line) <= 27, line


def test_stray_replies_alternate_40_and_61() -> None:
    board, clock = firmware(Faults(stray_every=2))
    board.receive(b"0800\n")
    clock.advance(4.0)
    lines = split(board.receive(b"08c0\n"))
    assert lines[2] == b"0840" and lines[5] == b"0861" and lines[-1] == b"0840"
    assert len(lines) == 4 + 2 + 1 and board.counters.strays == 2


def test_babbling_board_answers_noise_and_obeys_nothing() -> None:
    board, clock = firmware(Faults(babble=True))
    assert board.receive(b"0081\n0800\n08c0\n") == (BABBLE_LINE + b"\r\n") * 3
    clock.advance(50.0)
    assert not board.logging and board.counters.generated == 0 and board.counters.garbage == 3


@pytest.mark.parametrize(("mode", "reply", "logging"), [("ack", b"0840\r\n", True), ("silent", b"", True),
                                                        ("ignore", b"", False)])
def test_start_reply_modes(mode: str, reply: bytes, logging: bool) -> None:
    board, clock = firmware(Faults(start_reply=mode))
    assert board.receive(b"0800\n") == reply
    assert board.logging is logging
    clock.advance(10.0)
    assert status_of(board)[1] is logging
    transmit = board.receive(b"08c0\n")
    assert transmit.endswith(b"0840\r\n" if logging else b"0866\r\n")
    assert board.receive(b"0820\n") == b"0840\r\n"  # STOP is not affected


def test_fault_options_are_checked() -> None:
    with pytest.raises(ValueError, match="garbage_every"):
        Faults(garbage_every=-1)
    with pytest.raises(ValueError, match="start_reply"):
        Faults(start_reply="sometimes")
    assert Faults() == Faults(garbage_every=0, stray_every=0, babble=False, start_reply="ack")
