"""Decode a chunk of a session's raw lines (mixed boards) into long-format readings.

This is the download path: one call per chunk of a few thousand messages,
grouping the lines by board with numpy and decoding each group's variables as
whole columns.  The result is three flat arrays (time, variable, value) ready
for one bulk insert.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, MutableMapping, Sequence

import numpy as np
import numpy.typing as npt

from blitz.boards.definition import Board
from blitz.protocol.batch import MessageColumns, decode_lines
from blitz.protocol.constants import PAYLOAD_BITS
from blitz.protocol.message import LineLike

_WRAP = 1 << 32  # board timestamps are unsigned 32-bit milliseconds


@dataclass
class DecodedChunk:
    """Readings of one chunk in long format, plus what could not be used.

    Reading i has time `time_logged[i]`, variable `names[name_index[i]]` and
    value `value[i]`.
    """

    time_logged: npt.NDArray[np.int64]
    name_index: npt.NDArray[np.int64]
    value: npt.NDArray[np.float64]
    names: list[str]
    messages: int
    decoded_messages: int
    errors: list[tuple[int, str]] = field(default_factory=list)
    unknown: dict[int, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.value.shape[0])


def unwrap_timestamps(timestamps: npt.NDArray[np.int64], previous: int | None) -> npt.NDArray[np.int64]:
    """Undo the 49.7-day wrap of 32-bit timestamps, continuing from `previous`.

    A backwards step of more than half the range is taken as a wrap; smaller
    steps back (a board restart, a START resetting the elapsed clock) are kept.
    """
    if timestamps.size == 0:
        return timestamps
    base = 0 if previous is None else (previous // _WRAP) * _WRAP
    start = timestamps[0] + base
    if previous is not None and start < previous - _WRAP // 2:
        base += _WRAP
    steps = np.diff(timestamps)
    wraps = np.concatenate(([0], np.cumsum(steps < -(_WRAP // 2)))).astype(np.int64)
    result: npt.NDArray[np.int64] = timestamps + base + wraps * _WRAP
    return result


def _subset(columns: MessageColumns, rows: npt.NDArray[np.int64]) -> MessageColumns:
    """The rows `rows` (positions within `columns`) as their own columns."""
    return MessageColumns(
        index=columns.index[rows],
        sender=columns.sender[rows],
        meta=columns.meta[rows],
        timestamp=columns.timestamp[rows],
        nibbles=columns.nibbles[rows],
        payload_bits=columns.payload_bits,
    )


def decode_chunk(
    lines: Sequence[LineLike],
    boards: Mapping[int, Board],
    last_timestamps: MutableMapping[int, int] | None = None,
) -> DecodedChunk:
    """Decode the lines of a session chunk with the given boards.

    `last_timestamps` (board id -> last unwrapped timestamp) carries the wrap
    state from one chunk to the next; pass the same dict for every chunk of a
    session.  Lines of unknown boards are counted per sender in `unknown`;
    malformed lines are listed in `errors` with their index in `lines`.
    """
    columns = decode_lines(lines, PAYLOAD_BITS)
    errors = list(columns.errors)
    unknown: dict[int, int] = {}
    names: list[str] = []
    name_position: dict[str, int] = {}
    times: list[npt.NDArray[np.int64]] = []
    indices: list[npt.NDArray[np.int64]] = []
    values: list[npt.NDArray[np.float64]] = []
    decoded = 0
    for sender in np.unique(columns.sender).tolist():
        rows = np.flatnonzero(columns.sender == sender)
        board = boards.get(int(sender))
        if board is None:
            unknown[int(sender)] = int(rows.size)
            continue
        group = _subset(columns, rows)
        if board.payload_bits > columns.payload_bits:  # extended lines (NetScanner)
            original = group.index
            group = decode_lines([lines[int(i)] for i in original], board.payload_bits)
            for position, reason in group.errors:  # renumber from the subset to the chunk
                line_number = int(original[position])
                errors.append((line_number, f"line {line_number}: {reason.split(': ', 1)[1]}"))
            group.index = original[group.index]
        if len(group) == 0:
            continue
        previous = None if last_timestamps is None else last_timestamps.get(int(sender))
        stamps = unwrap_timestamps(group.timestamp, previous)
        if last_timestamps is not None:
            last_timestamps[int(sender)] = int(stamps[-1])
        decoded += len(group)
        for name, column in board.decode_columns(group).items():
            if name not in name_position:
                name_position[name] = len(names)
                names.append(name)
            times.append(stamps)
            indices.append(np.full(stamps.shape[0], name_position[name], dtype=np.int64))
            values.append(column)
    errors.sort()
    return DecodedChunk(
        time_logged=np.concatenate(times) if times else np.zeros(0, np.int64),
        name_index=np.concatenate(indices) if indices else np.zeros(0, np.int64),
        value=np.concatenate(values) if values else np.zeros(0, np.float64),
        names=names,
        messages=len(lines),
        decoded_messages=decoded,
        errors=errors,
        unknown=unknown,
    )


__all__ = ["DecodedChunk", "decode_chunk", "unwrap_timestamps"]
