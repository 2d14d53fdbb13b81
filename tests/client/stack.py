"""A real Blitz deployment for client integration tests: simulator, Redis, server, CLI.

`blitz simulate` and `blitz server` run as subprocesses on pseudo-terminals and
loopback TCP; the CLI is driven as `python -m blitz ...` subprocesses, exactly
as a user would run it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

BLITZ = [sys.executable, "-m", "blitz"]
LISTENING = re.compile(r"listening on ([\d.]+):(\d+)")


def wait_for(condition: Callable[[], Any], what: str, timeout_s: float = 20.0, interval_s: float = 0.05) -> Any:
    """Poll `condition` until it returns something truthy; fail saying `what` after the timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def stop_process(process: subprocess.Popen[Any], timeout_s: float = 15.0) -> None:
    """SIGTERM, then SIGKILL if it does not exit in time."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


@dataclass
class Stack:
    """Running simulator and server, and a way to run CLI commands against them."""

    workdir: Path
    redis_url: str
    token: str
    port: int = 0
    processes: list[subprocess.Popen[Any]] = field(default_factory=list)
    board_paths: list[str] = field(default_factory=list)
    server_log: Optional[Path] = None

    def start(self, boards: tuple[str, ...] = ("basic", "motor"), rate_hz: float = 200.0) -> "Stack":
        sim_args = [*BLITZ, "simulate", "--rate", str(rate_hz)]
        for board in boards:
            sim_args += ["--board", board]
        simulator = subprocess.Popen(sim_args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                     cwd=self.workdir)
        self.processes.append(simulator)
        assert simulator.stdout is not None
        for _ in boards:
            line = simulator.stdout.readline()
            assert line, "the simulator exited before listing its boards"
            self.board_paths.append(line.split()[1])
        self.server_log = self.workdir / "server.log"
        server_args = [*BLITZ, "server", "--port", "0", "--no-scan", "--redis-url", self.redis_url,
                       "--token", self.token, "--reset-wait", "0", "--poll-interval", "0.05"]
        for path in self.board_paths:
            server_args += ["--serial", path]
        with open(self.server_log, "w") as log:
            server = subprocess.Popen(server_args, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
        self.processes.append(server)

        def listening() -> Optional[int]:
            if server.poll() is not None:
                raise AssertionError(f"blitz server exited: {self.server_log.read_text()}")  # type: ignore[union-attr]
            match = LISTENING.search(self.server_log.read_text())  # type: ignore[union-attr]
            return int(match.group(2)) if match else None

        self.port = wait_for(listening, "the server to listen")
        wait_for(lambda: all(b["state"] == "ok" for b in self.status()["boards"])
                 and len(self.status()["boards"]) == len(boards), "every board to be ready")
        return self

    def stop(self) -> None:
        for process in reversed(self.processes):
            stop_process(process)
        self.processes.clear()

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update({"BLITZ_HOST": "127.0.0.1", "BLITZ_PORT": str(self.port), "BLITZ_TOKEN": self.token})
        env.update(extra)
        return env

    def blitz(self, *args: str, db: Optional[Path | str] = None, timeout_s: float = 120.0,
              env: Optional[dict[str, str]] = None) -> subprocess.CompletedProcess[str]:
        """Run one CLI command to completion."""
        run_env = env if env is not None else self.env()
        if db is not None:
            run_env["BLITZ_DB"] = str(db)
        return subprocess.run([*BLITZ, *args], capture_output=True, text=True, timeout=timeout_s,
                              env=run_env, cwd=self.workdir)

    def spawn(self, *args: str, db: Optional[Path | str] = None) -> subprocess.Popen[str]:
        """Start one CLI command and return at once."""
        env = self.env()
        if db is not None:
            env["BLITZ_DB"] = str(db)
        return subprocess.Popen([*BLITZ, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env, cwd=self.workdir)

    def json(self, *args: str, db: Optional[Path | str] = None) -> Any:
        """Run a command with --json and return its parsed stdout (it must succeed)."""
        result = self.blitz(*args, "--json", db=db)
        assert result.returncode == 0, f"blitz {' '.join(args)} failed: {result.stderr}"
        return json.loads(result.stdout)

    def status(self) -> dict[str, Any]:
        from blitz.client.blocking import Client

        with Client("127.0.0.1", self.port, token=self.token, timeout=5) as client:
            return client.status()
