"""Vectorised decoding of many board lines into columns of numbers.

Downloads carry millions of lines, so nothing here creates a Python object per
line: the lines become one numpy character matrix, a lookup table turns it into
nibbles, and header fields and payload bits are pulled out with shifts and
masks over whole columns.  Only rejected lines (rare) get a Python-level look,
to say what is wrong with each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import numpy.typing as npt

from blitz.protocol.constants import FLAG_COUNT, HEADER_HEX_CHARS, PAYLOAD_BITS
from blitz.protocol.message import LineLike

_PAD = 16  # whitespace and the NUL padding numpy adds to shorter strings
_BAD = 17  # anything that is neither hex nor padding

_LUT = np.full(256, _BAD, dtype=np.uint8)
for _i, _c in enumerate("0123456789abcdef"):
    _LUT[ord(_c)] = _i
    _LUT[ord(_c.upper())] = _i
for _c in "\x00\t\n\r ":
    _LUT[ord(_c)] = _PAD

UIntArray = npt.NDArray[np.uint64]


@dataclass
class MessageColumns:
    """Header columns and payload nibbles of the valid lines of a batch.

    Row i of every column belongs to input line `index[i]`.  `errors` lists
    `(input index, reason)` for every rejected line.
    """

    index: npt.NDArray[np.int64]
    sender: npt.NDArray[np.int64]
    meta: npt.NDArray[np.int64]
    timestamp: npt.NDArray[np.int64]
    nibbles: npt.NDArray[np.uint8]
    payload_bits: int
    errors: list[tuple[int, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.index.shape[0])

    @property
    def type(self) -> npt.NDArray[np.int64]:
        """Message types (top three bits of the meta byte)."""
        return self.meta >> 5

    @property
    def flags(self) -> npt.NDArray[np.bool_]:
        """An (n, 5) boolean matrix, flag 1 in column 0."""
        shifts = np.arange(FLAG_COUNT - 1, -1, -1)
        return ((self.meta[:, None] >> shifts) & 1).astype(bool)

    @property
    def payload(self) -> UIntArray:
        """The first 64 payload bits of each line as uint64."""
        return self.field(0, PAYLOAD_BITS)

    def field(self, bit_offset: int, width: int) -> UIntArray:
        """Unsigned bits `[bit_offset, bit_offset + width)` of every payload.

        Bit 0 is the most significant bit of the payload; `width` is 1-64.
        """
        if not 1 <= width <= 64:
            raise ValueError(f"expected a field width of 1-64 bits, got {width}")
        if bit_offset < 0 or bit_offset + width > self.payload_bits:
            raise ValueError(
                f"field at bits {bit_offset}-{bit_offset + width - 1} is outside the "
                f"{self.payload_bits}-bit payload"
            )
        first = bit_offset // 4
        last = (bit_offset + width - 1) // 4
        span = last - first + 1
        if span > 16:  # an unaligned 61-64 bit field: take it in two parts
            high_width = width - 32
            high = self.field(bit_offset, high_width)
            low = self.field(bit_offset + high_width, 32)
            return (high << np.uint64(32)) | low
        base = HEADER_HEX_CHARS + first
        combined = np.zeros(len(self), dtype=np.uint64)
        for k in range(span):
            combined = (combined << np.uint64(4)) | self.nibbles[:, base + k].astype(np.uint64)
        drop = span * 4 - (bit_offset % 4) - width
        combined >>= np.uint64(drop)
        if width < 64:
            combined &= np.uint64((1 << width) - 1)
        return combined


def _code_matrix(lines: Sequence[LineLike]) -> npt.NDArray[np.uint8]:
    """Turn the lines into an (n, width) matrix of lookup-table codes."""
    try:
        array = np.asarray(lines)
    except UnicodeDecodeError:  # numpy decodes bytes mixed with str as ASCII
        array = np.asarray([x.decode("latin-1") if isinstance(x, bytes) else str(x) for x in lines])
    if array.dtype.kind == "O":  # mixed str and bytes: normalise the odd ones
        array = np.asarray([x.decode("latin-1") if isinstance(x, bytes) else str(x) for x in lines])
    if array.ndim != 1:
        raise ValueError("expected a flat sequence of lines")
    if array.dtype.kind == "U":
        width = array.dtype.itemsize // 4
        points = array.view(np.uint32).reshape(len(array), width)
        chars = np.minimum(points, 255).astype(np.uint8)
    elif array.dtype.kind == "S":
        width = array.dtype.itemsize
        chars = array.view(np.uint8).reshape(len(array), width)
    else:
        raise ValueError(f"expected str or bytes lines, got {array.dtype}")
    return _LUT[chars]


def _edge_pads(is_pad: npt.NDArray[np.bool_]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Count the leading and trailing padding characters of every row (the width for a blank row)."""
    rows, width = is_pad.shape
    if not is_pad.any():  # the usual download chunk: every line as wide as the widest
        return np.zeros(rows, dtype=np.int64), np.zeros(rows, dtype=np.int64)
    text = ~is_pad
    has_text = text.any(axis=1)
    lead = np.where(has_text, text.argmax(axis=1), width).astype(np.int64)
    trail = np.where(has_text, text[:, ::-1].argmax(axis=1), width).astype(np.int64)
    return lead, trail


