"""The boards' wire format: one line at a time, or many lines as columns.

Pure code: no Twisted, Redis or SQL here, so every other part can use it.
"""

from blitz.errors import MessageError
from blitz.protocol.batch import MessageColumns, decode_lines
from blitz.protocol.constants import (
    COMMAND_HEX_CHARS,
    ERROR_CODES,
    FLAG_COUNT,
    HEADER_HEX_CHARS,
    MESSAGE_HEX_CHARS,
    META_START,
    META_STOP,
    META_TRANSMIT,
    PAYLOAD_BITS,
    SHORT_HEX_CHARS,
    Instruction,
    MessageType,
    ResponseCode,
)
from blitz.protocol.message import (
    Message,
    ShortResponse,
    clean_line,
    meta_byte,
    parse_line,
    render_command,
    split_meta,
)

__all__ = [
    "COMMAND_HEX_CHARS",
    "ERROR_CODES",
    "FLAG_COUNT",
    "HEADER_HEX_CHARS",
    "MESSAGE_HEX_CHARS",
    "META_START",
    "META_STOP",
    "META_TRANSMIT",
    "PAYLOAD_BITS",
    "SHORT_HEX_CHARS",
    "Instruction",
    "Message",
    "MessageColumns",
    "MessageError",
    "MessageType",
    "ResponseCode",
    "ShortResponse",
    "clean_line",
    "decode_lines",
    "meta_byte",
    "parse_line",
    "render_command",
    "split_meta",
]
