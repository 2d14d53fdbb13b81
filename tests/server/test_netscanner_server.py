"""The NetScanner bridge inside the server: a fake scanner on loopback to Redis and back."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from twisted.internet.protocol import Factory

from blitz.boards import NetScannerBoard
from blitz.data.redis_buffer import DatabaseServer
from blitz.errors import ConfigError
from blitz.server.config import ServerConfig
from blitz.server.service import make_service, parse_netscanner_hosts
from tests.server.reactor_harness import run, sleep, wait_until
from tests.server.test_netscanner import VALUES, FakeScanner


def test_parse_netscanner_hosts():
    assert parse_netscanner_hosts("10.0.0.5") == [(0x0A, "10.0.0.5", 9000)]
    assert parse_netscanner_hosts("a:9100, b") == [(0x0A, "a", 9100), (0x0B, "b", 9000)]
    for bad in ("", "a,b,c", "a:port", ":9000", "a:70000"):
        with pytest.raises(ConfigError, match="netscanner_host"):
            parse_netscanner_hosts(bad)


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_scanner_lines_land_in_the_session_and_decode(real_redis: redis.Redis) -> None:
    def scenario(reactor: Any) -> Any:
        factory = Factory.forProtocol(FakeScanner)
        factory.commands, factory.reads, factory.drop_after = [], 0, -1
        port = reactor.listenTCP(0, factory, interface="127.0.0.1")
        config = ServerConfig(scan=False, port=0, netscanner_host=f"127.0.0.1:{port.getHost().port}")
        service = make_service(config, reactor, real_redis, listen=False)
        service.startService()
        try:
            yield wait_until(reactor, lambda: factory.reads >= 1, what="the bridge to poll")
            session_id = yield service.logger.start()
            yield wait_until(reactor, lambda: service.logger.status().session_messages >= 3, what="scanner lines")
            yield service.logger.stop()
            yield sleep(reactor, 0.2)
        finally:
            yield service.stopService()
            yield port.stopListening()
        return session_id

    session_id = run(scenario, timeout_s=40)
    lines = DatabaseServer(redis=real_redis).get_all_from_session(session_id)
    assert len(lines) >= 3
    assert all(line.startswith("0A50") and len(line) == 140 for line in lines)
    decoded = NetScannerBoard().decode(lines[0])
    assert [decoded[f"Channel_{i}"] for i in range(1, 17)] == pytest.approx(VALUES)
    stamps = [int(line[4:12], 16) for line in lines]
    assert stamps == sorted(stamps)  # milliseconds since the session started
