"""Rendering of data lines and the boards' value models."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blitz.boards import BlitzBasicBoard, Board, MotorBoard, Variable
from blitz.errors import BoardError
from blitz.protocol import Message, split_meta
from blitz.simulator import (
    MotorModel,
    WaveformModel,
    make_model,
    render_rows,
    resolve_board,
    rows_to_lines,
    uniform,
)
from blitz.simulator.models import pack_payload

u32 = st.integers(min_value=0, max_value=2**32 - 1)
u64 = st.integers(min_value=0, max_value=2**64 - 1)


@given(
    st.integers(min_value=0, max_value=255),
    st.lists(st.tuples(st.integers(min_value=0, max_value=255), u32, u64), min_size=1, max_size=20),
)
@settings(max_examples=100, deadline=None)
def test_rendered_rows_parse_back_to_the_same_messages(sender: int, rows: list[tuple[int, int, int]]) -> None:
    metas, stamps, payloads = (np.array(column, dtype=np.uint64) for column in zip(*rows))
    matrix = render_rows(sender, metas, stamps, payloads)
    assert matrix.tobytes().count(b"\r\n") == len(rows)
    for line, (meta, stamp, payload) in zip(rows_to_lines(matrix), rows):
        kind, flags = split_meta(meta)
        expected = Message(sender=sender, type=kind, flags=flags, timestamp=stamp, payload=payload)
        assert line == expected.render()
        assert line == line.lower()


def test_render_matches_the_wire_md_test_vector() -> None:
    matrix = render_rows(0x05, 0x75, 21845, 0xCCCCCCCC00000000)
    assert matrix.tobytes() == b"057500005555cccccccc00000000\r\n"


@given(st.lists(st.integers(min_value=0, max_value=4095), min_size=5, max_size=5))
def test_pack_payload_agrees_with_board_encode(values: list[int]) -> None:
    board = BlitzBasicBoard()
    named = dict(zip(board.variable_names, values))
    packed = pack_payload(board, {name: np.array([value]) for name, value in named.items()}, 1)
    assert int(packed[0]) == board.encode(named).payload


def test_uniform_is_counter_based_and_seeded() -> None:
    indices = np.arange(10_000)
    values = uniform(1, 8, 0, indices)
    assert 0 <= values.min() and values.max() < 1
    assert abs(values.mean() - 0.5) < 0.02
    assert np.array_equal(uniform(1, 8, 0, indices[5000:5010]), values[5000:5010])
    assert not np.array_equal(uniform(2, 8, 0, indices), values)
    assert not np.array_equal(uniform(1, 9, 0, indices), values)
    assert not np.array_equal(uniform(1, 8, 1, indices), values)


def test_waveforms_fit_signed_and_wide_variables() -> None:
    board = Board(
        id=0x30,
        description="mixed",
        variables=[Variable("a", 0, 8, signed=True), Variable("b", 8, 40), Variable("c", 48, 16)],
    )
    model = WaveformModel(board, 3, 100.0)
    values = model.values(np.arange(5000))
    assert -128 <= values["a"].min() < 0 < values["a"].max() <= 127
    assert 0 <= values["b"].min() and values["b"].max() < 2**40
    flags, payload = model.payloads(np.arange(5000))
    decoded = board.decode_columns(board.decode_lines(rows_to_lines(render_rows(0x30, 0xA0 | flags, 0, payload)))[0])
    assert np.array_equal(decoded["a"], values["a"].astype(float))


def test_make_model_picks_the_motor_sketch_for_the_motor_board() -> None:
    assert isinstance(make_model(MotorBoard(), 0, 10), MotorModel)
    assert isinstance(make_model(BlitzBasicBoard(), 0, 10), WaveformModel)


def test_resolve_board_names_ids_and_refusals() -> None:
    assert isinstance(resolve_board("basic"), BlitzBasicBoard)
    assert isinstance(resolve_board("0x09"), MotorBoard)
    assert isinstance(resolve_board(8), BlitzBasicBoard)
    assert resolve_board("3C").id == 0x3C
    with pytest.raises(BoardError, match="not a serial board"):
        resolve_board("0a")
    with pytest.raises(BoardError, match="unknown board 'servo'"):
        resolve_board("servo")
