"""One owner per embedded-Redis data directory, and clean-up after an owner that crashed.

`DataDirLock` holds an exclusive `flock` on ``<data_dir>/redis.lock`` while its
owner runs and writes into it which redis-server the owner started.  The
kernel drops the lock when the owner dies, however it dies; the next owner
then finds the redis-server the dead one left running (if it still runs) and
stops it, so that exactly one redis-server ever works on the directory's
append-only file.  `parent_death_signal` is the Linux way of not leaving one
behind in the first place.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import json
import os
import signal
import time
from pathlib import Path
from typing import IO, Any, Callable

from redis import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from blitz.errors import StorageError

LOCK_NAME = "redis.lock"
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

__all__ = ["LOCK_NAME", "DataDirLock", "parent_death_signal", "process_gone"]


def parent_death_signal() -> Callable[[], None] | None:
    """A Popen preexec_fn that has the kernel SIGTERM the child when its parent dies (Linux only).

    prctl is looked up here, in the parent; the child only calls it.  The
    signal comes when the *thread* that started the child ends, so start the
    child from a thread that lives as long as the owner (the main thread).
    """
    if os.uname().sysname != "Linux":
        return None
    try:
        prctl = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def set_parent_death_signal() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return set_parent_death_signal


def process_gone(pid: int) -> bool:
    """True when `pid` no longer runs (a zombie waiting to be reaped counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[-1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


class DataDirLock:
    """The lock file of one data directory: take, record the redis-server, release."""

    def __init__(self, data_dir: Path, stop_timeout_s: float = 10.0) -> None:
        self.data_dir = data_dir
        self.stop_timeout_s = stop_timeout_s
        self._file: IO[str] | None = None

    @property
    def path(self) -> Path:
        return self.data_dir / LOCK_NAME

    def take(self) -> int | None:
        """Lock the directory; returns the pid of a crashed owner's redis-server it stopped.

        Raises StorageError when another live process holds the directory.
        """
        import fcntl

        lock = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            lock.seek(0)
            owner = _read_owner(lock.read())
            lock.close()
            if error.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise StorageError(f"cannot lock {self.path}: {error}") from error
            raise StorageError(
                f"{self.data_dir} is in use by process {owner.get('owner_pid', '?')} (its redis-server is "
                f"{owner.get('url', 'unknown')}); stop it or use another data directory"
            ) from None
        self._file = lock
        lock.seek(0)
        previous = _read_owner(lock.read())
        pid = previous.get("redis_pid")
        if isinstance(pid, int) and pid > 0 and self._is_left_over(pid, previous.get("url")):
            self._stop(pid)
            return pid
        return None

    def record(self, redis_pid: int, url: str | None) -> None:
        """Write who owns the directory, for the next owner after a crash."""
        if self._file is None:
            return
        self._file.seek(0)
        self._file.truncate()
        self._file.write(json.dumps({"owner_pid": os.getpid(), "redis_pid": redis_pid, "url": url}))
        self._file.flush()

    def release(self) -> None:
        """Empty the lock file and drop the lock (closing the file drops the flock)."""
        lock, self._file = self._file, None
        if lock is not None:
            lock.seek(0)
            lock.truncate()
            lock.close()

    def _is_left_over(self, pid: int, url: Any) -> bool:
        """Whether `pid` is still this directory's redis-server (and not a reused pid)."""
        if process_gone(pid):
            return False
        try:  # redis-server retitles itself "redis-server unixsocket:<data_dir>/redis.sock"
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                if os.fsencode(str(self.data_dir)) in cmdline.read():
                    return True
        except OSError:
            pass
        if not isinstance(url, str):
            return False
        probe = Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0, retry=Retry(NoBackoff(), 0))
        try:
            return int(probe.info("server")["process_id"]) == pid
        except (RedisError, KeyError, ValueError):
            return False
        finally:
            probe.close()

    def _stop(self, pid: int) -> None:
        """SIGTERM (Redis flushes its AOF and exits), SIGKILL if it hangs; wait until it is gone."""
        for signum, wait_s in ((signal.SIGTERM, self.stop_timeout_s), (signal.SIGKILL, 5.0)):
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + wait_s
            while not process_gone(pid) and time.monotonic() < deadline:
                time.sleep(0.01)
            if process_gone(pid):
                return
        raise StorageError(f"redis-server {pid} left in {self.data_dir} by a crashed server does not stop")


def _read_owner(text: str) -> dict[str, Any]:
    """The lock file's JSON, or {} when it is empty or not ours."""
    try:
        owner = json.loads(text) if text.strip() else {}
    except ValueError:
        return {}
    return owner if isinstance(owner, dict) else {}
