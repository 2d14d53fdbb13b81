"""The `appendfsync everysec` window: how long an acknowledged line waits for its fsync, and what a power cut does.

A crash of the server or of Redis loses nothing Redis acknowledged (the
append-only file is written before the reply; the kernel keeps it), as
test_crash_server_sigkill shows.  Only a power cut or a kernel crash can
lose what was written but not yet fsynced.  With `everysec` Redis fsyncs in
a background thread about once a second; here that thread is watched (its
voluntary context switches in /proc) while lines are appended, to measure
the longest time between two fsyncs.  Then a power cut is emulated by
cutting the append-only file back to what it held a moment before Redis is
killed: the server must notice the shortfall, count it and say so.
"""

from __future__ import annotations

import os
import re
import signal
import tempfile
import threading
import time
from pathlib import Path

import pytest
import redis

from blitz.data.redis_process import EmbeddedRedis
from blitz.simulator.simulator import Simulator
from tests.reliability.harness import (
    Control,
    ServerProcess,
    account,
    lines_of,
    pid_alive,
    wait_boards_ok,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


def fsync_thread(pid: int) -> Path:
    """/proc status file of redis-server's AOF fsync thread (bio_aof_fsync, or bio_aof in Redis 7.2+)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        if (task / "comm").read_text().strip().startswith("bio_aof"):
            return task / "status"
    raise AssertionError(f"redis-server {pid} has no bio_aof thread")


def switches(status: Path) -> int:
    match = re.search(r"^voluntary_ctxt_switches:\s+(\d+)", status.read_text(), re.M)
    assert match is not None
    return int(match.group(1))


def test_everysec_fsyncs_an_acknowledged_line_within_about_a_second() -> None:
    with tempfile.TemporaryDirectory(prefix="blitz-fsync-") as tmp, \
            EmbeddedRedis(tmp, appendonly=True, appendfsync="everysec") as server:
        assert server.pid is not None
        status = fsync_thread(server.pid)
        fsyncs: list[float] = []
        done = threading.Event()

        def watch() -> None:
            last = switches(status)
            while not done.is_set():
                now = switches(status)
                if now != last:
                    if not fsyncs or time.monotonic() - fsyncs[-1] > 0.05:  # one fsync, however many switches
                        fsyncs.append(time.monotonic())
                    last = now
                time.sleep(0.001)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        client = redis.Redis.from_url(server.url)
        started = time.monotonic()
        acks: list[float] = []
        while time.monotonic() - started < 4.5:
            client.rpush("lines", f"line {len(acks)}")
            acks.append(time.monotonic())
            time.sleep(0.005)
        time.sleep(1.5)  # the last lines' fsync
        done.set()
        watcher.join(5)
        client.close()
    assert len(fsyncs) >= 4, f"expected about one fsync a second, saw {len(fsyncs)}"
    gaps = [later - earlier for earlier, later in zip(fsyncs, fsyncs[1:]) if earlier < acks[-1]]
    # An acknowledged line waits at most for the next fsync: at most one gap between fsyncs.
    waits = [next(f for f in fsyncs if f > ack) - ack for ack in acks]
    assert max(gaps) < 2.0 and max(waits) < 2.0, (gaps, max(waits))
    print(f"\neverysec: {len(fsyncs)} fsyncs in {acks[-1] - started:.1f} s of writes; longest gap between "
          f"fsyncs {max(gaps) * 1000:.0f} ms; an acknowledged line waited at most {max(waits) * 1000:.0f} ms "
          f"(median {sorted(waits)[len(waits) // 2] * 1000:.0f} ms)")


def aof_tail(data_dir: Path) -> Path:
    """The file Redis appends to: the newest incr file (Redis 7) or appendonly.aof (Redis 6)."""
    increments = sorted((data_dir / "appendonlydir").glob("*.incr.aof"),
                        key=lambda p: int(p.name.split(".")[-3]))
    return increments[-1] if increments else data_dir / "appendonly.aof"


def test_lines_a_power_cut_takes_from_redis_are_counted_and_reported() -> None:
    with tempfile.TemporaryDirectory(prefix="blitz-cut-") as tmp:
        data_dir = Path(tmp) / "redis"
        redis_server = EmbeddedRedis(data_dir, appendonly=True, appendfsync="everysec")
        url = redis_server.start()
        sim = Simulator(["basic", "motor"], rate_hz=100, record=True, seed=31, link_dir=Path(tmp) / "links")
        server: ServerProcess | None = None
        try:
            with sim:
                server = ServerProcess("--port", "0", "--no-scan", "--reset-wait", "0", "--poll-interval", "0.05",
                                       "--redis-url", url, *[a for b in sim.boards for a in ("--serial", b.path)])
                control = Control(server.port())
                wait_boards_ok(control, [0x08, 0x09])
                assert control.command("START") == ["ACK 1"]
                time.sleep(1.0)
                # What "reached the disk" at the cut: the AOF as it is now.  Lines written after this are
                # acknowledged by Redis but, in this emulation, were not fsynced before the power went.
                tail = aof_tail(data_dir)
                durable = tail.stat().st_size
                time.sleep(0.6)
                pid = redis_server.pid
                assert pid is not None
                os.kill(pid, signal.SIGKILL)
                wait_for(lambda: not pid_alive(pid), "redis-server to die")
                with open(tail, "r+b") as aof:
                    aof.truncate(durable)
                redis_server.stop()  # reaps the killed child
                redis_server.start()  # on the cut file
                note = wait_for(lambda: next((n for n in control.notes() if "lost by Redis" in n), None),
                                "the server to notice what Redis lost", 15)
                wait_for(lambda: control.status()["redis"]["buffered"] == 0, "the buffer to drain", 15)
                status = control.status()
                time.sleep(0.3)
                assert control.command("STOP") == ["ACK 1"]
                control.close()
                assert server.stop() == 0, server.text
                firmware = {b.board_id: (b.counters(), b.expected_lines()) for b in sim.boards}
                client = redis.Redis.from_url(url)
                stored = [line.decode() for line in client.lrange("blitz:session_1", 0, -1)]
                client.close()
        finally:
            if server is not None and server.process.poll() is None:
                server.kill()
            redis_server.stop()
    holds, were = map(int, re.search(r"Redis holds (\d+) lines of session 1, (\d+) were written", note).groups())
    assert status["redis"]["lost_in_redis"] == were - holds > 0
    missing = 0
    for board_id, (counters, expected) in firmware.items():
        result = account(board_id, lines_of(board_id, stored), expected, counters.transmitted)
        assert len(result.gaps) <= 1, result  # one hole: the lines the cut took
        missing += result.missing
    assert missing == were - holds  # exactly what was reported, nothing more
    print(f"\npower cut emulated: Redis came back with {holds} of {were} lines; {were - holds} lost, "
          f"counted in STATUS and reported")
