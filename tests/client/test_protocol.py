"""The Twisted client protocol against a StringTransport, in every chunk size."""

from __future__ import annotations

from typing import Any

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from blitz.client import reply_parser as rp
from blitz.client.errors import (
    AuthError,
    BadReply,
    BoardErrorReply,
    ConnectionFailed,
    NoBoard,
    NoSession,
    Refused,
    UnknownSession,
)
from blitz.client.protocol import BlitzClientProtocol

LINE_A = "0800000001123456789abcdef000"
LINE_B = "0800000002123456789abcdef000"


def connected() -> tuple[BlitzClientProtocol, StringTransport, list[rp.Push]]:
    pushes: list[rp.Push] = []
    protocol = BlitzClientProtocol(pushes.append)
    transport = StringTransport()
    protocol.makeConnection(transport)
    return protocol, transport, pushes


def result(deferred: Deferred[Any]) -> Any:
    box: list[Any] = []
    deferred.addBoth(box.append)
    assert box, "the Deferred has not fired"
    if isinstance(box[0], Failure):
        box[0].raiseException()
    return box[0]


def feed(protocol: BlitzClientProtocol, data: bytes, chunk: int) -> None:
    for start in range(0, len(data), chunk):
        protocol.dataReceived(data[start:start + chunk])


CONVERSATION = (
    b"ACK PONG\n"
    b"NOSESSION\r\n"
    b"!LIVE 1 " + LINE_A.encode() + b"\n"
    b"ACK 1\n"
    b"+2 2000 None 5\n"
    b"!NOTE 1700000000000 3 board 09 lost\n"
    b"+1 1000 1500 10\n"
    b"ACK 2\n"
    b"+" + LINE_A.encode() + b"\n"
    b"+" + LINE_B.encode() + b"\n"
    b"ACK 2 7\n"
    b'+{"logging": false, "session": -1}\n'
    b"ACK\n"
    b"+08 ok /dev/ttyACM0 Blitz Basic expansion board\n"
    b"ACK 1\n"
    b"+1700000000000 1 hello there\n"
    b"ACK 1\n"
)


@pytest.mark.parametrize("chunk", range(1, 10))
def test_pipelined_commands_in_every_chunk_size(chunk: int) -> None:
    protocol, transport, pushes = connected()
    streamed: list[str] = []
    ping = protocol.ping()
    logging = protocol.logging()
    start = protocol.start()
    sessions = protocol.sessions()
    download = protocol.download(2, 5, streamed.append)
    status = protocol.status()
    boards = protocol.boards()
    notes = protocol.notifications()
    assert transport.value() == (
        b"PING\nLOGGING\nSTART\nSESSIONS\nDOWNLOAD 2 5\nSTATUS\nBOARDS\nNOTIFICATIONS\n"
    )
    feed(protocol, CONVERSATION, chunk)
    assert result(ping) == "PONG"
    assert result(logging) is None
    assert result(start) == rp.StartResult(1, True)
    assert result(sessions) == [rp.SessionInfo(2, 2000, None, 5), rp.SessionInfo(1, 1000, 1500, 10)]
    assert result(download) == rp.DownloadResult(2, 7)
    assert streamed == [LINE_A, LINE_B]
    assert result(status) == {"logging": False, "session": -1}
    assert result(boards) == [rp.BoardInfo(8, "ok", "/dev/ttyACM0", "Blitz Basic expansion board")]
    assert result(notes) == [rp.NoteInfo(1700000000000, 1, "hello there")]
    assert pushes == [rp.LivePush(1, LINE_A), rp.NoteInfo(1700000000000, 3, "board 09 lost")]


