"""A command whose Logger Deferred never fires cannot hang its connection forever.

START, STOP, RESET and BOARD wait for boards or Redis.  If the Logger's
Deferred never fires (a bug, a Redis call that never returns), the
connection would wait for ever and, since commands run one at a time, never
answer again.  After `reply_deadline_s` (60 s by default) the command is
answered `ERROR 504` and the connection goes on; a late result is dropped
without a trace in the log.  AUTH and DOWNLOAD may legitimately take longer
and are not cut.
"""

from __future__ import annotations

import gc
from typing import Any, Iterator

import pytest
from twisted.logger import globalLogPublisher

from blitz.server.interfaces import StorageUnavailable
from tests.server.test_control_fakes import Connection, FakeConfig, FakeLogger, SlowTransport, reactor_turn

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]


@pytest.fixture
def logged() -> Iterator[list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []
    globalLogPublisher.addObserver(events.append)
    try:
        yield events
    finally:
        globalLogPublisher.removeObserver(events.append)


def held() -> Connection:
    logger = FakeLogger()
    logger.add_board(8)
    logger.hold = True
    return Connection(logger)


@pytest.mark.parametrize("command", ["START", "STOP", "RESET", "BOARD 08 0881"])
def test_a_command_that_never_completes_is_answered_504_and_the_connection_goes_on(
        command: str, logged: list[dict[str, Any]]) -> None:
    conn = held()
    assert conn.send(command, "PING") == []
    conn.clock.advance(59.9)
    assert conn.output() == []
    conn.clock.advance(0.1)
    verb = command.split()[0]
    assert conn.output() == [f"ERROR 504 {verb} timed out after 60 s", "ACK PONG"]
    assert conn.send("PING") == ["ACK PONG"]
    conn.logger.release()  # the late answer is dropped
    assert conn.output() == [] and conn.clock.getDelayedCalls() == []
    assert not conn.transport.disconnecting


def test_a_late_failure_is_dropped_without_an_unhandled_error(logged: list[dict[str, Any]]) -> None:
    conn = held()
    conn.logger.storage_down = True
    conn.send("RESET")
    conn.clock.advance(60)
    assert conn.output() == ["ERROR 504 RESET timed out after 60 s"]
    held_deferred, _ = conn.logger.held[0]
    held_deferred.errback(StorageUnavailable("Redis never came back"))
    del held_deferred
    conn.logger.held.clear()
    gc.collect()
    assert conn.output() == []
    assert not [e for e in logged if e.get("log_failure") is not None], logged


def test_a_command_in_time_leaves_no_timer_behind() -> None:
    conn = held()
    conn.send("START")
    conn.clock.advance(30)
    conn.logger.release()
    assert conn.output() == ["ACK 1"]
    assert conn.clock.getDelayedCalls() == []
    conn.send("STOP")
    conn.protocol.connectionLost(None)  # a client that goes away while waiting
    assert conn.clock.getDelayedCalls() == []


def test_the_deadline_can_be_set_per_factory() -> None:
    logger = FakeLogger()
    logger.hold = True
    conn = Connection(logger, reply_deadline_s=2.5)
    conn.send("START")
    conn.clock.advance(2.5)
    assert conn.output() == ["ERROR 504 START timed out after 2.5 s"]


def test_auth_and_download_are_not_cut() -> None:
    logger = FakeLogger()
    logger.add_session([b"08a0%08x0000000000000000" % n for n in range(5000)])
    transport = SlowTransport(limit=4096)
    conn = Connection(logger, FakeConfig(token="t"), transport=transport, reply_deadline_s=1.0,
                      auth_delay_s=5.0)
    conn.send("AUTH wrong")
    conn.clock.advance(5.0)
    assert conn.output() == ["ERROR 401 wrong token"]
    conn.send("AUTH t", "DOWNLOAD 1")
    for _ in range(50):  # the client reads nothing for 10 s: the download waits, paused
        reactor_turn(conn.clock)
        conn.clock.advance(0.2)
    assert transport.paused
    while not transport.value().endswith(b"ACK 5000 5000\n"):
        transport.drain()
        reactor_turn(conn.clock)
    assert b"ERROR 504" not in transport.value()
