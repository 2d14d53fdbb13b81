"""Helpers of the reliability suite: a `blitz server` child, a socket client, and line accounting.

Everything is real: the server is `python -m blitz server` in its own process,
boards are the simulator's pseudo-terminals, Redis is a redis-server child,
and every wait is bounded.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import redis

from blitz.data.redis_buffer import DatabaseServer
from blitz.data.redis_process import EmbeddedRedis

BLITZ = [sys.executable, "-m", "blitz"]


def wait_for(condition: Callable[[], Any], what: str, timeout_s: float = 20.0, interval_s: float = 0.02) -> Any:
    """Poll `condition` until it is truthy; fail naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)


class ServerProcess:
    """A `blitz server` child whose stderr is collected by a thread."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.args = args
        self.process = subprocess.Popen(
            [*BLITZ, "server", *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env={**os.environ, **(env or {})},
        )
        self.log: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for raw in self.process.stderr:
            self.log.append(raw.decode("utf-8", "replace"))

    @property
    def text(self) -> str:
        return "".join(self.log)

    def wait_for(self, pattern: str, timeout_s: float = 20.0) -> re.Match[str]:
        """The first log line matching `pattern` (fails if the server exits first)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for entry in list(self.log):
                match = re.search(pattern, entry)
                if match:
                    return match
            if self.process.poll() is not None:
                time.sleep(0.1)  # let the reader take the last lines
                break
            time.sleep(0.02)
        raise AssertionError(f"no {pattern!r} in the server's log:\n{self.text}")

    def port(self) -> int:
        return int(self.wait_for(r"listening on 127\.0\.0\.1:(\d+)").group(1))

    def signal(self, signum: int) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signum)

    def kill(self) -> None:
        """SIGKILL: no clean-up at all."""
        self.signal(signal.SIGKILL)
        self.process.wait(10)
        self._reader.join(5)

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM and wait; SIGKILL if it hangs (and say so)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
            raise AssertionError(f"the server did not stop within {timeout_s} s:\n{self.text}") from None
        self._reader.join(5)
        return code


class Control:
    """A plain-socket control client (docs/protocol.md); push lines are kept apart."""

    def __init__(self, port: int, timeout_s: float = 15.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)
        self.file = self.sock.makefile("rwb")
        self.pushes: list[str] = []

    def command(self, line: str) -> list[str]:
        self.file.write(line.encode() + b"\n")
        self.file.flush()
        reply = []
        while True:
            raw = self.file.readline()
            if not raw:
                raise ConnectionError(f"connection closed during {line!r}")
            text = raw.decode().rstrip("\r\n")
            if text.startswith("!"):
                self.pushes.append(text)
                continue
            reply.append(text)
            if not text.startswith("+"):
                return reply

    def status(self) -> dict[str, Any]:
        reply = self.command("STATUS")
        assert reply[-1] == "ACK", reply
        return dict(json.loads(reply[0][1:]))

    def notes(self) -> list[str]:
        return [line[1:] for line in self.command("NOTIFICATIONS")[:-1]]

    def close(self) -> None:
        try:
            self.file.close()
            self.sock.close()
        except OSError:
            pass


def wait_boards_ok(control: Control, board_ids: Sequence[int], timeout_s: float = 20.0) -> None:
    def ready() -> bool:
        states = {b["id"]: b["state"] for b in control.status()["boards"]}
        return all(states.get(board_id) == "ok" for board_id in board_ids)

    wait_for(ready, f"boards {[f'{b:02x}' for b in board_ids]} to be ok", timeout_s, 0.05)


def read_sessions(data_dir: Path) -> tuple[list[Any], dict[int, list[str]]]:
    """Open the server's own append-only Redis again and read every session."""
    with EmbeddedRedis(data_dir, appendonly=True) as server:
        client = redis.Redis.from_url(server.url)
        store = DatabaseServer(redis=client)
        infos = store.list_sessions()
        lines = {info.id: store.get_all_from_session(info.id) for info in infos}
        client.close()
    return infos, lines


@dataclass(frozen=True)
class Accounting:
    """How one board's stored lines compare with what it transmitted."""

    board_id: int
    transmitted: int
    stored: int
    gaps: list[tuple[int, int]]  # [start, end) index ranges of transmitted lines missing in Redis

    @property
    def missing(self) -> int:
        return sum(end - start for start, end in self.gaps)


def account(board_id: int, stored: Sequence[str], expected: Sequence[str], transmitted: int) -> Accounting:
    """Check `stored` holds only transmitted lines, each once and in order; find the gaps.

    Raises AssertionError for a line the board never sent, a duplicate or a
    line out of order; returns the index ranges of transmitted lines missing.
    """
    sent = list(expected[:transmitted])
    index = {line: position for position, line in enumerate(sent)}
    assert len(index) == len(sent), f"board {board_id:02x}: the simulator's lines are not unique"
    previous = -1
    gaps: list[tuple[int, int]] = []
    for line in stored:
        position = index.get(line)
        assert position is not None, f"board {board_id:02x}: {line!r} was stored but never transmitted"
        assert position > previous, (
            f"board {board_id:02x}: {line!r} stored twice or out of order (index {position} after {previous})")
        if position > previous + 1:
            gaps.append((previous + 1, position))
        previous = position
    if previous + 1 < len(sent):
        gaps.append((previous + 1, len(sent)))
    return Accounting(board_id, transmitted, len(stored), gaps)


def lines_of(board_id: int, lines: Sequence[str]) -> list[str]:
    return [line for line in lines if int(line[:2], 16) == board_id]


def redis_pid(url: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        return int(client.info("server")["process_id"])
    finally:
        client.close()


def pid_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
