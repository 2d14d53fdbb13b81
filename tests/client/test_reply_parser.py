"""The pure reply parser: every reply kind, pushes, and the errors they map to."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blitz.client import reply_parser as rp
from blitz.client.errors import (
    AuthError,
    BadReply,
    BoardErrorReply,
    ClientError,
    NoBoard,
    NoSession,
    Refused,
    ServerError,
    UnknownSession,
)
from blitz.errors import BlitzError, ProtocolError


def assemble(command: str, lines: list[str]) -> tuple[rp.Reply | None, list[rp.Push]]:
    pushes: list[rp.Push] = []
    assembler = rp.ReplyAssembler(pushes.append)
    assembler.expect(command)
    reply = None
    for line in lines:
        reply = assembler.feed(line) or reply
    return reply, pushes


def test_ack_with_text_and_data_lines() -> None:
    reply, pushes = assemble("SESSIONS", ["+2 2000 None 5", "+1 1000 1500 10", "ACK 2"])
    assert reply == rp.Reply("SESSIONS", "ACK", "2", ("2 2000 None 5", "1 1000 1500 10"))
    assert pushes == []
    assert rp.to_sessions(reply) == [rp.SessionInfo(2, 2000, None, 5), rp.SessionInfo(1, 1000, 1500, 10)]


def test_crlf_is_stripped_and_status_is_case_insensitive() -> None:
    reply, _ = assemble("PING", ["ack PONG\r"])
    assert reply is not None and rp.to_pong(reply) == "PONG"


def test_pushes_between_data_lines_are_not_part_of_the_reply() -> None:
    reply, pushes = assemble("UPDATE", [
        "+0800000001000000000000000000",
        "!LIVE 3 0800000002000000000000000000",
        "!NOTE 1700000000000 2 board 08 lost",
        "!WEIRD something",
        "ACK",
    ])
    assert reply is not None and rp.to_lines(reply) == ["0800000001000000000000000000"]
    assert pushes == [
        rp.LivePush(3, "0800000002000000000000000000"),
        rp.NoteInfo(1700000000000, 2, "board 08 lost"),
        rp.OtherPush("WEIRD", "something"),
    ]


def test_replies_are_matched_in_order() -> None:
    assembler = rp.ReplyAssembler(lambda push: None)
    assembler.expect("PING")
    assembler.expect("LOGGING")
    first = assembler.feed("ACK PONG")
    second = assembler.feed("INSESSION 4")
    assert first is not None and first.command == "PING"
    assert second is not None and rp.to_logging(second) == 4
    assert assembler.pending == 0


def test_streamed_data_goes_to_the_callback() -> None:
    seen: list[str] = []
    assembler = rp.ReplyAssembler(lambda push: None)
    assembler.expect("DOWNLOAD 1 0", seen.append)
    assert assembler.feed("+aa") is None
    reply = assembler.feed("ACK 1 1")
    assert seen == ["aa"]
    assert reply is not None and reply.data == ()
    assert rp.to_download(reply) == rp.DownloadResult(1, 1)


def test_a_reply_without_a_command_is_a_protocol_error() -> None:
    assembler = rp.ReplyAssembler(lambda push: None)
    with pytest.raises(BadReply) as info:
        assembler.feed("ACK")
    assert isinstance(info.value, ProtocolError)


def test_unknown_terminal_word_is_a_protocol_error() -> None:
    with pytest.raises(BadReply, match="HELLO"):
        assemble("PING", ["HELLO there"])


@pytest.mark.parametrize(
    ("line", "kind", "fragment"),
    [
        ("ERROR 401 wrong token", AuthError, "wrong token"),
        ("ERROR 404 no session 99", UnknownSession, "no session 99"),
        ("ERROR 503 Redis is unavailable", ServerError, "Redis is unavailable"),
        ("NACK session 2 is running", Refused, "session 2 is running"),
        ("NOSESSION", NoSession, "no session is running"),
        ("NOBOARD 0c", NoBoard, "no board 0c"),
        ("BOARDERROR 08 no answer", BoardErrorReply, "no answer"),
        ("INSESSION 3", Refused, "session 3 is running"),
    ],
)
def test_error_replies_become_exceptions(line: str, kind: type[ClientError], fragment: str) -> None:
    reply, _ = assemble("DELETE 99", [line])
    assert reply is not None
    with pytest.raises(kind) as info:
        rp.to_none(reply)
    assert isinstance(info.value, BlitzError)
    assert fragment in str(info.value)
    assert str(info.value).startswith("DELETE 99")


def test_server_error_carries_code_and_reason() -> None:
    reply = rp.Reply("STATUS", "ERROR", "500 boom happened")
    error = rp.error_for(reply)
    assert isinstance(error, ServerError)
    assert (error.code, error.reason) == (500, "boom happened")


def test_auth_token_is_never_shown_in_errors() -> None:
    error = rp.error_for(rp.Reply("AUTH s3cret", "ERROR", "401 wrong token"))
    assert isinstance(error, AuthError)
    assert "s3cret" not in str(error)


def test_start_reports_whether_it_created_the_session() -> None:
    assert rp.to_start(rp.Reply("START", "ACK", "5")) == rp.StartResult(5, True)
    assert rp.to_start(rp.Reply("START", "INSESSION", "5")) == rp.StartResult(5, False)


def test_logging_and_stop() -> None:
    assert rp.to_logging(rp.Reply("LOGGING", "NOSESSION", "")) is None
    assert rp.to_session_id(rp.Reply("STOP", "ACK", "7")) == 7
    with pytest.raises(NoSession):
        rp.to_session_id(rp.Reply("STOP", "NOSESSION", ""))


def test_boards_status_and_notifications() -> None:
    boards = rp.to_boards(rp.Reply("BOARDS", "ACK", "2", (
        "08 ok /dev/ttyACM0 Blitz Basic expansion board", "09 lost /dev/ttyACM1 Motor expansion board")))
    assert boards[0] == rp.BoardInfo(8, "ok", "/dev/ttyACM0", "Blitz Basic expansion board")
    assert boards[1].state == "lost"
    status = rp.to_status(rp.Reply("STATUS", "ACK", "", ('{"logging": true, "session": 3}',)))
    assert status == {"logging": True, "session": 3}
    notes = rp.to_notifications(rp.Reply("NOTIFICATIONS", "ACK", "2", ("1 warning a b", "2 3 c")))
    assert notes == [rp.NoteInfo(1, 2, "a b"), rp.NoteInfo(2, 3, "c")]


@pytest.mark.parametrize(
    ("convert", "reply", "fragment"),
    [
        (rp.to_sessions, rp.Reply("SESSIONS", "ACK", "1", ("1 2 3",)), "'<id> <start> <end> <messages>'"),
        (rp.to_sessions, rp.Reply("SESSIONS", "ACK", "1", ("x 2 3 4",)), "session id"),
        (rp.to_download, rp.Reply("DOWNLOAD 1", "ACK", "12"), "ACK <sent> <next offset>"),
        (rp.to_status, rp.Reply("STATUS", "ACK", "", ("not json",)), "JSON"),
        (rp.to_status, rp.Reply("STATUS", "ACK", "", ("[1]",)), "JSON object"),
        (rp.to_status, rp.Reply("STATUS", "ACK", "", ()), "one data line"),
        (rp.to_boards, rp.Reply("BOARDS", "ACK", "1", ("zz ok port",)), "hex board id"),
        (rp.to_none, rp.Reply("X", "ERROR", "abc oops"), "error code"),
    ],
)
def test_malformed_replies_say_what_was_expected(convert, reply: rp.Reply, fragment: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(BadReply, match="expected") as info:
        convert(reply)
    assert fragment in str(info.value)


def test_push_buffer_is_bounded() -> None:
    buffer = rp.PushBuffer(limit=2)
    for i in range(3):
        buffer(rp.LivePush(1, str(i)))
    assert buffer.dropped == 1
    assert [p.line for p in buffer.take()] == ["1", "2"]  # type: ignore[union-attr]
    assert buffer.take() == []


@given(st.lists(st.text(alphabet="0123456789abcdef ", max_size=30), max_size=20))
def test_data_lines_round_trip(lines: list[str]) -> None:
    reply, _ = assemble("HELP", [f"+{line}" for line in lines] + ["ACK"])
    assert reply is not None and list(reply.data) == lines