@pytest.mark.parametrize(
    ("call", "sent", "answer", "kind"),
    [
        (lambda p: p.stop(), b"STOP\n", b"NOSESSION\n", NoSession),
        (lambda p: p.update(), b"UPDATE\n", b"NOSESSION\n", NoSession),
        (lambda p: p.delete(9), b"DELETE 9\n", b"ERROR 404 no session 9\n", UnknownSession),
        (lambda p: p.delete(2), b"DELETE 2\n", b"NACK session 2 is running\n", Refused),
        (lambda p: p.board(12, "0881"), b"BOARD 0c 0881\n", b"NOBOARD 0c\n", NoBoard),
        (lambda p: p.board(8, "0885"), b"BOARD 08 0885\n", b"BOARDERROR 08 timeout\n", BoardErrorReply),
        (lambda p: p.auth("x"), b"AUTH x\n", b"ERROR 401 wrong token\n", AuthError),
        (lambda p: p.reset(), b"RESET\n", b"FOO\n", BadReply),
    ],
)
def test_error_replies_fail_the_deferred(call, sent: bytes, answer: bytes, kind: type) -> None:  # type: ignore[no-untyped-def]
    protocol, transport, _ = connected()
    deferred = call(protocol)
    assert transport.value() == sent
    protocol.dataReceived(answer)
    with pytest.raises(kind):
        result(deferred)


def test_board_reply_and_live_toggle() -> None:
    protocol, transport, pushes = connected()
    board = protocol.board(8, "0881")
    live = protocol.live(True)
    protocol.dataReceived(b"+0882\nACK\nACK\n!LIVE 4 " + LINE_B.encode() + b"\n")
    assert result(board) == ["0882"]
    assert result(live) is None
    assert pushes == [rp.LivePush(4, LINE_B)]
    assert transport.value() == b"BOARD 08 0881\nLIVE ON\n"


def test_connection_lost_fails_every_waiting_command() -> None:
    protocol, _, _ = connected()
    first, second = protocol.ping(), protocol.sessions()
    protocol.connectionLost(Failure(ConnectionError("reset by peer")))
    for deferred in (first, second):
        with pytest.raises(ConnectionFailed, match="reset by peer"):
            result(deferred)
    with pytest.raises(ConnectionFailed, match="closed"):
        result(protocol.ping())


def test_a_protocol_violation_fails_waiters_and_drops_the_connection() -> None:
    protocol, transport, _ = connected()
    protocol.dataReceived(b"ACK surprise\n")
    assert transport.disconnecting
    protocol2, transport2, _ = connected()
    waiting = protocol2.ping()
    protocol2.dataReceived(b"GARBAGE\n")
    with pytest.raises(BadReply):
        result(waiting)
    assert transport2.disconnecting


def test_a_failing_data_callback_fails_only_its_command() -> None:
    protocol, _, _ = connected()

    def explode(line: str) -> None:
        raise RuntimeError(f"cannot store {line}")

    download = protocol.download(1, 0, explode)
    ping = protocol.ping()
    protocol.dataReceived(b"+" + LINE_A.encode() + b"\n+" + LINE_B.encode() + b"\nACK 2 2\nACK PONG\n")
    with pytest.raises(RuntimeError, match="cannot store"):
        result(download)
    assert result(ping) == "PONG"


def test_a_failing_push_listener_is_logged_and_replies_go_on() -> None:
    from twisted.python import log

    def explode(push: rp.Push) -> None:
        raise RuntimeError("listener bug")

    events: list[dict[str, Any]] = []
    log.addObserver(events.append)
    try:
        protocol = BlitzClientProtocol(explode)
        protocol.makeConnection(StringTransport())
        ping = protocol.ping()
        protocol.dataReceived(b"!LIVE 1 " + LINE_A.encode() + b"\nACK PONG\n")
    finally:
        log.removeObserver(events.append)
    assert result(ping) == "PONG"
    assert any(event.get("isError") and "listener bug" in str(event.get("failure")) for event in events)


def test_a_too_long_line_is_a_protocol_error() -> None:
    protocol, transport, _ = connected()
    waiting = protocol.status()
    protocol.dataReceived(b"+" + b"x" * (BlitzClientProtocol.MAX_LENGTH + 10) + b"\n")
    with pytest.raises(BadReply, match="expected lines under"):
        result(waiting)
    assert transport.disconnecting
