"""Faulty boards on a real `blitz server`: garbage, noise, and START never acknowledged or obeyed.

One session runs once for the module (about 2 s of logging) with five
simulated boards on pseudo-terminals, each with one fault of
blitz.simulator.faults, beside a healthy motor board:

    08  prints invalid lines and stray 40/61 replies between its data lines
    09  healthy
    0c  babbles: answers everything with noise (a board on the wrong baud rate)
    0d  starts logging on START but never acknowledges it
    0e  never obeys nor answers START (the command is lost every time)

Each test checks one guarantee against the simulator's ground truth and the
session the server stored in a real redis-server.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
import redis

from blitz.data.redis_buffer import DatabaseServer
from blitz.simulator import Faults, FirmwareCounters, Simulator
from tests.reliability.harness import Control, ServerProcess, account, lines_of, wait_boards_ok, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

LOG_S = 2.0
POLL_S = 0.05
FAULTS = {
    0x08: Faults(garbage_every=7, stray_every=11),
    0x0C: Faults(babble=True),
    0x0D: Faults(start_reply="silent"),
    0x0E: Faults(start_reply="ignore"),
}


@dataclass
class Outcome:
    ports: dict[int, str]
    counters: dict[int, FirmwareCounters]
    expected: dict[int, list[str]]
    stored: dict[int, list[str]]
    status: dict[str, Any]
    notes: list[str]
    log: str
    code: int


@pytest.fixture(scope="module")
def outcome(redis_url: str) -> Iterator[Outcome]:
    prefix = f"rel-faulty-{uuid.uuid4().hex[:8]}:"
    with tempfile.TemporaryDirectory(prefix="blitz-faulty-") as tmp:
        sim = Simulator(["basic", "motor", "0c", "0d", "0e"], rate_hz=200, record=True, seed=31,
                        link_dir=Path(tmp) / "links", faults=FAULTS)
        with sim:
            args = ["--port", "0", "--no-scan", "--reset-wait", "0", "--poll-interval", str(POLL_S),
                    "--redis-url", redis_url, "--data-dir", str(Path(tmp) / "data")]
            for board in sim.boards:
                args += ["--serial", board.path]
            server = ServerProcess(*args, env={"BLITZ_REDIS_PREFIX": prefix, "BLITZ_REPLY_TIMEOUT_S": "0.5",
                                               "BLITZ_RETRY_MAX_S": "0.5"})
            try:
                control = Control(server.port())
                wait_boards_ok(control, [0x08, 0x09, 0x0D, 0x0E])
                assert control.command("START") == ["ACK 1"]
                time.sleep(LOG_S)
                assert control.command("STOP") == ["ACK 1"]
                status = control.status()  # the counts of the session just ended
                notes = control.notes()
                control.close()
            finally:
                code = server.stop()
            counters = {board.board_id: board.counters() for board in sim.boards}
            expected = {board.board_id: board.expected_lines() for board in sim.boards}
            ports = {board.board_id: board.path for board in sim.boards}
    client = redis.Redis.from_url(redis_url)
    try:
        lines = DatabaseServer(redis=client, prefix=prefix).get_all_from_session(1)
        for key in client.scan_iter(match=prefix + "*"):
            client.delete(key)
    finally:
        client.close()
    stored = {board_id: lines_of(board_id, lines) for board_id in counters}
    yield Outcome(ports, counters, expected, stored, status, notes, server.text, code)


def board_status(outcome: Outcome, board_id: int) -> dict[str, Any]:
    for board in outcome.status["boards"]:
        if board["id"] == board_id:
            return dict(board)
    raise AssertionError(f"board {board_id:02x} not in STATUS: {outcome.status['boards']}")


def test_the_server_survives_every_fault_and_ends_cleanly(outcome: Outcome) -> None:
    assert outcome.code == 0, outcome.log
    assert "Traceback" not in outcome.log, outcome.log


def test_garbage_lines_are_dropped_counted_once_and_no_data_line_is_lost(outcome: Outcome) -> None:
    counters = outcome.counters[0x08]
    assert counters.garbage > 20 and counters.strays > 10
    got = outcome.stored[0x08]
    assert got == outcome.expected[0x08][: counters.transmitted]
    status = board_status(outcome, 0x08)
    assert status["messages"] == len(got)
    assert status["errors"] == counters.garbage  # strays are tolerated, not errors


def test_a_healthy_board_beside_faulty_ones_loses_nothing(outcome: Outcome) -> None:
    counters = outcome.counters[0x09]
    assert counters.transmitted > 0.8 * counters.generated
    assert outcome.stored[0x09] == outcome.expected[0x09][: counters.transmitted]


def test_a_babbling_board_is_never_taken_for_a_board_and_is_reported(outcome: Outcome) -> None:
    assert outcome.stored[0x0C] == []
    assert all(board["id"] != 0x0C for board in outcome.status["boards"])
    port = outcome.ports[0x0C]
    assert any(port in note and "no answer to the ID request" in note for note in outcome.notes), outcome.notes
    assert outcome.counters[0x0C].lines >= 3  # it was asked again and again


def test_a_board_that_never_acknowledges_start_logs_everything_and_is_reported(outcome: Outcome) -> None:
    counters = outcome.counters[0x0D]
    assert counters.transmitted > 0.8 * counters.generated
    assert outcome.stored[0x0D] == outcome.expected[0x0D][: counters.transmitted]
    assert any("board 0d" in note and "START was not acknowledged" in note for note in outcome.notes), outcome.notes


def test_a_board_that_never_obeys_start_is_retried_and_reported_without_a_flood(outcome: Outcome) -> None:
    assert outcome.stored[0x0E] == [] and outcome.counters[0x0E].generated == 0
    assert board_status(outcome, 0x0E)["state"] == "ok"  # it answers everything else
    about = [note for note in outcome.notes if "board 0e" in note]
    assert any("not logging" in note for note in about), about
    assert outcome.counters[0x0E].lines > LOG_S / POLL_S  # START is tried again and again...
    assert len(about) <= 6, about  # ...but said at most every 10 s per kind
