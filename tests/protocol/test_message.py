"""Single-line parsing and rendering against wire.md, including its test vectors."""

import pytest
from hypothesis import given, strategies as st

from blitz.errors import BlitzError
from blitz.protocol import (
    Instruction,
    Message,
    MessageError,
    MessageType,
    ResponseCode,
    ShortResponse,
    meta_byte,
    parse_line,
    render_command,
    split_meta,
)

VECTORS = [
    ("e32800002f19572076ac00000000", 227, 1, (False, True, False, False, False), 12057, 6278148361660923904),
    ("057500005555cccccccc00000000", 5, 3, (True, False, True, False, True), 21845, 0xCCCCCCCC00000000),
]


@pytest.mark.parametrize("line,sender,mtype,flags,timestamp,payload", VECTORS)
def test_wire_vectors(line, sender, mtype, flags, timestamp, payload):
    message = Message.parse(line)
    assert (message.sender, message.type, message.flags, message.timestamp, message.payload) == (
        sender, mtype, flags, timestamp, payload,
    )
    assert message.payload_bits == 64
    assert str(message) == line
    assert message.raw == line


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r", "\r\r\n", ""])
def test_line_endings_and_stray_cr_are_tolerated(ending):
    assert Message.parse("e32800002f19572076ac00000000" + ending).timestamp == 12057
    assert Message.parse(b"e32800002f19572076ac00000000" + ending.encode()).sender == 227


def test_upper_case_is_accepted_and_raw_keeps_case():
    message = Message.parse("E32800002F19572076AC00000000")
    assert message.sender == 227 and message.raw == "E32800002F19572076AC00000000"
    assert str(message) == "e32800002f19572076ac00000000"


def test_longer_line_is_extended_payload():
    line = "0a50" + "00000010" + "".join(f"{i:08x}" for i in range(16))
    message = Message.parse(line)
    assert message.payload_bits == 512 and message.is_extended
    assert message.type == MessageType.ACK and message.flags[0]  # meta 50: type 2, flag 1
    assert str(message) == line


@pytest.mark.parametrize(
    "line,expected",
    [
        ("", "at least 28 hex chars, got 0"),
        ("0840", "4-char short response"),
        ("e32800002f19572076ac0000000", "got 27"),
        ("e32800002f19572076ac0000000g", "'g' at position 27"),
        ("e328 0002f19572076ac00000000", "' ' at position 4"),
        (b"\xff32800002f19572076ac00000000", "byte 0xff at position 0"),
    ],
)
def test_bad_lines_say_what_is_wrong(line, expected):
    with pytest.raises(MessageError) as info:
        Message.parse(line)
    assert expected in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, BlitzError)


def test_wrong_type_of_input_is_a_message_error():
    with pytest.raises(MessageError, match="expected a str or bytes line, got int"):
        Message.parse(12345)


def test_build_validates_fields():
    with pytest.raises(MessageError, match="sender 0-255"):
        Message(sender=256, type=5)
    with pytest.raises(MessageError, match="type 0-7"):
        Message(sender=1, type=8)
    with pytest.raises(MessageError, match="32-bit timestamp"):
        Message(sender=1, type=5, timestamp=1 << 32)
    with pytest.raises(MessageError, match="does not fit in 64"):
        Message(sender=1, type=5, payload=1 << 64)
    with pytest.raises(MessageError, match="5 flags"):
        Message(sender=1, type=5, flags=(True,))


@given(
    sender=st.integers(0, 255),
    mtype=st.integers(0, 7),
    flags=st.tuples(*[st.booleans()] * 5),
    timestamp=st.integers(0, 2**32 - 1),
    extra_words=st.integers(0, 16),
    data=st.data(),
)
def test_render_parse_round_trip(sender, mtype, flags, timestamp, extra_words, data):
    bits = 64 + 32 * extra_words
    payload = data.draw(st.integers(0, 2**bits - 1))
    message = Message(sender, mtype, flags, timestamp, payload, bits)
    again = Message.parse(str(message))
    assert again == message
    assert len(str(message)) == 12 + bits // 4


@given(st.integers(0, 0xFF))
def test_meta_byte_round_trip(meta):
    mtype, flags = split_meta(meta)
    assert meta_byte(mtype, flags) == meta


def test_short_responses():
    reply = ShortResponse.parse("0840\r\n")
    assert (reply.board_id, reply.code, reply.is_error) == (8, ResponseCode.ACK, False)
    error = ShortResponse.parse("0866")
    assert error.is_error and error.meaning == "not currently logging"
    assert str(error) == "0866"
    assert ShortResponse.parse("0882").meaning == "id"
    assert "unknown response code 0x99" == ShortResponse.parse("0899").meaning
    with pytest.raises(MessageError, match="short response of 4 hex chars, got 5"):
        ShortResponse.parse("08400")
    with pytest.raises(MessageError, match="'x' at position 3"):
        ShortResponse.parse("084x")


def test_parse_line_classifies():
    assert isinstance(parse_line("0840"), ShortResponse)
    assert isinstance(parse_line(VECTORS[0][0]), Message)
    with pytest.raises(MessageError, match="expected 4 or at least 28 hex chars, got 6"):
        parse_line("084000")
    with pytest.raises(MessageError, match="empty line"):
        parse_line("\r\n")


def test_render_commands():
    assert render_command(0, Instruction.ID) == "0081"
    assert render_command(8, MessageType.TRANSMIT << 5) == "08c0"
    line = render_command(9, Instruction.MOTOR_SET_SPEED, [40])
    assert line == "098500000000002800000000000" and len(line) == 27
    assert render_command(9, 0x85, [1, 2, 3, 0x1230]).endswith("000100020003123")
    with pytest.raises(MessageError, match="zero nibble"):
        render_command(9, 0x85, [0, 0, 0, 0x1234])
    with pytest.raises(MessageError, match="word 2 to be 0-65535"):
        render_command(9, 0x85, [0, 70000])
    with pytest.raises(MessageError, match="at most 4"):
        render_command(9, 0x85, [0] * 5)
    with pytest.raises(MessageError, match="board id 0-255"):
        render_command(300, 0x85)
