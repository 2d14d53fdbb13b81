"""BoardProtocol against StringTransport and task.Clock: every reply type, any chunking."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from blitz.server.board_protocol import (
    BoardProtocol,
    BoardReplyError,
    PortLost,
    ReplyTimeout,
    TransmitResult,
    split_valid,
)

DATA = [b"08a000002f19572076ac00000000", b"08a000002f1a572076ac00000001", b"08A000002F1B572076AC00000002"]


def connect(board_id: int | None = 8) -> tuple[BoardProtocol, StringTransport, Clock]:
    clock = Clock()
    protocol = BoardProtocol(clock, reply_timeout_s=1.0, silent_timeout_s=0.3)
    transport = StringTransport()
    protocol.makeConnection(transport)
    protocol.board_id = board_id
    return protocol, transport, clock


def result_of(d: Any) -> Any:
    box: list[Any] = []
    d.addBoth(box.append)
    assert box, "the Deferred has not fired"
    return box[0]


def feed(protocol: BoardProtocol, data: bytes, size: int) -> None:
    for i in range(0, len(data), size):
        protocol.dataReceived(data[i:i + size])


@pytest.mark.parametrize("size", range(1, 10))
def test_transmit_collects_data_lines_in_any_chunking(size: int) -> None:
    protocol, transport, _ = connect()
    d = protocol.transmit()
    assert transport.value() == b"08c0\n"
    feed(protocol, b"".join(line + b"\r\n" for line in DATA) + b"0840\r\n", size)
    result = result_of(d)
    assert isinstance(result, TransmitResult)
    assert result.lines == DATA  # exactly as received, case kept, endings stripped
    assert result.bad == [] and not result.not_logging
    assert not protocol.busy


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=30))
def test_random_chunk_splits_keep_every_line(cuts: list[int]) -> None:
    protocol, _, _ = connect()
    d = protocol.transmit()
    stream = b"".join(line + b"\n" for line in DATA * 5) + b"0840\n"
    position = 0
    for cut in cuts:
        protocol.dataReceived(stream[position:position + cut])
        position += cut
    protocol.dataReceived(stream[position:])
    assert result_of(d).lines == DATA * 5


def test_identify_reads_the_id_from_the_82_reply() -> None:
    protocol, transport, _ = connect(board_id=None)
    d = protocol.identify()
    assert transport.value() == b"0081\n"
    protocol.dataReceived(b"0982\r\n")
    assert result_of(d) == 9
    assert protocol.board_id == 9


def test_stray_61_and_40_are_tolerated_during_the_handshake() -> None:
    protocol, _, _ = connect(board_id=None)
    d = protocol.identify()
    protocol.dataReceived(b"0861\r\n0840\r\n0882\r\n")
    assert result_of(d) == 8
    assert protocol.strays == 2


def test_start_and_stop_wait_for_their_ack_and_are_serialised() -> None:
    protocol, transport, _ = connect()
    started = protocol.start_logging()
    stopped = protocol.stop_logging()
    assert transport.value() == b"0800\n"  # STOP waits for START's reply
    protocol.dataReceived(b"0840\r\n")
    assert result_of(started) is None
    assert transport.value() == b"0800\n0820\n"
    protocol.dataReceived(b"0840\r\n")
    assert result_of(stopped) is None


def test_transmit_66_means_not_logging() -> None:
    protocol, _, _ = connect()
    d = protocol.transmit()
    protocol.dataReceived(b"0866\r\n")
    result = result_of(d)
    assert result.not_logging and result.lines == []


def test_error_code_fails_the_command() -> None:
    protocol, _, _ = connect()
    d = protocol.start_logging()
    protocol.dataReceived(b"0864\r\n")
    failure = result_of(d)
    assert isinstance(failure, Failure) and failure.check(BoardReplyError)
    assert failure.value.code == 0x64
    assert "unknown message" in str(failure.value)


def test_garbage_lines_are_set_aside_not_logged() -> None:
    protocol, _, _ = connect()
    d = protocol.transmit()
    protocol.dataReceived(DATA[0] + b"\r\nxyz\r\n08a0zz002f19572076ac00000000\r\n" + DATA[1] + b"\r\n\r\n0840\r\n")
    result = result_of(d)
    assert result.lines == [DATA[0], DATA[1]]
    assert result.bad == [b"08a0zz002f19572076ac00000000"]
    assert protocol.take_garbage() == [b"xyz", b"08a0zz002f19572076ac00000000"]


def test_stray_40_inside_a_transmit_loses_nothing() -> None:
    protocol, _, _ = connect()
    first = protocol.transmit()
    protocol.dataReceived(DATA[0] + b"\r\n0840\r\n" + DATA[1] + b"\r\n0840\r\n")
    assert result_of(first).lines == [DATA[0]]  # the stray ended it early...
    second = protocol.transmit()
    protocol.dataReceived(DATA[2] + b"\r\n0840\r\n")
    assert result_of(second).lines == [DATA[1], DATA[2]]  # ...and the rest comes next time, in order


def test_stray_61_in_a_transmit_is_ignored() -> None:
    protocol, _, _ = connect()
    d = protocol.transmit()
    protocol.dataReceived(DATA[0] + b"\r\n0861\r\n" + DATA[1] + b"\r\n0840\r\n")
    assert result_of(d).lines == DATA[:2]


def test_timeout_is_an_idle_timeout() -> None:
    protocol, _, clock = connect()
    d = protocol.transmit()
    for line in DATA:
        clock.advance(0.9)
        protocol.dataReceived(line + b"\r\n")
    assert not d.called  # 2.7 s in total, but never 1 s of silence
    clock.advance(1.0)
    failure = result_of(d)
    assert failure.check(ReplyTimeout)
    assert protocol.take_data() == DATA  # what arrived is kept for the next poll


def test_late_reply_after_timeout_goes_to_the_next_transmit() -> None:
    protocol, transport, clock = connect()
    first = protocol.transmit()
    clock.advance(1.0)
    assert result_of(first).check(ReplyTimeout)
    protocol.dataReceived(DATA[0] + b"\r\n0840\r\n")  # the late answer, nobody waiting
    second = protocol.transmit()
    protocol.dataReceived(b"0840\r\n")
    assert result_of(second).lines == [DATA[0]]


def test_status_request_returns_the_84_line() -> None:
    protocol, transport, _ = connect()
    d = protocol.request_status()
    assert transport.value() == b"0883\n"
    protocol.dataReceived(b"08840000abcd8000000000000000\r\n")
    assert result_of(d) == "08840000abcd8000000000000000"


def test_drain_and_stop_writes_both_and_waits_for_two_acks() -> None:
    protocol, transport, _ = connect()
    d = protocol.drain_and_stop()
    assert transport.value() == b"08c0\n0820\n"
    protocol.dataReceived(DATA[0] + b"\r\n0840\r\n")
    assert not d.called
    protocol.dataReceived(b"0840\r\n")
    assert result_of(d).lines == [DATA[0]]


def test_raw_instruction_without_reply_returns_empty_list() -> None:
    protocol, transport, clock = connect(9)
    d = protocol.send_raw(b"098500000000001400000000000")
    assert transport.value() == b"098500000000001400000000000\n"
    clock.advance(0.3)
    assert result_of(d) == []


def test_raw_command_returns_reply_lines_and_maps_errors() -> None:
    protocol, _, clock = connect()
    ok = protocol.send_raw(b"0883")
    protocol.dataReceived(b"08840000abcd8000000000000000\r\n")
    assert result_of(ok) == ["08840000abcd8000000000000000"]
    bad = protocol.send_raw(b"0899")
    protocol.dataReceived(b"0865\r\n")
    assert result_of(bad).check(BoardReplyError).__name__ == "BoardReplyError"
    silent = protocol.send_raw(b"0840")  # not an instruction: silence is an error
    clock.advance(0.3)
    assert result_of(silent).check(ReplyTimeout)


def test_raw_refuses_empty_or_short_lines() -> None:
    protocol, transport, _ = connect()
    for line in (b"", b"08", b"08zz"):
        with pytest.raises(ValueError):
            protocol.send_raw(line)
    assert transport.value() == b""  # never an empty line on the wire


def test_connection_lost_fails_everything_waiting() -> None:
    protocol, _, _ = connect()
    lost: list[str] = []
    protocol.on_lost = lost.append
    first, second = protocol.transmit(), protocol.start_logging()
    protocol.connectionLost(Failure(OSError("gone")))
    assert result_of(first).check(PortLost) and result_of(second).check(PortLost)
    assert lost == ["gone"]
    assert result_of(protocol.transmit()).check(PortLost)


def test_discarding_drops_input_during_the_reset_wait() -> None:
    protocol, _, _ = connect()
    protocol.discarding = True
    protocol.dataReceived(b"08a0000\r\ngarb")
    protocol.discarding = False
    d = protocol.transmit()
    protocol.dataReceived(DATA[0] + b"\n0840\n")
    assert result_of(d).lines == [DATA[0]]
    assert protocol.take_garbage() == []


def test_endless_line_is_dropped_not_fatal() -> None:
    protocol, transport, _ = connect()
    protocol.dataReceived(b"a" * 5000)
    assert not transport.disconnecting
    assert len(protocol.take_garbage()) == 1


def test_split_valid_keeps_order() -> None:
    good, bad = split_valid([DATA[0], b"zz", DATA[1]])
    assert good == [DATA[0], DATA[1]] and bad == [b"zz"]
