"""Near-valid control commands: parsed exactly, or refused with a reason; never obeyed before AUTH.

tests/server/test_control_malformed.py and test_control_commands.py already
feed random bytes and pieces of commands.  These tests aim closer to the
grammar, where parser bugs hide: real verbs with mutated arguments (numbers
of 18 and 19 digits, hex of 3, 4, 27 and 28 characters, signs, Unicode
digits and spaces), every command rendered and parsed back, and, on a
server with a token, random mixes of real commands and junk that must not
reach the Logger before the right AUTH.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blitz.server import commands as c
from tests.server.test_control_fakes import Connection, FakeConfig, FakeLogger

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

TOKEN = "s3cret token"

numbers = st.one_of(
    st.integers(0, 10**18 - 1).map(str), st.integers(10**18, 10**19).map(str),
    st.sampled_from(["-1", "+1", "0x10", "1e3", "١٢", "1_000", "", "00000000000000000001", "9" * 18, "1.5"]),
)
hexes = st.one_of(
    st.text("0123456789abcdefABCDEF", min_size=0, max_size=30),
    st.sampled_from(["0881", "088", "08" + "0" * 25, "08" + "0" * 26, "0x81", "08 81", "０８８１", "g881"]),
)
words = st.one_of(numbers, hexes, st.sampled_from(["ON", "off", "On", "sideways", "08", "8"]),
                  st.text(max_size=6))
separators = st.sampled_from([" ", "  ", "\t", " \t ", "\u00a0", "\x0b", "\u3000"])
verbs = st.one_of(st.sampled_from(sorted(c.SYNOPSES)), st.sampled_from(["PIN", "PINGG", "", "DOWNLOADS"]))


@st.composite
def near_valid(draw: st.DrawFn) -> str:
    verb = draw(verbs)
    verb = "".join(ch.lower() if draw(st.booleans()) else ch for ch in verb)
    parts = [verb] + draw(st.lists(words, max_size=3))
    text = parts[0]
    for part in parts[1:]:
        text += draw(separators) + part
    return draw(st.sampled_from(["", " ", "\t"])) + text + draw(st.sampled_from(["", " ", "\r", "\t"]))


@settings(max_examples=500, deadline=None)
@given(line=near_valid())
def test_near_valid_commands_parse_or_say_why(line: str) -> None:
    data = line.encode("utf-8")
    try:
        command = c.parse_command(data)
    except c.CommandSyntaxError as error:
        reason = str(error)
        assert reason and "\n" not in reason and "\r" not in reason
        text = line[:-1] if line.endswith("\r") else line  # the one trailing CR a line may have
        head = text.strip(" \t").split(" ")[0].split("\t")[0].upper()
        if error.verb is not None:
            assert error.verb in c.SYNOPSES and head == error.verb
        return
    # What was accepted is exactly what the grammar allows.
    assert command.verb in c.SYNOPSES
    if isinstance(command, (c.Download, c.Delete)):
        assert 0 <= command.session_id < 10**18
    if isinstance(command, c.Download):
        assert 0 <= command.offset < 10**18
    if isinstance(command, c.Board):
        assert 0 <= command.board_id <= 0xFF and 4 <= len(command.line) <= 27
        assert all(ch in "0123456789abcdefABCDEF" for ch in command.line)
    if isinstance(command, c.Auth):
        assert command.token and command.token == command.token.strip(" \t")


commands = st.one_of(
    st.builds(c.Download, st.integers(0, 10**18 - 1), st.integers(0, 10**18 - 1)),
    st.builds(c.Delete, st.integers(0, 10**18 - 1)),
    st.builds(c.Board, st.integers(0, 255), st.text("0123456789abcdef", min_size=4, max_size=27)),
    st.builds(c.Live, st.booleans()),
    st.builds(c.Auth, st.text(min_size=1, max_size=20).map(lambda t: t.strip(" \t\r\n")).filter(
        lambda t: t and "\n" not in t and "\r" not in t)),
    st.sampled_from([c.Ping(), c.Logging(), c.Start(), c.Stop(), c.Update(), c.Sessions(), c.Boards(), c.Reset(),
                     c.Status(), c.Notifications(), c.Help(), c.Quit()]),
)


def render(command: c.Command) -> str:
    if isinstance(command, c.Download):
        return f"DOWNLOAD {command.session_id} {command.offset}"
    if isinstance(command, c.Delete):
        return f"DELETE {command.session_id}"
    if isinstance(command, c.Board):
        return f"BOARD {command.board_id:02x} {command.line}"
    if isinstance(command, c.Live):
        return "LIVE " + ("ON" if command.on else "OFF")
    if isinstance(command, c.Auth):
        return f"AUTH {command.token}"
    return command.verb


@settings(max_examples=300, deadline=None)
@given(command=commands, lower=st.booleans())
def test_every_command_renders_and_parses_back(command: c.Command, lower: bool) -> None:
    text = render(command)
    if lower and not isinstance(command, c.Auth):
        text = text.lower()
    assert c.parse_command(text.encode("utf-8")) == command


GATED = ["START", "STOP", "RESET", "DELETE 1", "DELETE 2", "LIVE ON", "BOARD 08 0800", "BOARD 08 0820",
         "DOWNLOAD 1", "SESSIONS", "STATUS", "UPDATE", "LOGGING", "BOARDS", "NOTIFICATIONS",
         "start", "ReSeT", "delete\t1", "  STOP  "]
JUNK = ["AUTH wrong", "AUTH s3cret", "AUTH  s3cret token x", "FROB", "PING", "HELP", "", "\xff\xfe", "AUTH",
        "x" * 5000]


@settings(max_examples=150, deadline=None)
@given(lines=st.lists(st.one_of(st.sampled_from(GATED), st.sampled_from(JUNK)), max_size=25),
       chunk=st.integers(1, 64))
def test_nothing_reaches_the_logger_before_the_right_auth(lines: list[str], chunk: int) -> None:
    logger = FakeLogger()
    logger.add_session([b"08a0000000010fff0000000000000"])
    logger.add_board(8)
    conn = Connection(logger, FakeConfig(token=TOKEN), auth_delay_s=0.5, auth_max_delay_s=2.0)
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    conn.feed(data.replace("\xff\xfe".encode("utf-8"), b"\xff\xfe"), chunk)  # a line that is not UTF-8
    for _ in range(len(lines) + 1):  # let every delayed wrong AUTH be answered
        conn.clock.advance(2.0)
    reply = conn.output()
    terminals = [line for line in reply if line[:1] not in ("+", "!")]
    assert len(terminals) == sum(1 for line in lines if line.strip(" \t"))
    assert logger.calls == [] and logger.reads == [] and logger.live_listeners == []
    assert logger.session_id == -1 and list(logger.sessions_by_id) == [1]
    assert not any(t.startswith(("ACK ", "INSESSION", "NOSESSION", "NOBOARD", "BOARDERROR")) and t != "ACK PONG"
                   for t in terminals), terminals
    assert conn.send(f"AUTH {TOKEN}", "START") == ["ACK", "ACK 2"]  # the right token still works
