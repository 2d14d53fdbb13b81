"""The embedded redis-server of `blitz server`: its fsync policy, and what a crash leaves behind."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import redis

from tests.reliability.harness import ServerProcess

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


@pytest.mark.parametrize("fsync", ["always", "no"])
def test_the_appendfsync_flag_reaches_the_embedded_redis(fsync: str) -> None:
    with tempfile.TemporaryDirectory(prefix="blitz-fsync-") as tmp:
        server = ServerProcess("--port", "0", "--no-scan", "--data-dir", str(Path(tmp) / "data"),
                               "--appendfsync", fsync)
        try:
            server.port()
            assert f"fsync {fsync}" in server.wait_for(r"embedded redis-server started").string
            client = redis.Redis.from_url(f"unix://{Path(tmp) / 'data' / 'redis.sock'}")
            config = {_text(k): _text(v) for k, v in client.config_get("append*").items()}
            assert (config["appendfsync"], config["appendonly"]) == (fsync, "yes")
            client.close()
        finally:
            assert server.stop() == 0, server.text
