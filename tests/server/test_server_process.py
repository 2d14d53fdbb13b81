"""`blitz server` as a real subprocess: TCP control, simulated boards, SIGTERM ending cleanly."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from blitz.data.redis_buffer import DatabaseServer
from blitz.data.redis_process import EmbeddedRedis
from blitz.protocol import render_command
from blitz.simulator.simulator import Simulator

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

LAUNCH = "from blitz.cli.main import main; main()"


class Server:
    """A `blitz server` child whose stderr is collected by a thread."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", LAUNCH, "server", *args],
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

    def wait_for(self, pattern: str, timeout_s: float = 20.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for entry in list(self.log):
                match = re.search(pattern, entry)
                if match:
                    return match
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError(f"no {pattern!r} in the server's log:\n{''.join(self.log)}")

    def wait(self, timeout_s: float = 30.0) -> int:
        code = self.process.wait(timeout_s)
        self._reader.join(5)
        return code

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(30)
        self._reader.join(5)
        return code


class Client:
    """A plain-socket control client (docs/protocol.md)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.file = self.sock.makefile("rwb")

    def command(self, line: str) -> list[str]:
        self.file.write(line.encode() + b"\n")
        self.file.flush()
        reply = []
        while True:
            text = self.file.readline().decode().rstrip("\r\n")
            if text.startswith("!"):
                continue
            reply.append(text)
            if not text.startswith("+"):
                return reply

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def wait_ok(client: Client, board_hex: str, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(line.startswith(f"+{board_hex} ok") for line in client.command("BOARDS")):
            return
        time.sleep(0.05)
    raise AssertionError(f"board {board_hex} never became ok")


def read_sessions(data_dir: Path) -> tuple[list[Any], dict[int, list[str]]]:
    """Open the server's own append-only Redis again and read every session."""
    with EmbeddedRedis(data_dir, appendonly=True) as server:
        client = redis.Redis.from_url(server.url)
        store = DatabaseServer(redis=client)
        infos = store.list_sessions()
        lines = {info.id: store.get_all_from_session(info.id) for info in infos}
        client.close()
    return infos, lines


def test_sigterm_ends_the_running_session_cleanly() -> None:
    with tempfile.TemporaryDirectory(prefix="blitz-srv-") as tmp:
        data_dir, link_dir = Path(tmp) / "data", Path(tmp) / "links"
        sim = Simulator(["basic", "motor"], rate_hz=300, record=True, seed=11, link_dir=link_dir)
        with sim:
            server = Server(
                "--port", "0", "--no-scan", "--reset-wait", "0", "--poll-interval", "0.05",
                "--data-dir", str(data_dir), *[arg for b in sim.boards for arg in ("--serial", b.path)],
            )
            try:
                port = int(server.wait_for(r"listening on 127\.0\.0\.1:(\d+)").group(1))
                client = Client(port)
                wait_ok(client, "08")
                wait_ok(client, "09")
                assert client.command("START") == ["ACK 1"]
                time.sleep(0.5)
                assert client.command("BOARD 09 " + render_command(9, 0x85, [25])) == ["ACK"]
                unknown = client.command("BOARD 09 0999")
                assert unknown[-1].startswith("BOARDERROR 09") and "unknown instruction" in unknown[-1]
                time.sleep(0.5)
                status = client.command("STATUS")
                assert status[-1] == "ACK" and '"logging": true' in status[0]
                client.close()
            finally:
                code = server.stop()
            assert code == 0, "".join(server.log)
            counters = {b.board_id: (b.counters(), b.expected_lines()) for b in sim.boards}
        log = "".join(server.log)
        assert "session 1 stopped" in log and "embedded redis-server stopped" in log
        infos, lines = read_sessions(data_dir)
        assert [(i.id, i.end_ms is not None) for i in infos] == [(1, True)]
        for board_id, (count, expected) in counters.items():
            got = [line for line in lines[1] if int(line[:2], 16) == board_id]
            assert got == expected[: count.transmitted] and count.overwritten == 0


def test_refuses_a_public_host_without_token() -> None:
    server = Server("--host", "0.0.0.0", "--port", "0", "--no-scan")
    assert server.wait() == 1
    assert "refusing to listen on '0.0.0.0' without a token" in "".join(server.log)
