"""AUTH: constant-time comparison, delayed and rate-limited failures, nothing works before it."""

from __future__ import annotations

import hmac

import pytest
from twisted.internet import task

from blitz.server import auth as auth_module
from blitz.server.auth import TokenGate
from tests.server.test_control_fakes import Connection, FakeConfig, FakeLogger, chunkings

TOKEN = "correct horse"


def locked(**options: float) -> Connection:
    logger = FakeLogger()
    logger.add_session([b"08a0000000010fff0000000000000"])
    logger.add_board(8)
    return Connection(logger, FakeConfig(token=TOKEN), **options)


def test_comparison_uses_hmac_compare_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[bytes, bytes]] = []
    real_compare = hmac.compare_digest

    def recording_compare(a: bytes, b: bytes) -> bool:
        seen.append((a, b))
        return real_compare(a, b)

    monkeypatch.setattr(auth_module.hmac, "compare_digest", recording_compare)
    conn = locked()
    assert conn.send("AUTH wrong", f"AUTH {TOKEN}") == []
    conn.clock.advance(1.0)
    assert conn.output() == ["ERROR 401 wrong token", "ACK"]
    assert seen == [(b"wrong", TOKEN.encode()), (TOKEN.encode(), TOKEN.encode())]


def test_wrong_token_is_answered_only_after_the_delay() -> None:
    for chunk in chunkings():
        conn = locked(auth_delay_s=1.0)
        assert conn.send("AUTH wrong", "PING", chunk=chunk) == []
        conn.clock.advance(0.999)
        assert conn.output() == []
        conn.clock.advance(0.001)
        assert conn.output() == ["ERROR 401 wrong token", "ACK PONG"]
        assert not conn.protocol.gate.authenticated


def test_failures_on_one_connection_wait_longer_and_longer() -> None:
    conn = locked(auth_delay_s=1.0, auth_max_delay_s=4.0)
    waits = []
    for _ in range(5):
        conn.send("AUTH nope")
        start = conn.clock.seconds()
        while not conn.output():
            conn.clock.advance(0.25)
        waits.append(conn.clock.seconds() - start)
    assert waits == [1.0, 2.0, 4.0, 4.0, 4.0]
    assert conn.send(f"AUTH {TOKEN}") == ["ACK"]  # the right token is never delayed
    other = locked(auth_delay_s=1.0)
    other.send("AUTH nope")
    other.clock.advance(1.0)
    assert other.output() == ["ERROR 401 wrong token"]  # the count is per connection


def test_pipelined_guesses_are_answered_one_delay_apart() -> None:
    conn = locked(auth_delay_s=1.0, auth_max_delay_s=1.0)
    conn.send(*[f"AUTH guess{i}" for i in range(10)])
    answered = []
    for _ in range(10):
        conn.clock.advance(1.0)
        answered.append(len(conn.output()))
    assert answered == [1] * 10


def test_nothing_works_before_auth_and_nothing_changes() -> None:
    gated = ["LOGGING", "START", "STOP", "UPDATE", "SESSIONS", "DOWNLOAD 1", "DELETE 1",
             "BOARDS", "BOARD 08 0881", "RESET", "STATUS", "LIVE ON", "NOTIFICATIONS",
             "DOWNLOAD x", "BOARD 8 zz", "LIVE sideways"]
    for chunk in chunkings():
        conn = locked()
        reply = conn.send(*gated, "PING", "HELP", chunk=chunk)
        assert reply[:len(gated)] == ["ERROR 401 authentication required"] * len(gated)
        assert reply[len(gated)] == "ACK PONG" and reply[-1] == "ACK"
        assert conn.logger.calls == [] and conn.logger.reads == []
        assert conn.logger.live_listeners == [] and conn.logger.session_id == -1
        assert list(conn.logger.sessions_by_id) == [1]


def test_unknown_commands_before_auth_are_400_and_quit_works() -> None:
    conn = locked()
    assert conn.send("FROB", "AUTH", "QUIT") == [
        "ERROR 400 unknown command 'FROB'", "ERROR 400 AUTH: expected a token (AUTH <token>)",
        "ACK bye"]
    assert conn.transport.disconnecting


def test_failed_auth_after_success_keeps_the_session_authenticated() -> None:
    conn = locked(auth_delay_s=0.5)
    assert conn.send(f"AUTH {TOKEN}", "AUTH bad") == ["ACK"]
    conn.clock.advance(0.5)
    assert conn.send("LOGGING") == ["ERROR 401 wrong token", "NOSESSION"]


def test_disconnect_during_the_delay_leaves_no_timer_behind() -> None:
    conn = locked(auth_delay_s=3.0)
    conn.send("AUTH bad")
    assert len(conn.clock.getDelayedCalls()) == 1
    conn.protocol.connectionLost(None)
    assert conn.clock.getDelayedCalls() == []


def test_gate_without_a_token_is_open() -> None:
    gate = TokenGate(None, task.Clock())
    assert gate.authenticated and not gate.required
    assert gate.check("anything").result is True


def test_token_may_hold_spaces_and_unicode() -> None:
    conn = Connection(FakeLogger(), FakeConfig(token="pass wörd"))
    assert conn.send("AUTH pass wörd", "LOGGING") == ["ACK", "NOSESSION"]
