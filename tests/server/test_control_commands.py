"""commands.py: command lines to typed commands, and the reasons for refusing them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blitz.errors import ProtocolError
from blitz.server import commands as c


@pytest.mark.parametrize("line,command", [
    (b"PING", c.Ping()),
    (b"ping", c.Ping()),
    (b"  Ping \t ", c.Ping()),
    (b"PING\r", c.Ping()),
    (b"DOWNLOAD 3", c.Download(session_id=3, offset=0)),
    (b"download   3    1500", c.Download(session_id=3, offset=1500)),
    (b"DELETE 12", c.Delete(session_id=12)),
    (b"BOARD 08 0881", c.Board(board_id=8, line="0881")),
    (b"BOARD 0A 0A8500000000002800000000000", c.Board(board_id=10, line="0A8500000000002800000000000")),
    (b"LIVE on", c.Live(on=True)),
    (b"live OFF", c.Live(on=False)),
    (b"AUTH abc", c.Auth(token="abc")),
    (b"AUTH  two  words ", c.Auth(token="two  words")),
    (b"AUTH caf\xc3\xa9", c.Auth(token="café")),
])
def test_valid_lines_parse(line: bytes, command: c.Command) -> None:
    assert c.parse_command(line) == command


@pytest.mark.parametrize("line,message,verb", [
    (b"FROB", "unknown command 'FROB'", None),
    (b"frob 1 2", "unknown command 'frob'", None),
    (b"\x00\x01", "unknown command '\\x00\\x01'", None),
    (b"X" * 100, "unknown command '" + "X" * 40 + "'...", None),
    (b"\xff\xfe", "line is not UTF-8 text", None),
    (b"PING now", "PING: expected no arguments, got 1", "PING"),
    (b"DOWNLOAD", "DOWNLOAD: expected a session id and an optional offset "
                  "(DOWNLOAD <id> [<offset>]), got 0 arguments", "DOWNLOAD"),
    (b"DOWNLOAD 1 2 3", "DOWNLOAD: expected a session id and an optional offset "
                        "(DOWNLOAD <id> [<offset>]), got 3 arguments", "DOWNLOAD"),
    (b"DOWNLOAD abc", "DOWNLOAD: expected a session id as a decimal number, got 'abc'", "DOWNLOAD"),
    (b"DOWNLOAD -1", "DOWNLOAD: expected a session id as a decimal number, got '-1'", "DOWNLOAD"),
    (b"DOWNLOAD 1 x", "DOWNLOAD: expected an offset as a decimal number, got 'x'", "DOWNLOAD"),
    (b"DOWNLOAD 1234567890123456789", "DOWNLOAD: expected a session id as a decimal number, "
                                      "got '1234567890123456789'", "DOWNLOAD"),
    (b"DOWNLOAD \xd9\xa3", "DOWNLOAD: expected a session id as a decimal number, got '\u0663'",
     "DOWNLOAD"),
    (b"DELETE", "DELETE: expected a session id (DELETE <id>), got 0 arguments", "DELETE"),
    (b"BOARD 08", "BOARD: expected a board id and a hex command (BOARD <id> <hex>), "
                  "got 1 arguments", "BOARD"),
    (b"BOARD 8 0881", "BOARD: expected a board id as 2 hex digits, got '8'", "BOARD"),
    (b"BOARD 0g 0881", "BOARD: expected a board id as 2 hex digits, got '0g'", "BOARD"),
    (b"BOARD 08 08z1", "BOARD: expected hex digits, got '08z1'", "BOARD"),
    (b"BOARD 08 08", "BOARD: expected 4 to 27 hex characters, got 2", "BOARD"),
    (b"BOARD 08 " + b"0" * 28, "BOARD: expected 4 to 27 hex characters, got 28", "BOARD"),
    (b"LIVE", "LIVE: expected ON or OFF, got ''", "LIVE"),
    (b"LIVE maybe", "LIVE: expected ON or OFF, got 'maybe'", "LIVE"),
    (b"AUTH", "AUTH: expected a token (AUTH <token>)", "AUTH"),
    (b"AUTH   ", "AUTH: expected a token (AUTH <token>)", "AUTH"),
])
def test_bad_lines_say_what_is_wrong(line: bytes, message: str, verb: str | None) -> None:
    with pytest.raises(c.CommandSyntaxError) as caught:
        c.parse_command(line)
    assert str(caught.value) == message
    assert caught.value.verb == verb
    assert isinstance(caught.value, ProtocolError) and isinstance(caught.value, ValueError)


def test_every_verb_has_a_parser_and_a_synopsis() -> None:
    examples = {"DOWNLOAD": "DOWNLOAD 1", "DELETE": "DELETE 1", "BOARD": "BOARD 08 0881",
                "LIVE": "LIVE ON", "AUTH": "AUTH x"}
    for verb, synopsis in c.SYNOPSES.items():
        assert synopsis.split()[0] == verb
        parsed = c.parse_command(examples.get(verb, verb).encode())
        assert parsed.verb == verb


def test_blank_lines() -> None:
    assert c.is_blank(b"") and c.is_blank(b" \t\r")
    assert not c.is_blank(b"\x00")
    with pytest.raises(c.CommandSyntaxError, match="empty command"):
        c.parse_command(b"  ")


@given(st.binary(max_size=200))
def test_any_bytes_parse_or_fail_with_a_one_line_reason(line: bytes) -> None:
    try:
        command = c.parse_command(line)
    except c.CommandSyntaxError as error:
        text = str(error)
        assert text and "\n" not in text and "\r" not in text and len(text) < 200
    else:
        assert command.verb in c.SYNOPSES


@given(st.integers(min_value=0, max_value=10**18 - 1), st.integers(min_value=0, max_value=10**18 - 1))
def test_numbers_round_trip(session_id: int, offset: int) -> None:
    assert c.parse_command(f"DOWNLOAD {session_id} {offset}".encode()) == c.Download(session_id, offset)