def _reason(line: LineLike, min_chars: int) -> str:
    """Say what is wrong with one rejected line."""
    text = line.decode("latin-1") if isinstance(line, bytes) else str(line)
    text = text.strip(" \t\r\n\x00")
    shown = repr(text if len(text) <= 40 else text[:40] + "...")
    for position, char in enumerate(text):
        if char not in "0123456789abcdefABCDEF":
            return f"expected only hex digits, got {char!r} at position {position} ({shown})"
    if not text:
        return "expected a data message, got an empty line"
    return f"expected at least {min_chars} hex chars, got {len(text)} ({shown})"


def decode_lines(lines: Sequence[LineLike], payload_bits: int = PAYLOAD_BITS) -> MessageColumns:
    """Decode many data lines into columns, rejecting bad lines with reasons.

    `payload_bits` is how much payload the caller needs (64 for a standard
    board, 512 for a NetScanner line); longer lines are valid and their extra
    characters ignored, shorter or non-hex lines are rejected.
    """
    if payload_bits < 4 or payload_bits % 4:
        raise ValueError(f"expected payload_bits to be a positive multiple of 4, got {payload_bits}")
    min_chars = HEADER_HEX_CHARS + payload_bits // 4
    count = len(lines)
    if count == 0:
        empty = np.zeros(0, dtype=np.int64)
        return MessageColumns(empty, empty, empty, empty, np.zeros((0, min_chars), np.uint8), payload_bits)
    codes = _code_matrix(lines)
    if codes.shape[1] < min_chars:  # every line is too short
        codes = np.pad(codes, ((0, 0), (0, min_chars - codes.shape[1])), constant_values=_PAD)
    is_pad = codes == _PAD
    lead, trail = _edge_pads(is_pad)
    shifted = np.flatnonzero(lead > 0)
    for row in shifted:  # rare: a stray leading '\r' or blank; move the text left
        codes[row] = np.roll(codes[row], -int(lead[row]))
    length = codes.shape[1] - lead - trail
    inside = np.arange(codes.shape[1])[None, :] < length[:, None]
    hex_ok = np.where(inside, codes < 16, True).all(axis=1)
    valid = hex_ok & (length >= min_chars)
    good = np.flatnonzero(valid)
    errors = [(i, f"line {i}: {_reason(lines[i], min_chars)}") for i in np.flatnonzero(~valid).tolist()]
    nib = codes[good, :min_chars]
    wide = nib[:, :HEADER_HEX_CHARS].astype(np.int64)
    sender = (wide[:, 0] << 4) | wide[:, 1]
    meta = (wide[:, 2] << 4) | wide[:, 3]
    timestamp = np.zeros(len(good), dtype=np.int64)
    for k in range(4, 12):
        timestamp = (timestamp << 4) | wide[:, k]
    return MessageColumns(
        index=good.astype(np.int64),
        sender=sender,
        meta=meta,
        timestamp=timestamp,
        nibbles=np.ascontiguousarray(nib),
        payload_bits=payload_bits,
        errors=errors,
    )


__all__ = ["MessageColumns", "decode_lines"]
