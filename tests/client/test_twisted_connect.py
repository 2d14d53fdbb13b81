"""The Twisted client over real loopback TCP to the real server service (no boards)."""

from __future__ import annotations

import socket
from typing import Any

import fakeredis
import pytest

from blitz.client import reply_parser as rp
from blitz.client.errors import AuthError, ConnectionFailed, NoSession, UnknownSession
from blitz.client.protocol import connect
from blitz.server.config import ServerConfig
from blitz.server.service import make_service

from tests.server.reactor_harness import run

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def started_service(reactor: Any, token: str) -> Any:
    config = ServerConfig(serial=(), scan=False, port=0, token=token, reset_wait_s=0.0)
    service = make_service(config, reactor, fakeredis.FakeRedis(server=fakeredis.FakeServer()))
    service.startService()
    return service


def test_connect_authenticate_and_pipeline_commands() -> None:
    def scenario(reactor: Any) -> Any:
        service = started_service(reactor, "tok")
        port = yield service.listener._waitingForPort
        pushes: list[rp.Push] = []
        protocol = yield connect(reactor, "127.0.0.1", port.getHost().port, token="tok", on_push=pushes.append)
        # sent back to back, answered in order
        ping, logging, start, stop = protocol.ping(), protocol.logging(), protocol.start(), protocol.stop()
        results = [(yield ping), (yield logging), (yield start), (yield stop)]
        sessions = yield protocol.sessions()
        streamed: list[str] = []
        downloaded = yield protocol.download(sessions[0].id, 0, streamed.append)
        errors = []
        for call in (protocol.stop, lambda: protocol.download(99)):
            try:
                yield call()
            except (NoSession, UnknownSession) as exc:
                errors.append(type(exc).__name__)
        status = yield protocol.status()
        yield protocol.quit()
        yield service.stopService()
        return results, sessions, downloaded, streamed, errors, status

    results, sessions, downloaded, streamed, errors, status = run(scenario, timeout_s=30)
    assert results == ["PONG", None, rp.StartResult(1, True), 1]
    assert [(s.id, s.messages) for s in sessions] == [(1, 0)] and sessions[0].end_ms is not None
    assert downloaded == rp.DownloadResult(0, 0) and streamed == []
    assert errors == ["NoSession", "UnknownSession"]
    assert status["logging"] is False and status["session"] == -1


def test_connect_with_a_wrong_token_fails_and_a_closed_port_too() -> None:
    def scenario(reactor: Any) -> Any:
        service = started_service(reactor, "tok")
        port = (yield service.listener._waitingForPort).getHost().port
        outcomes = []
        try:
            yield connect(reactor, "127.0.0.1", port, token="nope")
        except AuthError as exc:
            outcomes.append(str(exc))
        yield service.stopService()
        with socket.socket() as probe:  # bound, not listening: refused
            probe.bind(("127.0.0.1", 0))
            try:
                yield connect(reactor, "127.0.0.1", probe.getsockname()[1])
            except ConnectionFailed as exc:
                outcomes.append(str(exc))
        return outcomes

    wrong, closed = run(scenario, timeout_s=30)
    assert "wrong token" in wrong and "nope" not in wrong
    assert closed.startswith("cannot connect to 127.0.0.1:")
