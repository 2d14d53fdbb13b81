"""Boards unplugged and plugged in again, many times, under a real `blitz server` process.

tests/server/test_logging_e2e.py already shows one unplug/replug in process.
This test repeats it against the real server with the harder cases: a long
outage (several reopen attempts), both boards pulled at once, and a flap
(pulled and plugged straight back).  It checks the stronger guarantee the
docs give: each time, only the messages the board had not sent yet when it
was pulled are lost (its unsent buffer, which the simulator counts as
`dropped`, plus the reply in flight in the cable); everything else is stored
exactly once and in order.  The simulator's record of every message each
board generated is the ground truth.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from pathlib import Path

import pytest
import redis

from blitz.data.redis_buffer import DatabaseServer
from blitz.simulator import SimulatedBoard, Simulator
from tests.reliability.harness import Control, ServerProcess, account, lines_of, wait_boards_ok, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

RATE_HZ = 200
POLL_S = 0.05
# The reply in flight when a cable is pulled: at most about one poll plus the
# scheduling slack of a loaded machine (0.3 s of messages per pull).
IN_FLIGHT_PER_PULL = int(0.3 * RATE_HZ)


def state(control: Control, board_id: int) -> str:
    for board in control.status()["boards"]:
        if board["id"] == board_id:
            return str(board["state"])
    return "unseen"


def back(control: Control, board: SimulatedBoard) -> None:
    wait_for(lambda: state(control, board.board_id) == "ok" and board.status()["logging"],
             f"board {board.board_id:02x} logging again", 15)


def pull(board: SimulatedBoard, pulls: dict[int, list[int]], replug: bool = False) -> None:
    """Pull a board's cable (and plug it back at once if `replug`); note where its messages stop.

    A board takes no sample while unplugged, and none after a replug until
    it is STARTed again, so the count right after the pull is the number of
    the first message of the next boot.
    """
    if replug:
        board.replug()
    else:
        board.unplug()
    pulls[board.board_id].append(board.counters().generated)


def test_pulled_boards_lose_only_their_unsent_buffer(redis_url: str) -> None:
    prefix = f"rel-unplug-{uuid.uuid4().hex[:8]}:"
    pulls: dict[int, list[int]] = {0x08: [], 0x0C: []}
    with tempfile.TemporaryDirectory(prefix="blitz-unplug-") as tmp:
        sim = Simulator(["basic", "0c"], rate_hz=RATE_HZ, record=True, seed=41, link_dir=Path(tmp) / "links")
        with sim:
            basic, other = sim.board(0x08), sim.board(0x0C)  # waveforms: every line unique
            args = ["--port", "0", "--no-scan", "--reset-wait", "0", "--poll-interval", str(POLL_S),
                    "--redis-url", redis_url, "--data-dir", str(Path(tmp) / "data"),
                    "--serial", basic.path, "--serial", other.path]
            server = ServerProcess(*args, env={"BLITZ_REDIS_PREFIX": prefix, "BLITZ_RETRY_MAX_S": "0.4"})
            try:
                control = Control(server.port())
                wait_boards_ok(control, [0x08, 0x0C])
                assert control.command("START") == ["ACK 1"]
                time.sleep(0.4)
                # 1. a long outage: the port is tried again several times meanwhile
                pull(basic, pulls)
                wait_for(lambda: state(control, 8) == "lost", "board 08 lost")
                time.sleep(1.2)
                basic.replug()
                back(control, basic)
                time.sleep(0.3)
                # 2. both boards at once
                pull(basic, pulls)
                pull(other, pulls)
                wait_for(lambda: state(control, 0x08) == state(control, 0x0C) == "lost", "both lost")
                other.replug()
                basic.replug()
                back(control, basic)
                back(control, other)
                time.sleep(0.3)
                # 3. a flap: pulled and plugged straight back
                pull(basic, pulls, replug=True)
                back(control, basic)
                time.sleep(0.4)
                assert control.command("STOP") == ["ACK 1"]
                boards = {b["id"]: b for b in control.status()["boards"]}
                notes = control.notes()
                control.close()
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
    assert code == 0 and "Traceback" not in server.text, server.text
    for board_id, (counters, expected) in truth.items():
        stored = lines_of(board_id, lines)
        assert boards[board_id]["messages"] == len(stored)
        result = account(board_id, stored, expected, len(expected))  # in order, each once
        boundaries = pulls[board_id]
        lost_at_pulls = 0
        for start, end in result.gaps:
            if end == len(expected):  # the tail: logged after the last TRANSMIT, as STOP goes out
                assert end - start <= 2 * POLL_S * RATE_HZ, (board_id, start, end)
                continue
            assert end in boundaries, f"board {board_id:02x}: lines {start}-{end} lost mid-run ({boundaries})"
            lost_at_pulls += end - start
        in_flight = lost_at_pulls - counters.dropped
        assert 0 <= in_flight <= IN_FLIGHT_PER_PULL * len(boundaries), (board_id, lost_at_pulls, counters)
        assert any(f"board {board_id:02x} lost" in note for note in notes)
