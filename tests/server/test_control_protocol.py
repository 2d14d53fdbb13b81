"""Every command in every state, through StringTransport, fed in chunks of 1-9 bytes."""

from __future__ import annotations

import json
from typing import Callable

import pytest

from blitz.server import commands
from tests.server.test_control_fakes import Connection, FakeConfig, FakeLogger, chunkings

TOKEN = "s3cret token"
STORED = [b"08a0000000010fff0000000000000", b"08a000000002000000000fff00000"]
RUNNING_LINE = "08a00000000300000000000000000"


def setup(logging: bool, auth: str, chunk: int) -> Connection:
    """A connection to a logger holding session 1 (stopped) and, if logging, 2 (running).

    auth: "open" (no token), "locked" (token, not sent) or "unlocked" (token sent).
    """
    logger = FakeLogger()
    logger.add_session(STORED)
    logger.add_board(8)
    logger.notify("board 08 lost")
    if logging:
        logger.add_session([RUNNING_LINE.encode()], running=True)
    conn = Connection(logger, FakeConfig(token=None if auth == "open" else TOKEN))
    if auth == "unlocked":
        assert conn.send(f"AUTH {TOKEN}", chunk=chunk) == ["ACK"]
    logger.calls.clear()
    return conn


def help_lines() -> list[str]:
    return ["+" + synopsis for synopsis in commands.SYNOPSES.values()] + ["ACK"]


def status_check(conn: Connection, reply: list[str]) -> None:
    assert len(reply) == 2 and reply[0].startswith("+") and reply[1] == "ACK"
    report = json.loads(reply[0][1:])
    assert report["logging"] == (conn.logger.session_id >= 0)
    assert report["session"] == conn.logger.session_id
    assert report["boards"][0]["id"] == 8 and report["redis"]["ok"] is True


Expected = Callable[[bool], list[str]]

# command -> expected reply for (logging); checked after the reply by EFFECTS below.
REPLIES: dict[str, Expected] = {
    "PING": lambda logging: ["ACK PONG"],
    "LOGGING": lambda logging: ["INSESSION 2"] if logging else ["NOSESSION"],
    "START": lambda logging: ["INSESSION 2"] if logging else ["ACK 2"],
    "STOP": lambda logging: ["ACK 2"] if logging else ["NOSESSION"],
    "UPDATE": lambda logging: ["+" + RUNNING_LINE, "ACK"] if logging else ["NOSESSION"],
    "SESSIONS": lambda logging: (
        (["+2 1700000000000 None 1"] if logging else [])
        + ["+1 1700000000000 1700000001000 2", f"ACK {2 if logging else 1}"]),
    "DOWNLOAD 1": lambda logging: ["+" + line.decode() for line in STORED] + ["ACK 2 2"],
    "download 1 1": lambda logging: ["+" + STORED[1].decode(), "ACK 1 2"],
    "DOWNLOAD 1 7": lambda logging: ["ACK 0 7"],
    "DOWNLOAD 99": lambda logging: ["ERROR 404 no session 99"],
    "DELETE 1": lambda logging: ["ACK"],
    "DELETE 2": lambda logging: ["NACK session 2 is running"] if logging else ["ERROR 404 no session 2"],
    "BOARDS": lambda logging: ["+08 ok /dev/ttyACM0 Board 08", "ACK 1"],
    "BOARD 08 0881": lambda logging: ["+0840", "ACK"],
    "BOARD 0a 0a81": lambda logging: ["NOBOARD 0a"],
    "RESET": lambda logging: ["ACK"],
    "LIVE ON": lambda logging: ["ACK"],
    "LIVE OFF": lambda logging: ["ACK"],
    "NOTIFICATIONS": lambda logging: ["+1700000000000 2 board 08 lost", "ACK 1"],
    "HELP": lambda logging: help_lines(),
    "QUIT": lambda logging: ["ACK bye"],
}

