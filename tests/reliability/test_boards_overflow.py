"""Boards whose buffer overflows: Blitz reports exactly what the firmware overwrote.

A board polled too slowly overwrites its oldest unsent messages.  The server
counts them from the STATUS indices it reads with every poll
(blitz/server/overflow.py): the count is exact modulo the buffer size, and
the multiple of the buffer size comes from the timestamps.  These tests
compare the count with the simulator's own `overwritten` counter, on a real
`blitz server` process, at rates where the buffer wraps several times
between two polls, and check the counter's arithmetic against the firmware
model for random poll timings.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from pathlib import Path

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from blitz.data.redis_buffer import DatabaseServer
from blitz.simulator import Firmware, Simulator, make_model, resolve_board
from blitz.server.overflow import OverflowCounter, parse_status
from tests.reliability.harness import Control, ServerProcess, account, lines_of, wait_boards_ok

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


class Clock:
    def __init__(self) -> None:
        self.ms = 1234.5

    def __call__(self) -> float:
        return self.ms


def poll(firmware: Firmware, counter: OverflowCounter) -> None:
    """One server poll: TRANSMIT and STATUS back to back, as BoardLink sends them."""
    reply = firmware.receive(b"08c0\n0883\n").split(b"\r\n")[:-1]
    assert reply[-2][2:4] == b"40" and reply[-1][2:4] == b"84"
    counter.observe(reply[:-2], reply[-1].decode())


# Two regimes, each checked with 6000 examples once while writing overflow.py: up to
# 2000 messages/s with at most 4 buffers logged between polls, and up to 1000
# messages/s with at most 16.  (At 2000/s with 8 buffers in the first 70 ms of a
# session, ms timestamps cannot tell the multiple of N apart: see docs/reliability.md.)
REGIMES = [([50.0, 333.0, 1000.0, 2000.0], 4), ([50.0, 333.0, 1000.0], 16)]


@pytest.mark.parametrize(("rates_hz", "max_buffers"), REGIMES, ids=["2000-per-s-4N", "1000-per-s-16N"])
@settings(max_examples=60, deadline=None)
@given(data=st.data(), buffer_size=st.integers(20, 300), send_frequency=st.integers(0, 2), elapsed=st.booleans(),
       polls_ms=st.lists(st.floats(1.0, 2000.0), min_size=1, max_size=40))
def test_counter_matches_the_firmware_for_random_poll_timings(
    rates_hz: list[float], max_buffers: int, data: st.DataObject, buffer_size: int, send_frequency: int,
    elapsed: bool, polls_ms: list[float],
) -> None:
    rate_hz = data.draw(st.sampled_from(rates_hz))
    clock = Clock()
    firmware = Firmware(make_model(resolve_board("basic"), 1, rate_hz), clock_ms=clock, buffer_size=buffer_size,
                        send_frequency=send_frequency, timestamps="elapsed" if elapsed else "millis")
    clock.ms += 2500.0  # the board booted a while before the session
    counter = OverflowCounter()
    counter.new_session()
    reply = firmware.receive(b"0800\n0883\n").split(b"\r\n")
    counter.start(reply[1].decode())
    fill_ms = buffer_size / (rate_hz / (send_frequency + 1)) * 1000
    for wait_ms in polls_ms:
        clock.ms += min(wait_ms, max_buffers * fill_ms)
        poll(firmware, counter)
    clock.ms += 1.0
    reply = firmware.receive(b"08c0\n0820\n0883\n").split(b"\r\n")[:-1]  # the drain before STOP
    counter.observe([line for line in reply[:-1] if len(line) == 28], reply[-1].decode())
    truth = firmware.counters.overwritten
    assert counter.total == truth, (counter.total, truth, counter.buffer_size)
    if counter.buffer_size is not None:
        assert counter.buffer_size == buffer_size and counter.exact


def test_buffer_size_is_learned_from_a_wrap_without_overflow() -> None:
    clock = Clock()
    firmware = Firmware(make_model(resolve_board("basic"), 1, 100.0), clock_ms=clock, buffer_size=180)
    counter = OverflowCounter()
    counter.start(firmware.receive(b"0800\n0883\n").split(b"\r\n")[1].decode())
    for _ in range(25):  # 10 messages per poll: the send index wraps after 18 polls
        clock.ms += 100.0
        poll(firmware, counter)
    assert counter.buffer_size == 180 and counter.total == 0 and counter.exact


def test_a_board_still_logging_for_a_resumed_session_is_counted_from_its_first_poll() -> None:
    # The previous server STARTed the board and died; the new one only polls it.
    clock = Clock()
    firmware = Firmware(make_model(resolve_board("basic"), 1, 1000.0), clock_ms=clock, buffer_size=50)
    firmware.receive(b"0800\n")
    clock.ms += 300.0  # 300 messages while no server polled: 251 overwritten, unseen
    counter = OverflowCounter()
    counter.new_board()
    poll(firmware, counter)
    before = firmware.counters.overwritten
    for wait_ms in [30.0, 80.0, 20.0, 120.0, 45.0, 200.0, 10.0]:
        clock.ms += wait_ms
        poll(firmware, counter)
    assert firmware.counters.overwritten - before > 100
    assert counter.exact_total == firmware.counters.overwritten - before and counter.buffer_size == 50


def test_status_lines_are_parsed_like_the_firmware_writes_them() -> None:
    clock = Clock()
    firmware = Firmware(make_model(resolve_board("basic"), 1, 1000.0), clock_ms=clock, buffer_size=1024)
    firmware.receive(b"0800\n")
    clock.ms += 900.0
    indices = parse_status(firmware.receive(b"0883\n").strip())
    assert indices is not None and indices.logging and indices.buffer_index == 900 and indices.send_index == 0
    assert indices.millis == firmware.millis() == 900  # ms since the board booted
    assert parse_status("0840") is None and parse_status("08a0" + "0" * 24) is None
    assert parse_status("0884zzzz" + "0" * 20) is None


def run_server_session(sims: list[Simulator], redis_url: str, poll_s: float, log_s: float) -> tuple[
        dict[int, dict[str, int]], list[str], str]:
    """Log one session on a real server; return STATUS counts per board after STOP, the lines, the log."""
    prefix = f"rel-overflow-{uuid.uuid4().hex[:8]}:"
    with tempfile.TemporaryDirectory(prefix="blitz-overflow-") as tmp:
        args = ["--port", "0", "--no-scan", "--reset-wait", "0", "--poll-interval", str(poll_s),
                "--redis-url", redis_url, "--data-dir", str(Path(tmp) / "data")]
        for sim in sims:
            for board in sim.boards:
                args += ["--serial", board.path]
        server = ServerProcess(*args, env={"BLITZ_REDIS_PREFIX": prefix})
        try:
            control = Control(server.port())
            wait_boards_ok(control, [board.board_id for sim in sims for board in sim.boards])
            assert control.command("START") == ["ACK 1"]
            time.sleep(log_s)
            assert control.command("STOP") == ["ACK 1"]
            boards = {b["id"]: b for b in control.status()["boards"]}
            control.close()
        finally:
            assert server.stop() == 0, server.text
    client = redis.Redis.from_url(redis_url)
    try:
        lines = DatabaseServer(redis=client, prefix=prefix).get_all_from_session(1)
        for key in client.scan_iter(match=prefix + "*"):
            client.delete(key)
    finally:
        client.close()
    return boards, lines, server.text


def test_server_reports_exactly_what_boards_overwrote(redis_url: str, tmp_path: Path) -> None:
    # 08: 2 kHz into 40 messages polled every 0.1 s: ~160 of ~200 messages lost per poll (4 wraps);
    # 0c: 600 Hz, getElapsed() stamps: ~20 lost per poll; 0d: 2 kHz into a 1024 buffer: none lost.
    extreme = Simulator(["basic"], rate_hz=2000, buffer_size=40, record=True, seed=7,
                        link_dir=tmp_path / "a")
    moderate = Simulator(["0c"], rate_hz=600, buffer_size=40, record=True, seed=8, timestamps="elapsed",
                         link_dir=tmp_path / "b")
    roomy = Simulator(["0d"], rate_hz=2000, buffer_size=1024, record=True, seed=9, link_dir=tmp_path / "c")
    with extreme, moderate, roomy:
        boards, lines, log = run_server_session([extreme, moderate, roomy], redis_url, 0.1, 1.5)
        truth = {sim.boards[0].board_id: (sim.boards[0].counters(), sim.boards[0].expected_lines())
                 for sim in (extreme, moderate, roomy)}
    assert truth[0x08][0].overwritten > 1000 and truth[0x0C][0].overwritten > 100
    for board_id, (counters, expected) in truth.items():
        assert boards[board_id]["overwritten"] == counters.overwritten, (board_id, boards[board_id], counters)
        stored = lines_of(board_id, lines)
        accounting = account(board_id, stored, expected, len(expected))
        assert accounting.stored == counters.transmitted  # everything transmitted is stored, in order
    assert truth[0x0D][0].overwritten == 0
    assert "Traceback" not in log
