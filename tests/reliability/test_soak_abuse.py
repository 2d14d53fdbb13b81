"""Soak: abusive clients hammer a real `blitz server` while it logs; the session loses nothing.

For SOAK_S seconds, seven client threads misbehave on the control port of a
`blitz server` process that logs two simulated boards into a real Redis:

    random     random bytes, newlines included
    long       over-long lines: 5000 bytes, and 200 KB without a newline
    wrong      valid commands that must be refused (unknown session, running
               session, absent board, bad hex, START while logging, ...) and
               harmless board commands (ID, STATUS, TRANSMIT), checking every reply
    pipeline   hundreds of commands in one write, then every reply counted
    live       LIVE ON and then never reading (a stuck consumer)
    churn      connect, send half a command, reset the connection
    download   DOWNLOAD of the running session again and again

Then: the server is still up and answered a PING at least every second, the
session holds exactly what the boards transmitted, no command was answered
ERROR 500, and the server's log holds no traceback.  Every loop stops by
itself after SOAK_S; every socket has a timeout.
"""

from __future__ import annotations

import os
import random
import socket
import struct
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Callable

import pytest
import redis

from blitz.data.redis_buffer import DatabaseServer
from blitz.simulator import Simulator
from tests.reliability.harness import Control, ServerProcess, lines_of, wait_boards_ok

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SOAK_S = 6.0
RATE_HZ = 200
TERMINALS = ("ACK", "NACK", "INSESSION", "NOSESSION", "NOBOARD", "BOARDERROR", "ERROR")


class Abuser(threading.Thread):
    """One misbehaving client loop; counts what it did and keeps any failure."""

    def __init__(self, name: str, port: int, until: float, loop: Callable[["Abuser"], None]) -> None:
        super().__init__(name=f"abuser-{name}", daemon=True)
        self.port, self.until, self.loop = port, until, loop
        self.stats: Counter[str] = Counter()
        self.error: BaseException | None = None
        self.rng = random.Random(name)

    def run(self) -> None:
        try:
            while time.monotonic() < self.until:
                self.loop(self)
        except BaseException as exc:  # reported by the test
            self.error = exc

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        self.stats["connections"] += 1
        return sock


def read_terminals(sock: socket.socket, count: int, stats: Counter[str]) -> list[str]:
    """Read until `count` terminal lines arrived; return them."""
    buffer = b""
    terminals: list[str] = []
    while len(terminals) < count:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError(f"closed after {len(terminals)} of {count} replies")
        buffer += data
        *lines, buffer = buffer.split(b"\n")
        for raw in lines:
            line = raw.decode("utf-8", "replace")
            if line[:1] in ("+", "!"):
                continue
            assert line.startswith(TERMINALS), line
            assert not line.startswith("ERROR 500"), line
            terminals.append(line)
            stats["replies"] += 1
    return terminals


def random_bytes(abuser: Abuser) -> None:
    with abuser.connect() as sock:
        for _ in range(20):
            data = os.urandom(abuser.rng.randint(1, 3000)).replace(b"QUIT", b"QUIX").replace(b"quit", b"quix")
            data = data.replace(b"\x05", b"\n")  # plenty of line ends
            sock.sendall(data + b"\n")
            abuser.stats["bytes"] += len(data) + 1
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(10)
        while sock.recv(65536):
            pass


def long_lines(abuser: Abuser) -> None:
    with abuser.connect() as sock:
        sock.sendall(b"P" * 5000 + b"\nPING\n")
        assert read_terminals(sock, 2, abuser.stats) == ["ERROR 413 line too long (max 4096 bytes)", "ACK PONG"]
        sock.sendall(b"x" * 200_000)
        sock.sendall(b"\nPING\n")
        assert read_terminals(sock, 2, abuser.stats)[1] == "ACK PONG"
        abuser.stats["bytes"] += 205_011


WRONG = [
    ("DOWNLOAD 999", "ERROR 404"), ("DELETE 999", "ERROR 404"), ("DELETE 1", "NACK"), ("START", "INSESSION"),
    ("BOARD 77 0881", "NOBOARD"), ("BOARD 08 zz", "ERROR 400"), ("BOARD 08 0", "ERROR 400"),
    ("LIVE sideways", "ERROR 400"), ("DOWNLOAD 1 99999999", "ACK 0"), ("FROB", "ERROR 400"),
    ("DOWNLOAD 1 x", "ERROR 400"), ("STATUS now", "ERROR 400"), ("BOARD 08 0881", "ACK"),
    ("BOARD 08 0883", "ACK"), ("BOARD 0c 0cc0", "ACK"), ("AUTH nothing-to-check", "ACK"),
    ("SESSIONS", "ACK"), ("UPDATE", "ACK"), ("NOTIFICATIONS", "ACK"), ("HELP", "ACK"),
]