EFFECTS: dict[str, Callable[[Connection, bool], None]] = {
    "START": lambda conn, logging: _assert(conn.logger.session_id == 2),
    "STOP": lambda conn, logging: _assert(conn.logger.session_id == -1),
    "DELETE 1": lambda conn, logging: _assert(1 not in conn.logger.sessions_by_id),
    "DELETE 2": lambda conn, logging: _assert((2 in conn.logger.sessions_by_id) == logging),
    "RESET": lambda conn, logging: _assert(not conn.logger.sessions_by_id
                                           and conn.logger.session_id == -1),
    "LIVE ON": lambda conn, logging: _assert(len(conn.logger.live_listeners) == 1),
    "LIVE OFF": lambda conn, logging: _assert(not conn.logger.live_listeners),
    "BOARD 08 0881": lambda conn, logging: _assert(
        conn.logger.calls == [("board_command", 8, "0881")]),
    "QUIT": lambda conn, logging: _assert(conn.transport.disconnecting
                                          and conn.transport.producer is None),
}


def _assert(condition: bool) -> None:
    assert condition


STATES = [(logging, auth) for logging in (False, True) for auth in ("open", "locked", "unlocked")]


@pytest.mark.parametrize("logging,auth", STATES)
@pytest.mark.parametrize("command", list(REPLIES))
def test_every_command_in_every_state(command: str, logging: bool, auth: str) -> None:
    for chunk in chunkings():
        conn = setup(logging, auth, chunk)
        sessions_before = {k: list(v.lines) for k, v in conn.logger.sessions_by_id.items()}
        reply = conn.send(command, chunk=chunk)
        verb = command.split()[0].upper()
        if auth == "locked" and verb not in commands.PRE_AUTH_VERBS:
            assert reply == ["ERROR 401 authentication required"], (command, chunk)
            assert conn.logger.calls == [] and conn.logger.reads == []
            assert {k: v.lines for k, v in conn.logger.sessions_by_id.items()} == sessions_before
            assert conn.logger.session_id == (2 if logging else -1)
            continue
        assert reply == REPLIES[command](logging), (command, chunk)
        if command in EFFECTS:
            EFFECTS[command](conn, logging)
        if verb != "QUIT":
            assert conn.send("PING", chunk=chunk) == ["ACK PONG"]


@pytest.mark.parametrize("logging,auth", STATES)
def test_status_in_every_state(logging: bool, auth: str) -> None:
    for chunk in chunkings():
        conn = setup(logging, auth, chunk)
        reply = conn.send("STATUS", chunk=chunk)
        if auth == "locked":
            assert reply == ["ERROR 401 authentication required"]
            assert conn.logger.calls == []
        else:
            status_check(conn, reply)


@pytest.mark.parametrize("logging", [False, True])
def test_auth_in_every_state(logging: bool) -> None:
    for chunk in chunkings():
        conn = setup(logging, "locked", chunk)
        assert conn.send("LOGGING", f"AUTH {TOKEN}", "LOGGING", chunk=chunk) == [
            "ERROR 401 authentication required", "ACK",
            "INSESSION 2" if logging else "NOSESSION"]
        open_conn = setup(logging, "open", chunk)
        assert open_conn.send("AUTH anything", chunk=chunk) == ["ACK"]


def test_pipelined_commands_are_answered_in_order() -> None:
    script = ["PING", "START", "LOGGING", "FROB", "STOP", "SESSIONS", "DOWNLOAD 1", "QUIT", "PING"]
    expected = ["ACK PONG", "ACK 1", "INSESSION 1", "ERROR 400 unknown command 'FROB'",
                "ACK 1", "+1 1700000000000 1700000005000 0", "ACK 1", "ACK 0 0", "ACK bye"]
    for chunk in chunkings():
        conn = Connection(FakeLogger())
        assert conn.send(*script, chunk=chunk) == expected, chunk


