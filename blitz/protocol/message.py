"""Parsing and rendering of single board lines (wire.md sections 1-3).

`Message` is one data message, `ShortResponse` one 4-character reply, and
`render_command` builds what the server writes to a board.  The batch path for
millions of lines lives in `blitz.protocol.batch`; this module is for the
line-at-a-time paths (serial handling, the simulator, live view).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence, Union

from blitz.errors import MessageError
from blitz.protocol.constants import (
    COMMAND_HEX_CHARS,
    ERROR_CODES,
    FLAG_COUNT,
    HEADER_HEX_CHARS,
    MESSAGE_HEX_CHARS,
    PAYLOAD_BITS,
    SHORT_HEX_CHARS,
    MessageType,
    ResponseCode,
)

_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_PREVIEW_CHARS = 40

LineLike = Union[str, bytes]


def _preview(text: str) -> str:
    """Return `text` shortened for an error message."""
    return repr(text if len(text) <= _PREVIEW_CHARS else text[:_PREVIEW_CHARS] + "...")


def clean_line(line: LineLike) -> str:
    """Return `line` as text without its line ending or stray `\\r`, blanks and NULs.

    Boards end lines with `\\r\\n` (println); tolerate both endings and stray
    carriage returns anywhere at the ends.  NULs at the ends are dropped too,
    as `decode_lines` does (numpy cannot keep trailing NULs), so the two
    parsers agree on every line.
    """
    if isinstance(line, (bytes, bytearray, memoryview)):
        data = bytes(line)
        try:
            line = data.decode("ascii")
        except UnicodeDecodeError as exc:
            raise MessageError(
                f"expected ASCII hex, got byte 0x{data[exc.start]:02x} at "
                f"position {exc.start} ({_preview(data.decode('ascii', 'replace'))})"
            ) from None
    if not isinstance(line, str):
        raise MessageError(f"expected a str or bytes line, got {type(line).__name__}")
    return line.strip(" \t\r\n\x00")


def _check_hex(text: str) -> None:
    """Raise MessageError naming the first non-hex character of `text`."""
    for position, char in enumerate(text):
        if char not in _HEX_DIGITS:
            raise MessageError(
                f"expected only hex digits, got {char!r} at position {position} ({_preview(text)})"
            )


def meta_byte(message_type: int, flags: Sequence[bool]) -> int:
    """Pack a type (0-7) and five flags (flag 1 first) into the meta byte."""
    if not 0 <= int(message_type) <= 7:
        raise MessageError(f"expected a message type 0-7, got {message_type!r}")
    if len(flags) != FLAG_COUNT:
        raise MessageError(f"expected {FLAG_COUNT} flags, got {len(flags)}")
    meta = int(message_type) << 5
    for index, flag in enumerate(flags):
        if flag:
            meta |= 1 << (FLAG_COUNT - 1 - index)
    return meta


def split_meta(meta: int) -> tuple[int, tuple[bool, bool, bool, bool, bool]]:
    """Unpack a meta byte into (type, flags) with flag 1 first."""
    flags = tuple(bool(meta & (1 << (FLAG_COUNT - 1 - i))) for i in range(FLAG_COUNT))
    return meta >> 5, flags  # type: ignore[return-value]


@dataclass(frozen=True)
class Message:
    """One data message: 28 hex characters, or more for an extended payload.

    `payload` is the whole payload as an int of `payload_bits` bits (64 for a
    standard line, 4 bits per extra hex character beyond that).  `raw` is the
    line as received (without its ending), or the rendered line when built.
    """

    sender: int
    type: int
    flags: tuple[bool, bool, bool, bool, bool] = (False, False, False, False, False)
    timestamp: int = 0
    payload: int = 0
    payload_bits: int = PAYLOAD_BITS
    raw: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not 0 <= self.sender <= 0xFF:
            raise MessageError(f"expected a sender 0-255, got {self.sender!r}")
        if not 0 <= self.type <= 7:
            raise MessageError(f"expected a message type 0-7, got {self.type!r}")
        flags = tuple(bool(f) for f in self.flags)
        if len(flags) != FLAG_COUNT:
            raise MessageError(f"expected {FLAG_COUNT} flags, got {len(flags)}")
        object.__setattr__(self, "flags", flags)
        if not 0 <= self.timestamp <= 0xFFFFFFFF:
            raise MessageError(f"expected an unsigned 32-bit timestamp, got {self.timestamp!r}")
        if self.payload_bits < PAYLOAD_BITS or self.payload_bits % 4:
            raise MessageError(
                f"expected payload_bits >= {PAYLOAD_BITS} and a multiple of 4, got {self.payload_bits!r}"
            )
        if not 0 <= self.payload < (1 << self.payload_bits):
            raise MessageError(
                f"payload {self.payload!r} does not fit in {self.payload_bits} unsigned bits"
            )
        if not self.raw:
            object.__setattr__(self, "raw", self.render())

    @property
    def meta(self) -> int:
        """The meta byte: type << 5 | flags."""
        return meta_byte(self.type, self.flags)

    @property
    def is_extended(self) -> bool:
        """True when the line carries more than the standard 64 payload bits."""
        return self.payload_bits > PAYLOAD_BITS

    @classmethod
    def parse(cls, line: LineLike) -> "Message":
        """Parse one data line; raise MessageError saying what is wrong."""
        text = clean_line(line)
        if len(text) < MESSAGE_HEX_CHARS:
            if len(text) == SHORT_HEX_CHARS:
                raise MessageError(
                    f"expected a data message of {MESSAGE_HEX_CHARS} hex chars, got a "
                    f"4-char short response ({_preview(text)})"
                )
            raise MessageError(
                f"expected at least {MESSAGE_HEX_CHARS} hex chars, got {len(text)} ({_preview(text)})"
            )
        _check_hex(text)
        meta = int(text[2:4], 16)
        message_type, flags = split_meta(meta)
        payload_hex = text[HEADER_HEX_CHARS:]
        return cls(
            sender=int(text[0:2], 16),
            type=message_type,
            flags=flags,
            timestamp=int(text[4:12], 16),
            payload=int(payload_hex, 16),
            payload_bits=4 * len(payload_hex),
            raw=text,
        )

    def render(self) -> str:
        """Render the line (lower-case hex, no line ending)."""
        digits = self.payload_bits // 4
        return f"{self.sender:02x}{self.meta:02x}{self.timestamp:08x}{self.payload:0{digits}x}"

    def __str__(self) -> str:
        return self.render()


@dataclass(frozen=True)
class ShortResponse:
    """A 4-character reply `<board id><code>`, e.g. `0840` = board 8 ACK."""

    board_id: int
    code: int

    @property
    def is_error(self) -> bool:
        """True for the error codes 61-66."""
        return self.code in ERROR_CODES

    @property
    def meaning(self) -> str:
        """A human description of the code."""
        if self.code in ERROR_CODES:
            return ERROR_CODES[self.code]
        try:
            return ResponseCode(self.code).name.lower()
        except ValueError:
            return f"unknown response code 0x{self.code:02x}"

    @classmethod
    def parse(cls, line: LineLike) -> "ShortResponse":
        """Parse a 4-hex-character reply; raise MessageError otherwise."""
        text = clean_line(line)
        if len(text) != SHORT_HEX_CHARS:
            raise MessageError(
                f"expected a short response of {SHORT_HEX_CHARS} hex chars, got {len(text)} ({_preview(text)})"
            )
        _check_hex(text)
        return cls(board_id=int(text[0:2], 16), code=int(text[2:4], 16))

    def render(self) -> str:
        """Render the reply (lower-case hex, no line ending)."""
        return f"{self.board_id:02x}{self.code:02x}"

    def __str__(self) -> str:
        return self.render()


def parse_line(line: LineLike) -> Union[Message, ShortResponse]:
    """Parse any line a board sends: a data message or a short response."""
    text = clean_line(line)
    if len(text) == SHORT_HEX_CHARS:
        return ShortResponse.parse(text)
    if len(text) < MESSAGE_HEX_CHARS:
        if not text:
            raise MessageError("expected a board line, got an empty line")
        raise MessageError(
            f"expected {SHORT_HEX_CHARS} or at least {MESSAGE_HEX_CHARS} hex chars, "
            f"got {len(text)} ({_preview(text)})"
        )
    return Message.parse(text)


def render_command(board_id: int, meta: int, words: Sequence[int] | None = None) -> str:
    """Render a server-to-board command line, without the `\\n` terminator.

    Without `words` this is `<id><meta>` (4 chars).  With up to four 16-bit
    words it is the 27-character form the firmware reads: id, meta, eight zero
    timestamp digits, then the words.  The last nibble of word 4 cannot be
    carried (the firmware's buffer holds 27 characters), so it must be 0.
    """
    if not 0 <= board_id <= 0xFF:
        raise MessageError(f"expected a board id 0-255, got {board_id!r}")
    if not 0 <= meta <= 0xFF:
        raise MessageError(f"expected a meta byte 0-255, got {meta!r}")
    head = f"{board_id:02x}{meta:02x}"
    if words is None:
        return head
    if len(words) > 4:
        raise MessageError(f"expected at most 4 argument words, got {len(words)}")
    padded = list(words) + [0] * (4 - len(words))
    for index, word in enumerate(padded):
        if not 0 <= int(word) <= 0xFFFF:
            raise MessageError(f"expected word {index + 1} to be 0-65535, got {word!r}")
    if padded[3] & 0xF:
        raise MessageError(
            f"word 4 must end in a zero nibble (the firmware drops it), got 0x{padded[3]:04x}"
        )
    body = "".join(f"{int(word):04x}" for word in padded)
    return (head + "0" * 8 + body)[:COMMAND_HEX_CHARS]


def is_type(message_type: int, meta: int) -> bool:
    """True when `meta` carries `message_type` in its top three bits."""
    return meta >> 5 == int(message_type)


__all__ = [
    "LineLike",
    "Message",
    "MessageError",
    "MessageType",
    "ShortResponse",
    "clean_line",
    "meta_byte",
    "parse_line",
    "render_command",
    "split_meta",
]
