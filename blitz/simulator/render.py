"""Vectorised rendering of data messages into the bytes a board prints.

A busy simulator formats tens of thousands of lines per second; building one
Python string per line would dominate its time, so whole batches become one
(n, 30) character matrix (28 lower-case hex digits plus `\\r\\n`, as the
firmware's `println` sends them) with a few shifts and one table lookup.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from blitz.protocol.constants import MESSAGE_HEX_CHARS

#: Bytes of one rendered data line: 28 hex digits and `\r\n`.
LINE_BYTES = MESSAGE_HEX_CHARS + 2

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_TIMESTAMP_SHIFTS = np.arange(28, -1, -4, dtype=np.uint64)
_PAYLOAD_SHIFTS = np.arange(60, -1, -4, dtype=np.uint64)

LineMatrix = npt.NDArray[np.uint8]


def render_rows(
    sender: int,
    meta: npt.ArrayLike,
    timestamp: npt.ArrayLike,
    payload: npt.ArrayLike,
) -> LineMatrix:
    """Render messages as an (n, 30) uint8 matrix of `<28 hex>\\r\\n` rows.

    `meta`, `timestamp` and `payload` are equal-length arrays (or scalars
    broadcast to them); timestamps are taken modulo 2**32 like `millis()`.
    """
    meta_a = np.asarray(meta, dtype=np.uint64)
    stamp_a = np.asarray(timestamp, dtype=np.uint64) & np.uint64(0xFFFFFFFF)
    payload_a = np.asarray(payload, dtype=np.uint64)
    meta_a, stamp_a, payload_a = np.broadcast_arrays(meta_a, stamp_a, payload_a)
    count = int(payload_a.shape[0]) if payload_a.ndim else 1
    meta_a = meta_a.reshape(count)
    stamp_a = stamp_a.reshape(count)
    payload_a = payload_a.reshape(count)
    nibbles = np.empty((count, MESSAGE_HEX_CHARS), dtype=np.uint8)
    nibbles[:, 0] = (sender >> 4) & 0xF
    nibbles[:, 1] = sender & 0xF
    nibbles[:, 2] = (meta_a >> np.uint64(4)) & np.uint64(0xF)
    nibbles[:, 3] = meta_a & np.uint64(0xF)
    nibbles[:, 4:12] = (stamp_a[:, None] >> _TIMESTAMP_SHIFTS) & np.uint64(0xF)
    nibbles[:, 12:28] = (payload_a[:, None] >> _PAYLOAD_SHIFTS) & np.uint64(0xF)
    rows = np.empty((count, LINE_BYTES), dtype=np.uint8)
    rows[:, :MESSAGE_HEX_CHARS] = _HEX[nibbles]
    rows[:, MESSAGE_HEX_CHARS] = ord("\r")
    rows[:, MESSAGE_HEX_CHARS + 1] = ord("\n")
    return rows


def rows_to_lines(rows: LineMatrix) -> list[str]:
    """The rows as text lines without their `\\r\\n` (for tests and logs)."""
    return [bytes(row[:MESSAGE_HEX_CHARS]).decode("ascii") for row in rows]


__all__ = ["LINE_BYTES", "LineMatrix", "render_rows", "rows_to_lines"]
