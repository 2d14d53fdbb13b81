"""A real `blitz server` with a token: nothing works before AUTH, and guessing is slow.

Checked on the process itself, over loopback TCP, against its real Redis and
a simulated board: every command but AUTH, PING, HELP and QUIT is refused
before AUTH and has no effect at all (Redis holds exactly the same keys and
values, the board receives no command, no LIVE line is pushed); a wrong
token is refused after a delay that grows with every failure, on the same
connection and across connections from the same address; the right token
is never delayed.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
import redis

from blitz.simulator import SimulatedBoard, Simulator
from tests.reliability.harness import Control, ServerProcess, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

TOKEN = "correct horse battery"
GATED = ["START", "STOP", "RESET", "DELETE 1", "BOARD 08 0800", "BOARD 08 0820", "BOARD 08 08c0",
         "LIVE ON", "DOWNLOAD 1", "DOWNLOAD 1 5", "SESSIONS", "STATUS", "UPDATE", "NOTIFICATIONS",
         "BOARDS", "LOGGING", "start", "Reset"]


@dataclass
class Rig:
    port: int
    server: ServerProcess
    board: SimulatedBoard
    redis: redis.Redis
    prefix: str

    def connect(self) -> Control:
        return Control(self.port)

    def admin(self) -> Control:
        control = Control(self.port)
        assert control.command(f"AUTH {TOKEN}") == ["ACK"]
        return control

    def snapshot(self) -> dict[bytes, bytes | None]:
        return {key: self.redis.dump(key) for key in sorted(self.redis.scan_iter(match=self.prefix + "*"))}


@pytest.fixture(scope="module")
def rig(redis_url: str) -> Iterator[Rig]:
    prefix = f"rel-auth-{uuid.uuid4().hex[:8]}:"
    client = redis.Redis.from_url(redis_url)
    with tempfile.TemporaryDirectory(prefix="blitz-auth-") as tmp:
        sim = Simulator(["basic"], rate_hz=100, seed=5, link_dir=Path(tmp) / "links")
        with sim:
            server = ServerProcess("--port", "0", "--no-scan", "--reset-wait", "0", "--poll-interval", "0.05",
                                   "--redis-url", redis_url, "--data-dir", str(Path(tmp) / "data"),
                                   "--serial", sim.boards[0].path, "--token", TOKEN,
                                   env={"BLITZ_REDIS_PREFIX": prefix})
            try:
                rig = Rig(server.port(), server, sim.boards[0], client, prefix)
                admin = rig.admin()
                wait_for(lambda: any(b["state"] == "ok" for b in admin.status()["boards"]), "board 08 ok")
                assert admin.command("START") == ["ACK 1"]
                time.sleep(0.3)
                assert admin.command("STOP") == ["ACK 1"]
                admin.close()
                yield rig
            finally:
                code = server.stop()
                for key in client.scan_iter(match=prefix + "*"):
                    client.delete(key)
                client.close()
    assert code == 0 and "Traceback" not in server.text, server.text


def test_nothing_works_before_auth_and_nothing_changes(rig: Rig) -> None:
    before = rig.snapshot()
    assert before, "the session made before must be in Redis"
    board_lines = rig.board.counters().lines
    intruder = rig.connect()
    for command in GATED:
        assert intruder.command(command) == ["ERROR 401 authentication required"], command
    assert intruder.command("PING") == ["ACK PONG"]
    assert intruder.command("HELP")[-1] == "ACK"
    time.sleep(0.3)  # time for any effect to show: a START would make the board log, LIVE would push
    assert intruder.command("PING") == ["ACK PONG"] and intruder.pushes == []
    assert rig.snapshot() == before
    assert rig.board.counters().lines == board_lines and not rig.board.status()["logging"]
    admin = rig.admin()
    status = admin.status()
    assert status["logging"] is False and status["session"] == -1
    assert [line.split()[0] for line in admin.command("SESSIONS")] == ["+1", "ACK"]
    admin.close()
    assert intruder.command("QUIT") == ["ACK bye"]
    intruder.close()


def timed(control: Control, line: str) -> tuple[list[str], float]:
    start = time.monotonic()
    reply = control.command(line)
    return reply, time.monotonic() - start


def test_wrong_tokens_are_refused_and_slowed_down_across_connections(rig: Rig) -> None:
    first = rig.connect()
    reply, waited = timed(first, "AUTH guess-1")
    assert reply == ["ERROR 401 wrong token"] and waited >= 0.95
    assert first.command("STATUS") == ["ERROR 401 authentication required"]
    first.close()
    # A new connection from the same address does not start again from 1 s.
    # (Per connection, the delay doubles too: tests/server/test_control_auth.py.)
    second = rig.connect()
    reply, waited = timed(second, "AUTH guess-2")
    assert reply == ["ERROR 401 wrong token"] and waited >= 1.95, waited
    reply, waited = timed(second, f"AUTH {TOKEN}")  # the right token is never delayed
    assert reply == ["ACK"] and waited < 0.5
    assert second.command("LOGGING") == ["NOSESSION"]
    second.close()
