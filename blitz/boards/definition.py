"""Declarative board definitions and the one generic decoder that serves them all.

A board is a list of `Variable`s (name, bit offset in the payload, width,
signedness, scale, offset, unit), so that it reads like a datasheet.  Decoding
one message and decoding a column batch use the same definitions.
"""

from __future__ import annotations

import keyword
import math
import re
from dataclasses import dataclass
from typing import ClassVar, Iterable, Mapping, Sequence, Union

import numpy as np
import numpy.typing as npt

from blitz.errors import BoardDefinitionError, BoardError, MessageError
from blitz.protocol.batch import MessageColumns, decode_lines
from blitz.protocol.constants import PAYLOAD_BITS, MessageType
from blitz.protocol.message import LineLike, Message

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

#: The widest payload a board may declare: 1024 hex characters after the header.
MAX_PAYLOAD_BITS = 4096

Number = Union[int, float]


@dataclass(frozen=True)
class Variable:
    """One value packed in a board's payload.

    `bit_offset` counts from the payload's most significant bit (bit 0);
    the decoded value is `raw * scale + offset`, with `raw` read as two's
    complement when `signed`.
    """

    name: str
    bit_offset: int
    width: int
    signed: bool = False
    scale: float = 1.0
    offset: float = 0.0
    unit: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name) or keyword.iskeyword(self.name):
            raise BoardDefinitionError(
                f"variable name must be letters, digits and '_' not starting with a digit, got {self.name!r}"
            )
        if not isinstance(self.bit_offset, int) or isinstance(self.bit_offset, bool) or self.bit_offset < 0:
            raise BoardDefinitionError(
                f"variable {self.name!r}: bit_offset must be an integer >= 0, got {self.bit_offset!r}"
            )
        if not isinstance(self.width, int) or isinstance(self.width, bool) or not 1 <= self.width <= 64:
            raise BoardDefinitionError(
                f"variable {self.name!r}: width must be an integer from 1 to 64 bits, got {self.width!r}"
            )
        for attr in ("scale", "offset"):
            value = getattr(self, attr)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not _finite(value):
                shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "..."
                why = "" if isinstance(value, str) or not isinstance(value, (int, float)) else " (not finite)"
                raise BoardDefinitionError(f"variable {self.name!r}: {attr} must be a number, got {shown}{why}")
        if self.scale == 0:
            raise BoardDefinitionError(f"variable {self.name!r}: scale must not be 0")

    @property
    def is_raw(self) -> bool:
        """True when the value is the raw integer (scale 1, offset 0)."""
        return self.scale == 1 and self.offset == 0

    def decode_payload(self, payload: int, payload_bits: int) -> Number:
        """Decode this variable from a whole payload int."""
        shift = payload_bits - self.bit_offset - self.width
        raw = (payload >> shift) & ((1 << self.width) - 1)
        if self.signed and raw >= 1 << (self.width - 1):
            raw -= 1 << self.width
        if self.is_raw:
            return raw
        return raw * self.scale + self.offset

    def encode_value(self, value: Number) -> int:
        """Return the raw field bits that decode to `value` (nearest step)."""
        if self.is_raw and isinstance(value, int):
            raw = value  # exact: wide integers would lose bits through float
        else:
            raw = int(round((value - self.offset) / self.scale))
        low = -(1 << (self.width - 1)) if self.signed else 0
        high = (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1
        if not low <= raw <= high:
            raise BoardError(f"variable {self.name!r}: value {value!r} is outside {self.range()}")
        return raw & ((1 << self.width) - 1)

    def range(self) -> tuple[float, float]:
        """The smallest and largest value this variable can hold."""
        low = -(1 << (self.width - 1)) if self.signed else 0
        high = (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1
        ends = sorted((low * self.scale + self.offset, high * self.scale + self.offset))
        return ends[0], ends[1]

    def decode_columns(self, columns: MessageColumns) -> npt.NDArray[np.float64]:
        """Decode this variable from every row of a batch as float64."""
        raw = columns.field(self.bit_offset, self.width)
        if self.signed:
            values = raw.view(np.int64) if self.width == 64 else raw.astype(np.int64)
            if self.width < 64:
                sign = np.int64(1 << (self.width - 1))
                values = (values ^ sign) - sign
            out = values.astype(np.float64)
        else:
            out = raw.astype(np.float64)
        if self.scale != 1:
            out *= self.scale
        if self.offset != 0:
            out += self.offset
        return out


class Board:
    """A board type: its id, a description and its payload layout.

    Built-in boards are subclasses that set the class attributes; boards from
    definition files are instances given the same values as arguments.
    """

    id: ClassVar[int] = -1
    description: ClassVar[str] = ""
    variables: ClassVar[tuple[Variable, ...]] = ()
    payload_bits: ClassVar[int] = PAYLOAD_BITS

    def __init__(
        self,
        id: int | None = None,  # noqa: A002 - api.md names the attribute `id`
        description: str | None = None,
        variables: Iterable[Variable] | None = None,
        payload_bits: int | None = None,
    ) -> None:
        if id is not None:
            self.id = id  # type: ignore[misc]
        if description is not None:
            self.description = description  # type: ignore[misc]
        if variables is not None:
            self.variables = tuple(variables)  # type: ignore[misc]
        if payload_bits is not None:
            self.payload_bits = payload_bits  # type: ignore[misc]
        self._validate()

    def _validate(self) -> None:
        if isinstance(self.id, bool) or not isinstance(self.id, int) or not 0 <= self.id <= 0xFF:
            raise BoardDefinitionError(f"board id must be an integer 0-255, got {self.id!r}")
        if not isinstance(self.description, str) or not self.description.strip():
            raise BoardDefinitionError(f"board 0x{self.id:02x}: description must be a non-empty string")
        if (
            not isinstance(self.payload_bits, int)
            or not PAYLOAD_BITS <= self.payload_bits <= MAX_PAYLOAD_BITS
            or self.payload_bits % 4
        ):
            raise BoardDefinitionError(
                f"board 0x{self.id:02x}: payload_bits must be a multiple of 4 from {PAYLOAD_BITS} to "
                f"{MAX_PAYLOAD_BITS}, got {self.payload_bits!r}"
            )
        if not self.variables:
            raise BoardDefinitionError(f"board 0x{self.id:02x}: defines no variables")
        seen: set[str] = set()
        for var in self.variables:
            if not isinstance(var, Variable):
                raise BoardDefinitionError(f"board 0x{self.id:02x}: expected Variable, got {var!r}")
            if var.name in seen:
                raise BoardDefinitionError(f"board 0x{self.id:02x}: variable {var.name!r} is defined twice")
            seen.add(var.name)
            if var.bit_offset + var.width > self.payload_bits:
                raise BoardDefinitionError(
                    f"board 0x{self.id:02x}: variable {var.name!r} ends at bit "
                    f"{var.bit_offset + var.width - 1}, past the {self.payload_bits}-bit payload"
                )

    @property
    def variable_names(self) -> list[str]:
        """Variable names in payload order."""
        return [var.name for var in self.variables]

    def decode(self, message: Union[Message, LineLike]) -> dict[str, Number]:
        """Decode one message (or line) into `{variable name: value}`.

        The message type is deliberately not checked: NetScanner lines carry
        meta `50` (type 2), and boards may use any type for data.
        """
        if not isinstance(message, Message):
            message = Message.parse(message)
        if message.payload_bits < self.payload_bits:
            raise MessageError(
                f"board 0x{self.id:02x} needs {self.payload_bits} payload bits, the line has "
                f"{message.payload_bits} ({message.raw[:40]!r})"
            )
        payload = message.payload >> (message.payload_bits - self.payload_bits)
        return {var.name: var.decode_payload(payload, self.payload_bits) for var in self.variables}

    def decode_columns(self, columns: MessageColumns) -> dict[str, npt.NDArray[np.float64]]:
        """Decode every row of a batch into `{variable name: float64 column}`."""
        if columns.payload_bits < self.payload_bits:
            raise BoardError(
                f"board 0x{self.id:02x} needs {self.payload_bits} payload bits, the batch has {columns.payload_bits}"
            )
        return {var.name: var.decode_columns(columns) for var in self.variables}

    def decode_lines(
        self, lines: Sequence[LineLike]
    ) -> tuple[MessageColumns, dict[str, npt.NDArray[np.float64]]]:
        """Decode raw lines of this board in bulk: (header columns, values)."""
        columns = decode_lines(lines, self.payload_bits)
        return columns, self.decode_columns(columns)

    def encode(self, values: Mapping[str, Number], *, sender: int | None = None, **header: object) -> Message:
        """Build a Message carrying `values` (missing variables are 0).

        Used by the simulator and by round-trip tests; `header` passes
        `type`, `flags` and `timestamp` through to `Message`.
        """
        unknown = set(values) - set(self.variable_names)
        if unknown:
            raise BoardError(f"board 0x{self.id:02x} has no variable {sorted(unknown)[0]!r}")
        payload = 0
        for var in self.variables:
            if var.name in values:
                shift = self.payload_bits - var.bit_offset - var.width
                payload |= var.encode_value(values[var.name]) << shift
        header.setdefault("type", MessageType.DATA)
        return Message(
            sender=self.id if sender is None else sender,
            payload=payload,
            payload_bits=self.payload_bits,
            **header,  # type: ignore[arg-type]
        )

    def describe(self) -> str:
        """`"8 (08)"`-style label used in board lists."""
        return f"{self.id} ({self.id:02x})"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} 0x{self.id:02x} {self.description!r}>"


def _finite(value: int | float) -> bool:
    """True for a number a float can hold (huge ints overflow)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def packed(names: Sequence[str], width: int, start: int = 0, **options: object) -> tuple[Variable, ...]:
    """Variables of equal width packed left to right from bit `start`."""
    return tuple(
        Variable(name, start + i * width, width, **options)  # type: ignore[arg-type]
        for i, name in enumerate(names)
    )


__all__ = ["Board", "Number", "Variable", "packed"]
