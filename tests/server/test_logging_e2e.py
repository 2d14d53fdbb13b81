"""End to end with real parts: simulated boards on ptys, a real redis-server, the service.

The Logger is driven in process (as the control protocol would); every
session in Redis is checked line by line against the simulator's ground
truth: nothing lost, nothing doubled, each board's order kept.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import redis

from blitz.data.redis_buffer import DatabaseServer
from blitz.protocol import render_command
from blitz.server.config import ServerConfig
from blitz.server.service import make_service
from blitz.simulator.simulator import Simulator
from tests.server.reactor_harness import run, sleep, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


def config_for(sim: Simulator, **changes: Any) -> ServerConfig:
    values: dict[str, Any] = dict(
        serial=tuple(board.path for board in sim.boards), scan=False, reset_wait_s=0.0,
        poll_interval_s=0.05, reply_timeout_s=0.5, retry_max_s=0.2, port=0,
    )
    values.update(changes)
    return ServerConfig(**values)


def by_board(lines: list[str]) -> dict[int, list[str]]:
    grouped: dict[int, list[str]] = defaultdict(list)
    for line in lines:
        grouped[int(line[:2], 16)].append(line)
    return grouped


def stored(real_redis: redis.Redis, session_id: int) -> list[str]:
    return DatabaseServer(redis=real_redis).get_all_from_session(session_id)


def all_ready(service: Any, count: int) -> bool:
    return sum(1 for b in service.logger.boards() if b.state == "ok") == count


def test_session_holds_exactly_what_the_boards_transmitted(real_redis: redis.Redis, tmp_path: Path) -> None:
    sim = Simulator(["basic", "motor"], rate_hz=400, record=True, seed=3, link_dir=tmp_path / "links")
    with sim:
        def scenario(reactor: Any) -> Any:
            live: list[Any] = []
            service = make_service(config_for(sim), reactor, real_redis, listen=False)
            service.startService()
            yield wait_until(reactor, lambda: all_ready(service, 2), what="both boards ready")
            logger = service.logger
            logger.subscribe(live.append)
            session_id = yield logger.start()
            yield sleep(reactor, 0.6)
            replies = yield logger.board_command(9, render_command(9, 0x85, [20, 0, 0, 0]))
            assert replies == []  # the motor answers nothing to 85
            status_reply = yield logger.board_command(8, "0883")
            assert len(status_reply) == 1 and status_reply[0][2:4] == "84"
            yield sleep(reactor, 0.8)
            latest = logger.latest_lines()
            stopped = yield logger.stop()
            assert stopped == session_id
            yield service.stopService()
            return session_id, live, latest

        session_id, live, latest = run(scenario, timeout_s=60)

    lines = stored(real_redis, session_id)
    grouped = by_board(lines)
    for board in sim.boards:
        counters = board.counters()
        expected = board.expected_lines()
        assert counters.overwritten == 0 and counters.dropped == 0
        assert grouped[board.board_id] == expected[: counters.transmitted]
        assert counters.transmitted > 0.9 * counters.generated  # only the last ms can miss
    live_lines = [line for batch in live for line in batch.lines]
    assert sorted(live_lines) == sorted(lines)
    assert len(latest) == 2
    motor = grouped[9]
    set_points = [int(line[20:24], 16) for line in motor]
    first_new = set_points.index(20)
    assert set(set_points[:first_new]) == {0} and set(set_points[first_new:]) == {20}
    assert 0 < first_new < len(motor) - 50
    info = DatabaseServer(redis=real_redis).session_info(session_id)
    assert info.end_ms is not None and info.count == len(lines)


def test_board_unplugged_and_replugged_mid_session(real_redis: redis.Redis, tmp_path: Path) -> None:
    sim = Simulator(["basic", "motor"], rate_hz=300, record=True, seed=5, link_dir=tmp_path / "links")
    with sim:
        basic = sim.board(8)

        def scenario(reactor: Any) -> Any:
            service = make_service(config_for(sim), reactor, real_redis, listen=False)
            service.startService()
            yield wait_until(reactor, lambda: all_ready(service, 2), what="both boards ready")
            logger = service.logger
            session_id = yield logger.start()
            yield sleep(reactor, 0.4)
            basic.unplug()
            yield wait_until(reactor, lambda: _state(service, 8) == "lost", what="board 8 lost")
            yield sleep(reactor, 0.3)  # the session goes on with the motor board
            basic.replug()
            yield wait_until(reactor, lambda: _state(service, 8) == "ok", what="board 8 back")
            yield wait_until(reactor, lambda: basic.status()["logging"], what="board 8 restarted")
            yield sleep(reactor, 0.5)
            yield logger.stop()
            notes = [n.text for n in logger.notifications()]
            yield service.stopService()
            return session_id, notes

        session_id, notes = run(scenario, timeout_s=60)

    grouped = by_board(stored(real_redis, session_id))
    motor = sim.board(9)
    assert grouped[9] == motor.expected_lines()[: motor.counters().transmitted]
    got, expected = grouped[8], basic.expected_lines()
    assert len(got) == len(set(got))  # nothing doubled
    position = 0
    for line in got:  # in order: a subsequence of what the board generated
        position = expected.index(line, position) + 1
    after_replug = [line for line in got if int(line[4:12], 16) < 5000 and line in expected[-200:]]
    assert after_replug, "no lines logged after the board came back"
    assert any("board 08 lost" in text for text in notes)
    assert sum(1 for text in notes if "board 08" in text and "ready" in text) >= 2


def test_overwritten_messages_are_estimated(real_redis: redis.Redis, tmp_path: Path) -> None:
    sim = Simulator(["basic"], rate_hz=2000, buffer_size=40, record=True, seed=7, link_dir=tmp_path / "links")
    with sim:
        def scenario(reactor: Any) -> Any:
            service = make_service(config_for(sim, poll_interval_s=0.1), reactor, real_redis, listen=False)
            service.startService()
            yield wait_until(reactor, lambda: all_ready(service, 1), what="board ready")
            yield service.logger.start()
            yield sleep(reactor, 1.0)
            reported = service.logger.boards()[0].overwritten
            counters = sim.boards[0].counters()
            yield service.logger.stop()
            yield service.stopService()
            return reported, counters

        reported, counters = run(scenario, timeout_s=60)
    assert counters.overwritten > 500
    assert 0.8 * counters.overwritten <= reported <= 1.05 * counters.overwritten


def _state(service: Any, board_id: int) -> str:
    for board in service.logger.boards():
        if board.id == board_id:
            return board.state
    return "unseen"
