"""Arbitrary input to the line parsers and the chunk decoder: an error that says so, never a crash.

blitz.protocol parses board lines one at a time (`parse_line`) and in bulk
(`decode_lines`); blitz.boards.decode_chunk decodes a download chunk of
mixed boards.  Whatever the lines hold (any text, any bytes, str and bytes
mixed, NULs, CRs, the wrong length), the single-line parser raises only
MessageError, the batch decoders never raise, and both agree on which lines
are data and what they say.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from blitz.boards import BlitzBasicBoard, MotorBoard, decode_chunk
from blitz.boards.builtin import BUILTIN_BOARDS
from blitz.errors import MessageError
from blitz.protocol import Message, ShortResponse, decode_lines, parse_line

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

HEX = "0123456789abcdefABCDEF"
GOOD = "08a000002f19572076ac00000000"

hex_lines = st.text(HEX, min_size=0, max_size=40)
noisy_lines = st.one_of(
    hex_lines,
    hex_lines.map(lambda t: t + "\r"),
    st.builds(lambda a, c, b: a + c + b, hex_lines, st.sampled_from(["\x00", " ", "\t", "\r", "g", "é", "\u2028",
                                                                      "\n", "\x85", "💥"]), hex_lines),
    st.text(max_size=40),
    st.just(GOOD), st.sampled_from([GOOD.upper(), " " + GOOD, GOOD + "\r\n", "\x00" + GOOD, GOOD + "\x00",
                                    GOOD + "00ff", "0840", "08", ""]),
)
byte_lines = st.one_of(noisy_lines.map(lambda t: t.encode("utf-8")), st.binary(max_size=40))
any_lines = st.one_of(noisy_lines, byte_lines)


def single(line: str | bytes) -> Message | ShortResponse | None:
    """parse_line's verdict: the parsed line, or None for a MessageError (the only error allowed)."""
    try:
        return parse_line(line)
    except MessageError:
        return None


@settings(max_examples=400, deadline=None)
@given(line=any_lines)
@example(line=GOOD + "\x00")
@example(line=b"\x00" + GOOD.encode())
def test_parse_line_raises_only_message_errors_and_renders_back(line: str | bytes) -> None:
    parsed = single(line)
    if isinstance(parsed, Message):
        assert parse_line(parsed.render()) == parsed
    elif isinstance(parsed, ShortResponse):
        assert parse_line(parsed.render()) == parsed


@settings(max_examples=300, deadline=None)
@given(lines=st.one_of(st.lists(noisy_lines, max_size=12), st.lists(byte_lines, max_size=12),
                       st.lists(any_lines, max_size=12)))
@example(lines=[GOOD + "\x00", "\x00" + GOOD, GOOD])
@example(lines=[GOOD, b"\x80"])
def test_batch_decoding_agrees_with_the_single_line_parser(lines: list[str | bytes]) -> None:
    columns = decode_lines(lines)
    assert len(columns) + len(columns.errors) == len(lines)
    assert sorted(columns.index.tolist() + [i for i, _ in columns.errors]) == list(range(len(lines)))
    for row, index in enumerate(columns.index.tolist()):
        parsed = single(lines[index])
        assert isinstance(parsed, Message), (lines[index], parsed)
        assert (parsed.sender, parsed.meta, parsed.timestamp) == (
            columns.sender[row], columns.meta[row], columns.timestamp[row])
        assert parsed.payload >> (parsed.payload_bits - 64) == int(columns.payload[row])
    for index, reason in columns.errors:
        assert reason.startswith(f"line {index}: ")
        assert not isinstance(single(lines[index]), Message), lines[index]


boards = {board.id: board() for board in BUILTIN_BOARDS}


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(st.one_of(any_lines, st.builds(
    lambda sender, rest: f"{sender:02x}" + rest, st.sampled_from([0x08, 0x09, 0x0A, 0x0B, 0x42]),
    st.text(HEX, min_size=26, max_size=140))), max_size=15), carry=st.booleans())
def test_decode_chunk_never_raises_and_accounts_for_every_line(lines: list[str | bytes], carry: bool) -> None:
    last: dict[int, int] | None = {} if carry else None
    chunk = decode_chunk(lines, boards, last)
    unknown = sum(chunk.unknown.values())
    assert chunk.messages == len(lines)
    assert chunk.decoded_messages + len(chunk.errors) + unknown == len(lines), (chunk, lines)
    assert len(chunk.time_logged) == len(chunk.name_index) == len(chunk.value)
    assert not np.isnan(chunk.value).any()
    if len(chunk):
        assert 0 <= chunk.name_index.min() and chunk.name_index.max() < len(chunk.names)
    for sender in chunk.unknown:
        assert sender not in boards
    # every decoded value is what the one-line decoder says
    expected: dict[str, list[float]] = {}
    for line in lines:
        message = single(line)
        board = boards.get(message.sender) if isinstance(message, Message) else None
        if board is None or message.payload_bits < board.payload_bits:  # type: ignore[union-attr]
            continue
        for name, value in board.decode(message).items():  # type: ignore[arg-type]
            expected.setdefault(name, []).append(float(value))
    got: dict[str, list[float]] = {}
    for index, value in zip(chunk.name_index.tolist(), chunk.value.tolist()):
        got.setdefault(chunk.names[index], []).append(value)
    assert {k: sorted(v) for k, v in got.items()} == {k: sorted(v) for k, v in expected.items()}


def test_the_builtin_boards_are_the_ones_fuzzed() -> None:
    assert {BlitzBasicBoard.id, MotorBoard.id, 0x0A, 0x0B} <= set(boards)
