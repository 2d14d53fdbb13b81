"""Malformed input never crashes a session: it gets ERROR and the connection stays usable."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.server.test_control_fakes import Connection, FakeConfig, FakeLogger, chunkings


def converse(data: bytes, chunk: int, max_line_bytes: int = 4096) -> tuple[Connection, list[str]]:
    conn = Connection(FakeLogger(), FakeConfig(max_line_bytes=max_line_bytes))
    conn.feed(data, chunk)
    return conn, conn.output()


def test_unknown_commands_and_bad_arguments_get_error_400() -> None:
    data = (b"FROB\nDOWNLOAD x\nBOARD 08 zz\nBOARD 08 08\nLIVE maybe\nPING extra\n"
            b"DELETE\nPING\n")
    for chunk in chunkings():
        conn, reply = converse(data, chunk)
        assert [line.split(" ", 2)[:2] for line in reply[:-1]] == [["ERROR", "400"]] * 7
        assert reply[-1] == "ACK PONG"
        assert conn.logger.calls == [] and conn.logger.reads == []


def test_binary_garbage_and_control_characters() -> None:
    data = b"\xff\xfe\x00\n\x00PING\n\x1b[2J\nPI\rNG\n\xc3\x28\nPING\n"
    for chunk in chunkings():
        _, reply = converse(data, chunk)
        assert reply == [
            "ERROR 400 line is not UTF-8 text",
            "ERROR 400 unknown command '\\x00PING'",
            "ERROR 400 unknown command '\\x1b[2J'",
            "ERROR 400 unknown command 'PI\\rNG'",
            "ERROR 400 line is not UTF-8 text",
            "ACK PONG",
        ], chunk


def test_empty_and_blank_lines_are_ignored() -> None:
    for chunk in chunkings():
        _, reply = converse(b"\n\r\n   \n\t\r\nPING\n\n", chunk)
        assert reply == ["ACK PONG"]


def test_crlf_and_lf_endings_both_work() -> None:
    for chunk in chunkings():
        _, reply = converse(b"PING\r\nLOGGING\nPING\r\n", chunk)
        assert reply == ["ACK PONG", "NOSESSION", "ACK PONG"]


def test_line_at_the_limit_is_accepted_and_one_byte_more_is_413() -> None:
    limit = 64
    at_limit = b"AUTH " + b"x" * (limit - 5)
    over = at_limit + b"y"
    for chunk in chunkings():
        _, reply = converse(at_limit + b"\r\n" + over + b"\nPING\n" + over + b"\r\nPING\n", chunk, limit)
        assert reply == ["ACK", "ERROR 413 line too long (max 64 bytes)", "ACK PONG",
                         "ERROR 413 line too long (max 64 bytes)", "ACK PONG"], chunk


def test_huge_line_gets_one_413_and_the_connection_stays_usable() -> None:
    huge = b"DOWNLOAD " + b"7" * 100_000
    for chunk in [1, 7, 4096, 1 << 20]:
        conn, reply = converse(huge + b"\nPING\n" + huge + b"\n", chunk)
        assert reply == ["ERROR 413 line too long (max 4096 bytes)", "ACK PONG",
                         "ERROR 413 line too long (max 4096 bytes)"]
        assert not conn.transport.disconnecting
        assert len(conn.protocol._buffer) <= 4097
        assert conn.logger.reads == []


def test_unterminated_huge_line_is_answered_before_it_ends_and_not_buffered() -> None:
    conn = Connection(FakeLogger())
    conn.feed(b"PING\n" + b"z" * 10_000)
    assert conn.output() == ["ACK PONG", "ERROR 413 line too long (max 4096 bytes)"]
    conn.feed(b"z" * 50_000)
    assert len(conn.protocol._buffer) == 0 and conn.output() == []
    conn.feed(b"zz\nLOGGING\n")
    assert conn.output() == ["NOSESSION"]


PIECES = [b"PING", b"LOGGING", b"FROB", b"DOWNLOAD", b" 1", b" x", b"BOARD 08 0881", b"SESSIONS",
          b"HELP", b"LIVE ON", b"STATUS", b" ", b"\t", b"\r", b"\n", b"\n", b"\xff", b"\x00",
          b"y" * 13, b"START", b"STOP"]


def expected_terminal_lines(data: bytes, limit: int) -> int:
    """One terminal line per complete non-blank line, one per over-long line."""
    *complete, partial = data.split(b"\n")
    count = 0
    for line in complete:
        body = line[:-1] if line.endswith(b"\r") else line
        if len(body) > limit or body.strip(b" \t\r"):
            count += 1
    return count + (len(partial) > limit + 1)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=40), st.integers(min_value=1, max_value=9))
def test_exactly_one_terminal_line_per_command_whatever_arrives(pieces: list[bytes], chunk: int) -> None:
    data = b"".join(pieces)
    conn, reply = converse(data, chunk, max_line_bytes=24)
    terminals = [line for line in reply if line[:1] not in ("+", "!")]
    assert len(terminals) == expected_terminal_lines(data, 24)
    assert not conn.transport.disconnecting
    conn.feed(b"\n")
    conn.output()
    assert conn.send("PING") == ["ACK PONG"]


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300), st.integers(min_value=1, max_value=9))
def test_random_bytes_never_break_the_session(data: bytes, chunk: int) -> None:
    conn, _ = converse(re.sub(rb"(?i)quit", b"quix", data), chunk, 32)
    conn.feed(b"\n")
    conn.output()
    assert conn.send("PING") == ["ACK PONG"]
