"""The embedded redis-server of `blitz server`: its fsync policy, and what a crash leaves behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import redis

from blitz.data.redis_process import EmbeddedRedis
from blitz.errors import StorageError
from tests.reliability.harness import ServerProcess, pid_alive, redis_pid, wait_for

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


# An owner process: starts the embedded Redis, appends lines, says so, then waits to be killed.
OWNER = """
import sys, time, redis
from blitz.data.redis_process import EmbeddedRedis
server = EmbeddedRedis(sys.argv[1], appendonly=True, appendfsync="everysec",
                       die_with_parent=sys.argv[2] == "1", lock_data_dir=True)
url = server.start()
client = redis.Redis.from_url(url)
client.rpush("lines", *[f"line {i}" for i in range(500)])
print(server.pid, flush=True)
time.sleep(60)
"""


def start_owner(data_dir: Path, die_with_parent: bool) -> tuple[subprocess.Popen[str], int]:
    owner = subprocess.Popen([sys.executable, "-c", OWNER, str(data_dir), "1" if die_with_parent else "0"],
                             stdout=subprocess.PIPE, text=True)
    assert owner.stdout is not None
    line = owner.stdout.readline()
    assert line.strip().isdigit(), f"the owner did not start its redis-server: {line!r}"
    return owner, int(line)


def lines_in(data_dir: Path) -> list[bytes]:
    with EmbeddedRedis(data_dir, appendonly=True, lock_data_dir=True) as server:
        client = redis.Redis.from_url(server.url)
        lines: list[bytes] = client.lrange("lines", 0, -1)  # type: ignore[assignment]
        client.close()
    return lines


def test_the_redis_server_of_a_sigkilled_owner_shuts_down_with_it() -> None:
    with tempfile.TemporaryDirectory(prefix="blitz-owner-") as tmp:
        owner, redis_pid = start_owner(Path(tmp), die_with_parent=True)
        owner.kill()
        owner.wait(10)
        wait_for(lambda: not pid_alive(redis_pid), "redis-server to exit after its owner", 5)
        assert lines_in(Path(tmp)) == [f"line {i}".encode() for i in range(500)]


def test_a_redis_server_left_running_by_a_crashed_owner_is_stopped_by_the_next_one() -> None:
    with tempfile.TemporaryDirectory(prefix="blitz-owner-") as tmp:
        owner, redis_pid = start_owner(Path(tmp), die_with_parent=False)
        try:
            owner.kill()
            owner.wait(10)
            time.sleep(0.3)
            assert pid_alive(redis_pid), "without die_with_parent the redis-server outlives its owner"
            server = EmbeddedRedis(Path(tmp), appendonly=True, lock_data_dir=True)
            with server:
                assert server.stopped_orphan == redis_pid and not pid_alive(redis_pid)
                client = redis.Redis.from_url(server.url)
                assert client.llen("lines") == 500
                client.close()
        finally:
            if pid_alive(redis_pid):
                os.kill(redis_pid, signal.SIGKILL)


def test_a_data_dir_held_by_a_live_owner_is_refused() -> None:
    with tempfile.TemporaryDirectory(prefix="blitz-owner-") as tmp:
        owner, redis_pid = start_owner(Path(tmp), die_with_parent=True)
        try:
            second = EmbeddedRedis(Path(tmp), appendonly=True, lock_data_dir=True)
            with pytest.raises(StorageError, match=f"in use by process {owner.pid}"):
                second.start()
            assert pid_alive(redis_pid) and not second.is_running()
        finally:
            owner.kill()
            owner.wait(10)
        wait_for(lambda: not pid_alive(redis_pid), "redis-server to exit after its owner", 5)
        assert len(lines_in(Path(tmp))) == 500  # the lock went with the owner


def test_a_restarted_server_after_sigkill_starts_on_the_same_data_dir() -> None:
    with tempfile.TemporaryDirectory(prefix="blitz-owner-") as tmp:
        args = ("--port", "0", "--no-scan", "--data-dir", str(Path(tmp) / "data"))
        first = ServerProcess(*args)
        first.port()
        child = redis_pid(f"unix://{Path(tmp) / 'data' / 'redis.sock'}")
        first.kill()
        second = ServerProcess(*args)
        try:
            second.port()
            assert not pid_alive(child)
        finally:
            code = second.stop()
            if pid_alive(child):  # without the fix: do not leave it running
                os.kill(child, signal.SIGKILL)
        assert code == 0, second.text
