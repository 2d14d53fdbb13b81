"""The firmware state machine: every command, reply and framing quirk of wire.md."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blitz.boards import MotorBoard
from blitz.protocol import Message, render_command
from blitz.simulator import Firmware, parse_words
from tests.simulator.conftest import FirmwareFactory
from tests.simulator.helpers import FakeClock, feed, lines_of, status_of

CHUNK_SIZES = range(1, 10)


@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
def test_id_is_answered_whatever_id_the_request_carries(make_firmware: FirmwareFactory, chunk_size: int) -> None:
    firmware = make_firmware("basic")
    reply = feed(firmware, b"0081\nff81\n0981\r\n0881\n", chunk_size)
    assert lines_of(reply) == ["0882"] * 4


def test_replies_carry_the_boards_own_id(make_firmware: FirmwareFactory) -> None:
    assert make_firmware("motor").receive(b"0881\n") == b"0982\r\n"
    assert make_firmware("0c").receive(b"0081\n0000\n") == b"0c82\r\n0c40\r\n"


@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
def test_every_command_is_obeyed_by_whichever_board_is_on_the_port(
    make_firmware: FirmwareFactory, chunk_size: int
) -> None:
    firmware = make_firmware("basic")
    reply = feed(firmware, b"0900\n7720\n", chunk_size)  # START and STOP for other ids
    assert lines_of(reply) == ["0840", "0840"]


@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
def test_empty_line_answers_61_then_runs_as_start(
    make_firmware: FirmwareFactory, clock: FakeClock, chunk_size: int
) -> None:
    firmware = make_firmware("basic", rate_hz=100)
    firmware.receive(b"0800\n")
    clock.advance(100)  # 10 messages waiting
    assert status_of(firmware)[1:] == (True, 10, 0)
    reply = feed(firmware, b"\n", chunk_size)
    assert lines_of(reply) == ["0861", "0840"]
    assert firmware.counters.dropped == 10
    assert status_of(firmware)[1:] == (True, 0, 0)
    assert lines_of(firmware.receive(b"08c0\n")) == ["0840"]  # nothing left to send


def test_crlf_alone_is_an_empty_line_too(make_firmware: FirmwareFactory) -> None:
    firmware = make_firmware("basic")
    assert lines_of(firmware.receive(b"\r\n")) == ["0861", "0840"]
    assert firmware.logging


def test_empty_line_resets_the_elapsed_clock(make_firmware: FirmwareFactory, clock: FakeClock) -> None:
    firmware = make_firmware("basic", rate_hz=10, timestamps="elapsed")
    firmware.receive(b"0800\n")
    clock.advance(1000)
    firmware.receive(b"\n")
    clock.advance(100)
    (line, ack) = lines_of(firmware.receive(b"08c0\n"))
    assert Message.parse(line).timestamp == 100
    assert ack == "0840"


@pytest.mark.parametrize("line", [b"0", b"08", b"0c0", b"\r0c\r0"])
def test_one_to_three_characters_answer_61_and_do_nothing_else(make_firmware: FirmwareFactory, line: bytes) -> None:
    firmware = make_firmware("basic")
    assert lines_of(firmware.receive(line + b"\n")) == ["0861"]
    assert not firmware.logging
    assert firmware.counters.errors == 1


@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
def test_over_long_line_answers_62_once_and_is_not_obeyed(make_firmware: FirmwareFactory, chunk_size: int) -> None:
    firmware = make_firmware("basic")
    # 28 characters of a START (meta 00): obeyed it would answer 0840 and log
    too_long = b"0800" + b"0" * 24
    assert len(too_long) == 28
    reply = feed(firmware, too_long + b"\n" + b"0c00" * 20 + b"\r\n" + b"0881\n", chunk_size)
    assert lines_of(reply) == ["0862", "0862", "0882"]
    assert not firmware.logging


def test_62_is_sent_as_soon_as_the_28th_character_arrives(make_firmware: FirmwareFactory) -> None:
    firmware = make_firmware("basic")
    assert firmware.receive(b"0" * 27) == b""
    assert firmware.receive(b"0") == b"0862\r\n"
    assert firmware.receive(b"0" * 100) == b""  # the rest of the line is discarded
    assert firmware.receive(b"\n0081\n") == b"0882\r\n"


def test_carriage_returns_do_not_count_towards_the_27(make_firmware: FirmwareFactory) -> None:
    firmware = make_firmware("motor")
    line = render_command(0x09, 0x85, [40, 0, 0, 0]).encode()
    assert len(line) == 27
    assert firmware.receive(b"\r" + line + b"\r\n") == b""  # handled: no reply
    assert firmware.model.set_point == 40  # type: ignore[attr-defined]


def test_words_are_read_only_from_27_character_lines() -> None:
    line = b"0085" + b"00000000" + b"1234" + b"5678" + b"9abc" + b"def"
    assert len(line) == 27
    assert parse_words(line) == (0x1234, 0x5678, 0x9ABC, 0xDEF0)  # word 4's last nibble reads 0
    assert parse_words(line[:26]) == (0, 0, 0, 0)
    assert parse_words(b"0085") == (0, 0, 0, 0)


def test_non_hex_characters_read_as_zero_nibbles() -> None:
    line = b"0085" + b"00000000" + b"00z1" + b"ABCD" + b"0000" + b"000"
    assert parse_words(line) == (0x0001, 0xABCD, 0, 0)


@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
def test_motor_words_of_a_27_character_line_move_the_set_point(
    make_firmware: FirmwareFactory, clock: FakeClock, chunk_size: int
) -> None:
    firmware = make_firmware("motor", rate_hz=10)
    firmware.receive(b"0900\n")
    full = render_command(0x09, 0x85, [40]).encode() + b"\n"
    assert feed(firmware, full, chunk_size) == b""
    clock.advance(100)
    data, ack = lines_of(firmware.receive(b"09c0\n"))
    assert MotorBoard().decode(data)["set_point"] == 40
    short = (render_command(0x09, 0x85, [30]).encode())[:26] + b"\n"  # words then read as 0
    assert feed(firmware, short, chunk_size) == b""
    clock.advance(100)
    data, ack = lines_of(firmware.receive(b"09c0\n"))
    assert MotorBoard().decode(data)["set_point"] == 0


@pytest.mark.parametrize("meta", [b"40", b"5f", b"60", b"7f", b"a0", b"bf", b"e0", b"ff"])
def test_ack_error_data_and_extended_answer_64(make_firmware: FirmwareFactory, meta: bytes) -> None:
    firmware = make_firmware("basic")
    assert firmware.receive(b"08" + meta + b"\n") == b"0864\r\n"


@pytest.mark.parametrize("meta", [b"80", b"82", b"84", b"85", b"86", b"87", b"88", b"9f", b"8Z"])
def test_basic_board_answers_65_to_instructions_it_does_not_handle(
    make_firmware: FirmwareFactory, meta: bytes
) -> None:
    assert make_firmware("basic").receive(b"08" + meta + b"\n") == b"0865\r\n"


@pytest.mark.parametrize("meta", [b"85", b"86", b"87"])
def test_motor_instructions_get_no_reply_at_all(make_firmware: FirmwareFactory, meta: bytes) -> None:
    firmware = make_firmware("motor")
    assert firmware.receive(b"09" + meta + b"\n") == b""
    assert firmware.receive(b"0988\n") == b"0965\r\n"


def test_uppercase_hex_is_read_like_lowercase(make_firmware: FirmwareFactory) -> None:
    firmware = make_firmware("basic")
    assert lines_of(firmware.receive(b"0000\n00C0\n00A0\n")) == ["0840", "0840", "0864"]


def test_transmit_while_not_logging_answers_66(make_firmware: FirmwareFactory, clock: FakeClock) -> None:
    firmware = make_firmware("basic")
    assert firmware.receive(b"08c0\n") == b"0866\r\n"
    firmware.receive(b"0800\n")
    clock.advance(50)
    firmware.receive(b"0820\n")
    assert firmware.receive(b"08c0\n") == b"0866\r\n"
    assert firmware.pending == 5  # kept, but unreachable until START drops them
    firmware.receive(b"0800\n")
    assert firmware.counters.dropped == 5


def test_transmit_sends_every_unsent_message_oldest_first_then_40(
    make_firmware: FirmwareFactory, clock: FakeClock
) -> None:
    firmware = make_firmware("basic", rate_hz=100, record=True)
    firmware.receive(b"0800\n")
    clock.advance(30)
    first = lines_of(firmware.receive(b"08c0\n"))
    clock.advance(45)
    second = lines_of(firmware.receive(b"08c0\n"))
    assert first[-1] == second[-1] == "0840"
    assert first[:-1] + second[:-1] == firmware.generated_lines()
    assert len(first) == 4 and len(second) == 5
    assert lines_of(firmware.receive(b"08c0\n")) == ["0840"]
    assert firmware.counters.transmitted == 7


def test_status_payload_packs_logging_buffer_index_and_send_index(
    make_firmware: FirmwareFactory, clock: FakeClock
) -> None:
    firmware = make_firmware("basic", rate_hz=100, buffer_size=180)
    message, logging, buffer_index, send_index = status_of(firmware)
    assert (message.sender, message.meta, message.timestamp) == (0x08, 0x84, 0)
    assert (logging, buffer_index, send_index) == (False, 0, 0)
    assert message.payload == 0
    firmware.receive(b"0800\n")
    clock.advance(1234.6)
    message, logging, buffer_index, send_index = status_of(firmware)
    assert message.timestamp == 1234  # always millis()
    assert (logging, buffer_index, send_index) == (True, 123 % 180, 0)
    assert message.payload & ((1 << 43) - 1) == 0
    firmware.receive(b"08c0\n")
    assert status_of(firmware)[1:] == (True, 123, 123)
    clock.advance(800)  # 80 more: 203 written, wraps at 180
    assert status_of(firmware)[1:] == (True, 203 % 180, 123)


def test_status_timestamp_is_millis_even_with_elapsed_timestamps(
    make_firmware: FirmwareFactory, clock: FakeClock
) -> None:
    firmware = make_firmware("basic", timestamps="elapsed")
    clock.advance(500)
    firmware.receive(b"0800\n")
    clock.advance(20)
    assert status_of(firmware)[0].timestamp == 520


@given(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=30))
@settings(max_examples=60, deadline=None)
def test_random_chunk_splits_give_the_same_replies(cuts: list[int]) -> None:
    commands = (
        b"0081\n0800\n\n0883\n" + b"1" * 40 + b"\n08c0\r\n0820\n08c0\n" + b"0a\n0840\n0885\n08e0\n0800\n08c0\n"
    )
    clock = FakeClock()
    whole = _basic(clock).receive(commands)
    split = _basic(clock)
    pieces, position = [], 0
    for cut in cuts:
        pieces.append(split.receive(commands[position : position + cut]))
        position += cut
    pieces.append(split.receive(commands[position:]))
    assert b"".join(pieces) == whole
    assert lines_of(whole)[:3] == ["0882", "0840", "0861"]


def _basic(clock: FakeClock) -> Firmware:
    from blitz.simulator import make_model, resolve_board

    return Firmware(make_model(resolve_board("basic"), 1, 100.0), clock_ms=clock)
