"""Named constants of the board wire format (wire.md sections 1-3)."""

from __future__ import annotations

from enum import IntEnum

#: Hex characters of a standard data message (112 bits).
MESSAGE_HEX_CHARS = 28
#: Hex characters of a short response (`<id><code>`).
SHORT_HEX_CHARS = 4
#: Hex characters before the payload: sender (2), meta (2), timestamp (8).
HEADER_HEX_CHARS = 12
#: Payload bits of a standard data message.
PAYLOAD_BITS = 64
#: Characters the firmware reads from a command with arguments (its 28-byte
#: receive buffer minus the terminator); the last nibble of word 4 is lost.
COMMAND_HEX_CHARS = 27
#: Number of boolean flags in the meta byte.
FLAG_COUNT = 5


class MessageType(IntEnum):
    """The 3-bit message type in the top bits of the meta byte."""

    START = 0
    STOP = 1
    ACK = 2
    ERROR = 3
    INSTRUCTION = 4
    DATA = 5
    TRANSMIT = 6
    EXTENDED = 7


class Instruction(IntEnum):
    """Whole meta bytes of INSTRUCTION messages (type 4)."""

    ID = 0x81
    STATUS = 0x83
    #: Meta byte of the data message a board sends in answer to STATUS.
    STATUS_RESPONSE = 0x84
    MOTOR_SET_SPEED = 0x85
    MOTOR_SET_ANGLE = 0x86
    MOTOR_HOME = 0x87


class ResponseCode(IntEnum):
    """Codes of the 4-hex-character short responses (wire.md section 2)."""

    ACK = 0x40
    ID = 0x82
    TOO_SHORT = 0x61
    BUFFER_FULL = 0x62
    NOT_IMPLEMENTED = 0x63
    UNKNOWN_MESSAGE = 0x64
    UNKNOWN_INSTRUCTION = 0x65
    NOT_LOGGING = 0x66


#: Response codes that report an error, with the firmware's meaning.
ERROR_CODES: dict[int, str] = {
    ResponseCode.TOO_SHORT: "message too short",
    ResponseCode.BUFFER_FULL: "serial buffer full (line too long)",
    ResponseCode.NOT_IMPLEMENTED: "not implemented",
    ResponseCode.UNKNOWN_MESSAGE: "unknown message",
    ResponseCode.UNKNOWN_INSTRUCTION: "unknown instruction",
    ResponseCode.NOT_LOGGING: "not currently logging",
}

#: Meta bytes of the plain commands a server sends (type << 5).
META_START = MessageType.START << 5
META_STOP = MessageType.STOP << 5
META_TRANSMIT = MessageType.TRANSMIT << 5
