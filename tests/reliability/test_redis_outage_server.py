"""Redis stopped and started again under a logging `blitz server`.

Lines wait in the writer's bounded buffer while Redis is away and are written,
each once and in order, when it is back; STATUS and notifications say what
happened.  With a buffer too small for the outage, every line that did not
fit is counted in STATUS `dropped` and announced: the loss is exactly that
count, never silent.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from blitz.data.redis_process import EmbeddedRedis
from blitz.simulator.simulator import Simulator
from tests.reliability.harness import (
    Control,
    ServerProcess,
    account,
    lines_of,
    read_sessions,
    wait_boards_ok,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

RATE_HZ = 100
OUTAGE_S = 1.5


def run_outage(tmp: Path, max_buffered_lines: int | None) -> tuple[dict[str, Any], list[str], list[str], dict[int, Any]]:
    """Log, stop Redis for OUTAGE_S, start it again, stop the session; returns what was seen.

    (STATUS during the outage, notifications, the session's stored lines, and
    per board its firmware counters and generated lines.)
    """
    data_dir = tmp / "redis"
    redis_server = EmbeddedRedis(data_dir, appendonly=True)
    url = redis_server.start()
    sim = Simulator(["basic", "motor"], rate_hz=RATE_HZ, record=True, seed=5, link_dir=tmp / "links")
    env = {} if max_buffered_lines is None else {"BLITZ_MAX_BUFFERED_LINES": str(max_buffered_lines)}
    server: ServerProcess | None = None
    try:
        with sim:
            server = ServerProcess("--port", "0", "--no-scan", "--reset-wait", "0", "--poll-interval", "0.05",
                                   "--redis-url", url, *[a for b in sim.boards for a in ("--serial", b.path)],
                                   env=env)
            control = Control(server.port())
            wait_boards_ok(control, [0x08, 0x09])
            assert control.command("START") == ["ACK 1"]
            time.sleep(0.5)

            redis_server.stop()
            down_until = time.monotonic() + OUTAGE_S
            during = wait_for(lambda: (s := control.status()) and not s["redis"]["ok"] and s,
                              "STATUS to show Redis down", 10)
            assert control.command("SESSIONS")[-1].startswith("ERROR 503")
            assert control.command("DOWNLOAD 1")[-1].startswith("ERROR 503")
            time.sleep(max(0.0, down_until - time.monotonic()))
            during = control.status()  # at the end of the outage: the most buffered (and dropped)
            assert not during["redis"]["ok"] and during["logging"] is True

            redis_server.start()
            wait_for(lambda: (s := control.status())["redis"]["ok"] and s["redis"]["buffered"] == 0,
                     "the buffered lines to be written", 15)
            time.sleep(0.3)
            assert control.command("STOP") == ["ACK 1"]
            notes = control.notes()
            after = control.status()
            control.close()
            assert server.stop() == 0, server.text
            firmware = {b.board_id: (b.counters(), b.expected_lines()) for b in sim.boards}
    finally:
        if server is not None and server.process.poll() is None:
            server.kill()
        redis_server.stop()
    infos, sessions = read_sessions(data_dir)
    assert [(i.id, i.count, i.end_ms is not None) for i in infos] == [(1, len(sessions[1]), True)]
    during["after"] = after
    return during, notes, sessions[1], firmware


def test_lines_wait_while_redis_is_down_and_none_is_lost() -> None:
    with tempfile.TemporaryDirectory(prefix="blitz-outage-") as tmp:
        during, notes, stored, firmware = run_outage(Path(tmp), None)
    assert during["redis"]["buffered"] >= OUTAGE_S * RATE_HZ  # two boards: about twice that
    assert during["redis"]["dropped"] == 0 and during["after"]["redis"]["dropped"] == 0
    assert any("Redis unavailable, buffering lines" in note for note in notes), notes
    assert any("Redis is back" in note for note in notes), notes
    for board_id, (counters, expected) in firmware.items():
        result = account(board_id, lines_of(board_id, stored), expected, counters.transmitted)
        assert result.gaps == [] and counters.overwritten == 0, result
    print(f"\noutage of {OUTAGE_S} s: {during['redis']['buffered']} lines buffered at its end, all written; "
          f"{len(stored)} lines stored")


def test_beyond_the_buffer_bound_every_lost_line_is_counted_and_reported() -> None:
    bound = 40
    with tempfile.TemporaryDirectory(prefix="blitz-outage-") as tmp:
        during, notes, stored, firmware = run_outage(Path(tmp), bound)
    dropped = during["after"]["redis"]["dropped"]
    assert during["redis"]["buffered"] == bound and dropped > 0
    assert any(f"Redis buffer full ({bound} lines): dropping lines of session 1" in note for note in notes), notes
    missing = 0
    for board_id, (counters, expected) in firmware.items():
        result = account(board_id, lines_of(board_id, stored), expected, counters.transmitted)
        assert counters.overwritten == 0
        missing += result.missing
    assert missing == dropped  # what is lost is exactly what STATUS counted
    print(f"\nbuffer of {bound} lines, outage of {OUTAGE_S} s: {dropped} lines dropped, counted and reported")