def test_asynchronous_answers_hold_later_replies_back() -> None:
    for chunk in chunkings():
        logger = FakeLogger()
        logger.add_board(8, answer=lambda line: ["0882"])
        logger.hold = True
        conn = Connection(logger)
        assert conn.send("START", "PING", "BOARD 08 0081", "LOGGING", "STOP", "PING",
                         chunk=chunk) == []
        logger.release()
        assert conn.output() == ["ACK 1", "ACK PONG"]
        logger.release()
        assert conn.output() == ["+0882", "ACK", "INSESSION 1"]
        logger.release()
        assert conn.output() == ["ACK 1", "ACK PONG"]
        assert logger.held == []


def test_reply_arriving_after_disconnect_is_dropped() -> None:
    logger = FakeLogger()
    logger.hold = True
    conn = Connection(logger)
    conn.send("START", "PING")
    conn.protocol.connectionLost(None)
    logger.release()
    assert conn.output() == [] and logger.session_id == 1


def test_configuration_disables_delete_and_reset_without_asking_the_logger() -> None:
    logger = FakeLogger()
    logger.add_session(STORED)
    conn = Connection(logger, FakeConfig(allow_delete=False, allow_reset=False))
    assert conn.send("DELETE 1", "RESET") == ["ERROR 403 DELETE is disabled",
                                              "ERROR 403 RESET is disabled"]
    assert logger.calls == [] and 1 in logger.sessions_by_id


def test_logger_refusals_map_to_error_lines() -> None:
    logger = FakeLogger(allow_delete=False, allow_reset=False)
    logger.add_session(STORED)
    conn = Connection(logger)
    assert conn.send("DELETE 1", "RESET") == ["ERROR 403 DELETE is disabled",
                                              "ERROR 403 RESET is disabled"]
    logger.storage_down = True
    assert conn.send("SESSIONS", "DOWNLOAD 1", "PING") == [
        "ERROR 503 Redis is unavailable (connection refused)"] * 2 + ["ACK PONG"]


def test_board_errors_map_to_boarderror() -> None:
    from blitz.server.interfaces import BoardCommandError

    def refuse(line: str) -> list[str]:
        raise BoardCommandError(9, "answered 0965 (unknown instruction)")

    logger = FakeLogger()
    logger.add_board(9, answer=refuse)
    assert Connection(logger).send("BOARD 09 0990") == [
        "BOARDERROR 09 answered 0965 (unknown instruction)"]


def test_unexpected_errors_answer_500_log_the_traceback_and_keep_going() -> None:
    from twisted.logger import globalLogPublisher

    class BrokenLogger(FakeLogger):
        def sessions(self):  # type: ignore[no-untyped-def]
            raise KeyError("boom")

        def start(self):  # type: ignore[no-untyped-def]
            raise RuntimeError("sync bug")

    events: list[dict[str, object]] = []
    globalLogPublisher.addObserver(events.append)
    try:
        conn = Connection(BrokenLogger())
        assert conn.send("SESSIONS", "START", "PING") == [
            "ERROR 500 internal error", "ERROR 500 internal error", "ACK PONG"]
    finally:
        globalLogPublisher.removeObserver(events.append)
    failures = [e for e in events if "log_failure" in e]
    assert [type(e["log_failure"].value) for e in failures] == [KeyError, RuntimeError]  # type: ignore[attr-defined]
    assert not conn.transport.disconnecting


def test_text_with_newlines_cannot_break_framing() -> None:
    logger = FakeLogger()
    logger.notify("two\nlines\r")
    assert Connection(logger).send("NOTIFICATIONS") == [
        "+1700000000000 2 two lines ", "ACK 1"]


def test_quit_discards_everything_after_it() -> None:
    logger = FakeLogger()
    conn = Connection(logger)
    assert conn.send("QUIT", "START") == ["ACK bye"]
    assert logger.calls == [] and conn.transport.disconnecting


def test_start_while_another_start_has_no_number_yet_is_nack() -> None:
    from twisted.internet.defer import fail

    from blitz.server.interfaces import AlreadyLogging

    class StartingLogger(FakeLogger):
        def start(self):  # type: ignore[no-untyped-def]
            return fail(AlreadyLogging(-1))

    assert Connection(StartingLogger()).send("START") == ["NACK a session is starting"]
