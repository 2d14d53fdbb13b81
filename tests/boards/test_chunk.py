"""Decoding mixed-board session chunks into long-format readings."""

import numpy as np
import pytest

from blitz.boards import BlitzBasicBoard, MotorBoard, NetScannerBoard, decode_chunk, load_boards
from blitz.boards.chunk import unwrap_timestamps


@pytest.fixture
def boards():
    return load_boards(entry_points=False)


def test_mixed_boards_become_long_readings(boards):
    basic, motor, scanner = BlitzBasicBoard(), MotorBoard(), NetScannerBoard()
    lines = [
        str(basic.encode({"adc_channel_one": 1, "adc_channel_five": 5}, timestamp=10)),
        str(motor.encode({"raw_adc": 7, "set_point": 40}, timestamp=11)),
        str(scanner.encode({"Channel_2": 0.5}, timestamp=12, type=2, flags=(True, False, False, False, False))).upper(),
        str(basic.encode({"adc_channel_one": 2}, timestamp=20)).encode(),
        "garbage",
        "ff" + "a0" + "0" * 24,
    ]
    chunk = decode_chunk(lines, boards)
    assert chunk.messages == 6 and chunk.decoded_messages == 4
    assert chunk.unknown == {0xFF: 1}
    assert [i for i, _ in chunk.errors] == [4]
    assert len(chunk) == 2 * 5 + 3 + 16
    got = {}
    for t, n, v in zip(chunk.time_logged, chunk.name_index, chunk.value):
        got.setdefault(chunk.names[n], []).append((int(t), float(v)))
    assert got["adc_channel_one"] == [(10, 1.0), (20, 2.0)]
    assert got["adc_channel_five"] == [(10, 5.0), (20, 0.0)]
    assert got["set_point"] == [(11, 40.0)]
    assert got["Channel_2"] == [(12, pytest.approx(0.5))]


def test_short_netscanner_line_is_an_error_with_its_chunk_index(boards):
    lines = [str(BlitzBasicBoard().encode({})), "0a50" + "0" * 24]
    chunk = decode_chunk(lines, boards)
    assert chunk.decoded_messages == 1
    assert chunk.errors == [(1, "line 1: expected at least 140 hex chars, got 28 ('0a50000000000000000000000000')")]


def test_empty_chunk(boards):
    chunk = decode_chunk([], boards)
    assert len(chunk) == 0 and chunk.messages == 0


def test_timestamps_unwrap_across_chunks(boards):
    basic = BlitzBasicBoard()
    state: dict[int, int] = {}
    first = decode_chunk([str(basic.encode({}, timestamp=2**32 - 10))], boards, state)
    second = decode_chunk([str(basic.encode({}, timestamp=5)), str(basic.encode({}, timestamp=15))], boards, state)
    assert first.time_logged[0] == 2**32 - 10
    assert sorted(set(second.time_logged.tolist())) == [2**32 + 5, 2**32 + 15]


def test_unwrap_keeps_small_steps_back():
    stamps = np.array([1000, 10, 20], dtype=np.int64)  # a START reset the elapsed clock
    assert unwrap_timestamps(stamps, None).tolist() == [1000, 10, 20]
    wrapped = np.array([2**32 - 1, 0, 1], dtype=np.int64)
    assert unwrap_timestamps(wrapped, None).tolist() == [2**32 - 1, 2**32, 2**32 + 1]
