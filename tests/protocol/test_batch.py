"""The vectorised decoder agrees with the one-line parser on every input."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from blitz.protocol import Message, MessageError, decode_lines

HEX = "0123456789abcdef"


def test_vectors_as_columns():
    cols = decode_lines(["e32800002f19572076ac00000000", "057500005555cccccccc00000000\r\n"])
    assert cols.sender.tolist() == [227, 5]
    assert cols.type.tolist() == [1, 3]
    assert cols.flags.tolist() == [[False, True, False, False, False], [True, False, True, False, True]]
    assert cols.timestamp.tolist() == [12057, 21845]
    assert cols.payload.tolist() == [6278148361660923904, 0xCCCCCCCC00000000]
    assert [int(cols.field(i * 12, 12)[1]) for i in range(5)] == [3276, 3276, 3264, 0, 0]
    assert (int(cols.field(0, 16)[0]), int(cols.field(16, 16)[0])) == (22304, 30380)


def test_bytes_and_str_inputs_agree():
    lines = ["e32800002f19572076ac00000000", "057500005555cccccccc00000000"]
    a = decode_lines(lines)
    b = decode_lines([x.encode() for x in lines])
    assert a.payload.tolist() == b.payload.tolist()
    mixed = decode_lines([lines[0], lines[1].encode()])
    assert mixed.payload.tolist() == a.payload.tolist()


def test_bad_lines_are_listed_with_reasons_and_good_ones_kept():
    lines = ["zz", "0840", "e32800002f19572076ac00000000", "", "e32800002f19572076ac0000000\u00e9"]
    cols = decode_lines(lines)
    assert cols.index.tolist() == [2]
    reasons = dict(cols.errors)
    assert set(reasons) == {0, 1, 3, 4}
    assert "'z' at position 0" in reasons[0]
    assert "at least 28 hex chars, got 4" in reasons[1]
    assert "empty line" in reasons[3]
    assert "position 27" in reasons[4]
    assert all(reason.startswith(f"line {i}: ") for i, reason in cols.errors)


def test_stray_whitespace_at_either_end_is_tolerated():
    cols = decode_lines(["\re32800002f19572076ac00000000", " e32800002f19572076ac00000000\r"])
    assert cols.index.tolist() == [0, 1]
    assert cols.timestamp.tolist() == [12057, 12057]


def test_extended_payload_fields():
    words = list(range(100, 116))
    line = "0A50" + "0000000F" + "".join(f"{w:08X}" for w in words)
    cols = decode_lines([line], payload_bits=512)
    assert [int(cols.field(32 * i, 32)[0]) for i in range(16)] == words
    short = decode_lines(["0a5000000000" + "0" * 16], payload_bits=512)
    assert len(short) == 0 and "at least 140 hex chars, got 28" in short.errors[0][1]


def test_empty_batch():
    cols = decode_lines([])
    assert len(cols) == 0 and cols.payload.shape == (0,)


def test_field_bounds_are_checked():
    cols = decode_lines(["e32800002f19572076ac00000000"])
    with pytest.raises(ValueError, match="outside the 64-bit payload"):
        cols.field(60, 8)
    with pytest.raises(ValueError, match="width of 1-64"):
        cols.field(0, 65)


line_text = st.one_of(
    st.text(alphabet=HEX + HEX.upper(), min_size=28, max_size=60),
    st.text(alphabet=HEX + "xyz \r\t", min_size=0, max_size=40),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(line_text, min_size=1, max_size=30))
def test_batch_matches_single_line_parser(lines):
    cols = decode_lines(lines)
    good = set(cols.index.tolist())
    for i, line in enumerate(lines):
        try:
            message = Message.parse(line)
        except MessageError:
            assert i not in good
            continue
        assert i in good
        row = cols.index.tolist().index(i)
        assert int(cols.sender[row]) == message.sender
        assert int(cols.meta[row]) == message.meta
        assert int(cols.timestamp[row]) == message.timestamp
        assert int(cols.payload[row]) == message.payload >> (message.payload_bits - 64)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**64 - 1), st.integers(0, 63), st.data())
def test_field_matches_integer_arithmetic(payload, offset, data):
    width = data.draw(st.integers(1, 64 - offset))
    line = f"0000{0:08x}{payload:016x}"
    cols = decode_lines([line])
    expected = (payload >> (64 - offset - width)) & ((1 << width) - 1)
    assert int(cols.field(offset, width)[0]) == expected
    assert cols.field(offset, width).dtype == np.uint64
