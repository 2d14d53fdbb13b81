"""Declarative boards: the generic decoder, its validation, and round trips."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from blitz.boards import (
    BUILTIN_BOARDS,
    BlitzBasicBoard,
    Board,
    MotorBoard,
    NetScannerBoard,
    NetScannerBoardTwo,
    Variable,
)
from blitz.errors import BoardDefinitionError, BoardError, MessageError
from blitz.protocol import Message


def test_wire_md_decodings():
    assert BlitzBasicBoard().decode("057500005555cccccccc00000000") == {
        "adc_channel_one": 3276,
        "adc_channel_two": 3276,
        "adc_channel_three": 3264,
        "adc_channel_four": 0,
        "adc_channel_five": 0,
    }
    two_words = Board(id=0xE3, description="two words", variables=[Variable("a", 0, 16), Variable("b", 16, 16)])
    assert two_words.decode("e32800002f19572076ac00000000") == {"a": 22304, "b": 30380}


def test_builtin_board_identities():
    ids = {cls.id: cls().description for cls in BUILTIN_BOARDS}
    assert ids == {
        0x08: "Blitz Basic expansion board",
        0x09: "Motor expansion board",
        0x0A: "NetScanner ethernet interface, channels 1-16",
        0x0B: "NetScanner ethernet interface, channels 17-32",
    }
    assert MotorBoard().variable_names == ["raw_adc", "motor_value", "set_point"]
    assert NetScannerBoard().variable_names[0] == "Channel_1"
    assert NetScannerBoardTwo().variable_names[-1] == "Channel_32"


def test_netscanner_line_in_upper_case_with_type_two():
    raws = [int(2e6 + 1e6 * v) for v in (1.5, -2.0, 0.25) + (0.0,) * 13]
    line = "0A50" + "000003E8" + "".join(f"{r:08X}" for r in raws)
    values = NetScannerBoard().decode(line)
    assert values["Channel_1"] == pytest.approx(1.5)
    assert values["Channel_2"] == pytest.approx(-2.0)
    assert values["Channel_3"] == pytest.approx(0.25)
    assert NetScannerBoardTwo().decode(line.replace("0A50", "0B50", 1))["Channel_17"] == pytest.approx(1.5)


def test_netscanner_needs_the_extended_line():
    with pytest.raises(MessageError, match="needs 512 payload bits, the line has 64"):
        NetScannerBoard().decode("0a5000000000" + "0" * 16)


def test_signed_scaled_variables():
    board = Board(
        id=0x30,
        description="signed",
        variables=[Variable("t", 0, 8, signed=True, scale=0.5, offset=10, unit="C"), Variable("u", 8, 4)],
    )
    message = Message(sender=0x30, type=5, payload=(0xFE << 56) | (0x7 << 52))
    assert board.decode(message) == {"t": 9.0, "u": 7}
    cols, values = board.decode_lines([str(message)])
    assert values["t"].tolist() == [9.0] and values["u"].tolist() == [7.0]


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(name="1abc", bit_offset=0, width=4), "variable name"),
        (dict(name="class", bit_offset=0, width=4), "variable name"),
        (dict(name="a", bit_offset=-1, width=4), "bit_offset must be an integer >= 0"),
        (dict(name="a", bit_offset=0, width=0), "width must be an integer from 1 to 64"),
        (dict(name="a", bit_offset=0, width=65), "width must be an integer from 1 to 64"),
        (dict(name="a", bit_offset=0, width=True), "width must be an integer"),
        (dict(name="a", bit_offset=0, width=4, scale=0), "scale must not be 0"),
        (dict(name="a", bit_offset=0, width=4, scale="x"), "scale must be a number"),
    ],
)
def test_bad_variables(kwargs, message):
    with pytest.raises(BoardDefinitionError, match=message):
        Variable(**kwargs)


def test_bad_boards():
    ok = [Variable("a", 0, 8)]
    with pytest.raises(BoardDefinitionError, match="board id must be an integer 0-255"):
        Board(id=256, description="x", variables=ok)
    with pytest.raises(BoardDefinitionError, match="description"):
        Board(id=1, description=" ", variables=ok)
    with pytest.raises(BoardDefinitionError, match="defines no variables"):
        Board(id=1, description="x", variables=[])
    with pytest.raises(BoardDefinitionError, match="defined twice"):
        Board(id=1, description="x", variables=ok + ok)
    with pytest.raises(BoardDefinitionError, match="past the 64-bit payload"):
        Board(id=1, description="x", variables=[Variable("a", 60, 8)])


def test_encode_rejects_unknown_and_out_of_range():
    with pytest.raises(BoardError, match="no variable 'nope'"):
        BlitzBasicBoard().encode({"nope": 1})
    with pytest.raises(BoardError, match="outside"):
        BlitzBasicBoard().encode({"adc_channel_one": 4096})


def _board_values(board):
    def value_for(var):
        raw = (
            st.integers(-(1 << (var.width - 1)), (1 << (var.width - 1)) - 1)
            if var.signed
            else st.integers(0, (1 << var.width) - 1)
        )
        return raw.map(lambda r: r * var.scale + var.offset if not var.is_raw else r)

    return st.fixed_dictionaries({var.name: value_for(var) for var in board.variables})


@pytest.mark.parametrize("board_class", BUILTIN_BOARDS, ids=lambda c: c.__name__)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_every_builtin_board_round_trips(board_class, data):
    board = board_class()
    values = data.draw(_board_values(board))
    timestamp = data.draw(st.integers(0, 2**32 - 1))
    line = str(board.encode(values, timestamp=timestamp))
    decoded = board.decode(line)
    assert decoded.keys() == values.keys()
    for name, value in values.items():
        assert decoded[name] == pytest.approx(value, abs=1e-9)
    _, columns = board.decode_lines([line, line.upper()])
    for name, value in values.items():
        assert np.allclose(columns[name], value, atol=1e-9)


variable_layouts = st.lists(
    st.tuples(st.integers(1, 64), st.booleans(), st.sampled_from([1.0, 0.5, -2.0, 1e-3]), st.sampled_from([0.0, 3.0])),
    min_size=1,
    max_size=6,
)


@settings(max_examples=100, deadline=None)
@given(layout=variable_layouts, data=st.data())
def test_any_declared_board_round_trips(layout, data):
    variables, bit = [], 0
    for number, (width, signed, scale, offset) in enumerate(layout):
        if scale != 1 or offset != 0:
            width = min(width, 52)  # a scaled value is a float: 53 bits of mantissa
        variables.append(Variable(f"v{number}", bit, width, signed, scale, offset))
        bit += width
    payload_bits = max(64, (bit + 3) // 4 * 4)
    board = Board(id=0x42, description="generated", variables=variables, payload_bits=payload_bits)
    values = data.draw(_board_values(board))
    line = str(board.encode(values))
    scalar = board.decode(line)
    _, columns = board.decode_lines([line])
    for var in variables:
        expected = values[var.name]
        assert scalar[var.name] == pytest.approx(expected, rel=1e-12, abs=1e-9)
        # float64 columns hold 53 bits exactly; wider raw values round
        assert columns[var.name][0] == pytest.approx(float(expected), rel=1e-12, abs=1e-9)