def wrong_commands(abuser: Abuser) -> None:
    with abuser.connect() as sock:
        for _ in range(30):
            command, expected = abuser.rng.choice(WRONG)
            sock.sendall(command.encode() + b"\n")
            (reply,) = read_terminals(sock, 1, abuser.stats)
            assert reply.startswith(expected), (command, reply)


def pipeline(abuser: Abuser) -> None:
    with abuser.connect() as sock:
        commands = [abuser.rng.choice(WRONG)[0] for _ in range(300)]
        sock.sendall("".join(c + "\n" for c in commands).encode())
        read_terminals(sock, len(commands), abuser.stats)


def stuck_live(abuser: Abuser) -> None:
    sock = abuser.connect()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.sendall(b"LIVE ON\n")
    deadline = min(abuser.until, time.monotonic() + 2.0)
    while time.monotonic() < deadline:  # never read: the server must queue, drop and go on
        time.sleep(0.05)
    sock.close()


def churn(abuser: Abuser) -> None:
    sock = abuser.connect()
    sock.sendall(b"DOWNLOAD 1")  # half a command
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()  # RST
    time.sleep(0.01)


def downloads(abuser: Abuser) -> None:
    with abuser.connect() as sock:
        sock.sendall(b"DOWNLOAD 1\n")
        (reply,) = read_terminals(sock, 1, abuser.stats)
        assert reply.startswith("ACK "), reply


LOOPS = {"random": random_bytes, "long": long_lines, "wrong": wrong_commands, "pipeline": pipeline,
         "live": stuck_live, "churn": churn, "download": downloads}


def test_abusive_clients_change_nothing_while_a_session_logs(redis_url: str) -> None:
    prefix = f"rel-soak-{uuid.uuid4().hex[:8]}:"
    with tempfile.TemporaryDirectory(prefix="blitz-soak-") as tmp:
        sim = Simulator(["basic", "0c"], rate_hz=RATE_HZ, record=True, seed=17, link_dir=Path(tmp) / "links")
        with sim:
            args = ["--port", "0", "--no-scan", "--reset-wait", "0", "--poll-interval", "0.05",
                    "--redis-url", redis_url, "--data-dir", str(Path(tmp) / "data")]
            for board in sim.boards:
                args += ["--serial", board.path]
            server = ServerProcess(*args, env={"BLITZ_REDIS_PREFIX": prefix})
            try:
                port = server.port()
                admin = Control(port)
                wait_boards_ok(admin, [0x08, 0x0C])
                assert admin.command("START") == ["ACK 1"]
                until = time.monotonic() + SOAK_S
                abusers = [Abuser(name, port, until, loop) for name, loop in LOOPS.items()]
                for abuser in abusers:
                    abuser.start()
                slowest_ping = 0.0
                while time.monotonic() < until:
                    start = time.monotonic()
                    assert admin.command("PING") == ["ACK PONG"]
                    slowest_ping = max(slowest_ping, time.monotonic() - start)
                    time.sleep(0.1)
                for abuser in abusers:
                    abuser.join(30)
                assert admin.command("STOP") == ["ACK 1"]
                status = admin.status()
                notes = admin.notes()
                admin.close()
            finally:
                code = server.stop()
            truth = {b.board_id: (b.counters(), b.expected_lines()) for b in sim.boards}
    client = redis.Redis.from_url(redis_url)
    try:
        lines = DatabaseServer(redis=client, prefix=prefix).get_all_from_session(1)
        for key in client.scan_iter(match=prefix + "*"):
            client.delete(key)
    finally:
        client.close()
    stats = {abuser.name: dict(abuser.stats) for abuser in abusers}
    print(f"soak {SOAK_S} s: {stats}; session lines {len(lines)}; slowest PING {slowest_ping * 1000:.0f} ms")
    for abuser in abusers:
        assert not abuser.is_alive(), f"{abuser.name} did not stop"
        assert abuser.error is None, f"{abuser.name}: {abuser.error!r}"
        assert abuser.stats["connections"] > 0
    assert code == 0, server.text
    assert "Traceback" not in server.text and "Unhandled" not in server.text, server.text
    assert slowest_ping < 1.0
    for board_id, (counters, expected) in truth.items():
        assert counters.overwritten == 0 and counters.transmitted > 0.9 * counters.generated
        assert lines_of(board_id, lines) == expected[: counters.transmitted], f"board {board_id:02x}"
    assert {b["id"]: b["errors"] for b in status["boards"]} == {0x08: 0, 0x0C: 0}
    assert not any("internal error" in note for note in notes)
