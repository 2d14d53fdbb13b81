"""`blitz live` killed mid-view, then run again, while a real server logs simulated boards.

The live cache is a view, not the record: a killed view loses at most the
rows it had not flushed yet (about a second).  What must hold: the logger
does not notice (the session in Redis is complete), every flush is all or
nothing (each cached message has all its variables), nothing cached is
invented or doubled, the view runs again, and the session downloads whole.
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest
import redis

from blitz.data.redis_process import EmbeddedRedis
from blitz.simulator.simulator import Simulator
from tests.reliability.conftest import BOARDS, Logger, Peek
from tests.reliability.harness import (
    Control,
    ServerProcess,
    account,
    lines_of,
    wait_boards_ok,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def decoded(lines: list[str]) -> Counter[tuple[int, str, float]]:
    rows: Counter[tuple[int, str, float]] = Counter()
    for line in lines:
        for name, value in BOARDS[int(line[:2], 16)].decode(line).items():
            rows[(int(line[4:12], 16), name, float(value))] += 1
    return rows


def test_a_killed_live_view_runs_again_and_the_session_downloads_whole() -> None:
    chance = random.Random(3)
    with tempfile.TemporaryDirectory(prefix="blitz-live-") as tmp:
        work = Path(tmp)
        db = str(work / "blitz.db")
        redis_server = EmbeddedRedis(work / "redis", appendonly=False)
        url = redis_server.start()
        sim = Simulator(["basic", "motor"], rate_hz=200, record=True, seed=9, link_dir=work / "links")
        server: ServerProcess | None = None
        peek = Peek(db)
        try:
            with sim:
                server = ServerProcess("--port", "0", "--no-scan", "--reset-wait", "0", "--poll-interval", "0.05",
                                       "--redis-url", url, *[a for b in sim.boards for a in ("--serial", b.path)])
                cli = Logger(server.port(), 1, {}, work)
                control = Control(cli.port)
                wait_boards_ok(control, [0x08, 0x09])
                assert control.command("START") == ["ACK 1"]
                cached_at_kill = []
                for _ in range(2):
                    before = peek.one("SELECT count(*) FROM cache") if peek.tables_exist() else 0
                    view = cli.spawn("live", "--seconds", "30", "--refresh", "0.2", db=db)
                    try:
                        wait_for(lambda: view.poll() is not None
                                 or (peek.tables_exist() and peek.one("SELECT count(*) FROM cache") > before),
                                 "the live view's first flush", 20)
                        time.sleep(chance.uniform(0.0, 1.5))
                        view.kill()
                        view.wait(10)
                    finally:
                        if view.poll() is None:
                            view.kill()
                    cached_at_kill.append(peek.one("SELECT count(*) FROM cache"))
                    status = control.status()  # the logger did not notice
                    assert status["logging"] and all(b["state"] == "ok" for b in status["boards"])
                last = cli.run("live", "--seconds", "1.5", "--refresh", "0.2", "--json", db=db)
                assert last.returncode == 0, last.stderr
                snapshot = json.loads(last.stdout)
                assert snapshot["session"] == 1 and snapshot["cached"] > 0
                assert control.command("STOP") == ["ACK 1"]
                control.close()
                download = cli.run("download", "1", "--json", db=db)
                assert download.returncode == 0, download.stderr
                assert server.stop() == 0, server.text
                firmware = {b.board_id: (b.counters(), b.expected_lines()) for b in sim.boards}
                client = redis.Redis.from_url(url)
                stored = [line.decode() for line in client.lrange("blitz:session_1", 0, -1)]
                client.close()

            # The logger lost nothing while clients came and went.
            for board_id, (counters, expected) in firmware.items():
                assert account(board_id, lines_of(board_id, stored), expected, counters.transmitted).gaps == []
            names = dict(peek.query("SELECT id, variable_name FROM category"))
            cache = Counter((t, names[c], v) for t, c, v in
                            peek.query("SELECT time_logged, category_id, value FROM cache"))
            truth = decoded(stored)
            assert not cache - truth, "the cache holds readings no line carried, or holds one twice"
            for board_id in (0x08, 0x09):  # each flush is whole: a cached message has all its variables
                mine = Counter(t for (t, name, _), n in cache.items() for _ in range(n)
                               if name in BOARDS[board_id].variable_names)
                assert set(mine.values()) == {len(BOARDS[board_id].variables)}, board_id
            report = json.loads(download.stdout)[0]
            assert report["messages"] == len(stored) and report["available"] is True
            readings = Counter((t, names[c], v) for t, c, v in
                               peek.query("SELECT time_logged, category_id, value FROM reading WHERE session_id = 1"))
            assert readings == truth
        finally:
            peek.close()
            if server is not None and server.process.poll() is None:
                server.kill()
            redis_server.stop()
    print(f"\nlive view killed twice (cache rows at the kills: {cached_at_kill}); "
          f"{sum(cache.values())} cached readings, all true; download of {len(stored)} lines whole")
