"""BlitzLogger with fakeredis, fake board links and a writer pumped on this thread."""

from __future__ import annotations

from typing import Any

import fakeredis
import pytest
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from blitz.data.redis_buffer import DatabaseServer
from blitz.server.board_protocol import BoardReplyError, PortLost
from blitz.server.interfaces import (
    AlreadyLogging, BoardCommandError, CommandDisabled, NoSuchBoard, NoSuchSession, NotLogging,
    SessionRunning, StorageUnavailable,
)
from blitz.server.logger import BlitzLogger, LoggerOptions
from blitz.server.redis_writer import RedisWriter


class FakeLink:
    """The BoardLink surface the Logger uses, recording what it was asked."""

    def __init__(self, port: str, board_id: int | None, state: str = "ok") -> None:
        self.port, self.board_id, self.state = port, board_id, state
        self.overwritten = 0
        self.calls: list[str] = []
        self.reply: Deferred[list[str]] = succeed([])
        self.drain_lines: list[bytes] = []
        self.sink: BlitzLogger | None = None

    @property
    def ready(self) -> bool:
        return self.state == "ok"

    def new_session(self) -> None:
        self.overwritten = 0

    def start_logging(self) -> Deferred[bool]:
        self.calls.append("start")
        return succeed(True)

    def stop_logging(self) -> Deferred[bool]:
        self.calls.append("stop")
        if self.drain_lines and self.sink is not None:
            self.sink.lines_received(self, self.drain_lines)  # type: ignore[arg-type]
        return succeed(True)

    def poll(self) -> None:
        self.calls.append("poll")

    def command(self, line: bytes) -> Deferred[list[str]]:
        self.calls.append(line.decode())
        return self.reply


def line(board: int, index: int) -> bytes:
    return b"%02xa0%08x0000000000000000" % (board, index)


class Rig:
    def __init__(self, **options: Any) -> None:
        self.redis = fakeredis.FakeRedis(server=fakeredis.FakeServer())
        self.store = DatabaseServer(redis=self.redis)
        self.clock = Clock()
        self.writer = RedisWriter(self.store, lambda f, *a: f(*a), notify=lambda s, t: self.logger.notify(s, t))
        self.logger = BlitzLogger(self.store, self.writer, self.clock, LoggerOptions(**options),
                                  wall_clock=lambda: 1700000000.0, monotonic=self.clock.seconds)
        self.links = [FakeLink("/dev/a", 8), FakeLink("/dev/b", 9), FakeLink("/dev/c", None, "lost")]
        for link in self.links:
            link.sink = self.logger
            self.logger.add_link(link)  # type: ignore[arg-type]
            if link.board_id is not None:
                self.logger.link_ready(link)  # type: ignore[arg-type]

    def pump(self) -> None:
        while self.writer._queue:
            if not self.writer.write_once():
                break

    def start(self) -> int:
        d = self.logger.start()
        self.pump()
        return result(d)

    def stop(self) -> int:
        d = self.logger.stop()
        self.pump()
        return result(d)


def result(d: Deferred[Any]) -> Any:
    box: list[Any] = []
    d.addBoth(box.append)
    assert box, "the Deferred has not fired"
    if isinstance(box[0], Failure):
        box[0].raiseException()
    return box[0]


def test_start_starts_ready_boards_and_refuses_a_second_start() -> None:
    rig = Rig()
    assert rig.start() == 1
    assert rig.logger.session_id == 1
    assert [l.calls for l in rig.links] == [["start"], ["start"], []]
    with pytest.raises(AlreadyLogging) as info:
        result(rig.logger.start())
    assert info.value.session_id == 1


def test_lines_reach_redis_counters_latest_and_live() -> None:
    rig = Rig()
    batches: list[Any] = []
    unsubscribe = rig.logger.subscribe(batches.append)
    session = rig.start()
    rig.logger.lines_received(rig.links[0], [line(8, 1), line(8, 2)])  # type: ignore[arg-type]
    rig.logger.lines_received(rig.links[1], [line(9, 1)])  # type: ignore[arg-type]
    unsubscribe()
    rig.logger.lines_received(rig.links[0], [line(8, 3)])  # type: ignore[arg-type]
    rig.pump()
    stored = rig.store.get_all_from_session(session)
    assert stored == [line(8, 1).decode(), line(8, 2).decode(), line(9, 1).decode(), line(8, 3).decode()]
    assert rig.logger.latest_lines() == [line(8, 3).decode(), line(9, 1).decode()]
    assert [(b.board_id, len(b.lines), b.session_id) for b in batches] == [(8, 2, 1), (9, 1, 1)]
    boards = {b.id: b for b in rig.logger.boards()}
    assert boards[8].messages == 3 and boards[9].messages == 1
    assert boards[8].description == "Blitz Basic expansion board"
    assert rig.logger.status().session_messages == 4


def test_stop_drains_boards_before_recording_the_end() -> None:
    rig = Rig()
    session = rig.start()
    rig.links[0].drain_lines = [line(8, 7)]
    assert rig.stop() == session
    assert rig.links[0].calls == ["start", "stop"]
    assert rig.store.get_all_from_session(session) == [line(8, 7).decode()]
    info = rig.store.session_info(session)
    assert info.end_ms is not None and rig.logger.session_id == -1
    with pytest.raises(NotLogging):
        result(rig.logger.stop())
    with pytest.raises(NotLogging):
        rig.logger.latest_lines()


def test_lines_outside_a_session_are_counted_not_stored() -> None:
    rig = Rig()
    rig.logger.lines_received(rig.links[0], [line(8, 1)])  # type: ignore[arg-type]
    assert rig.logger.outside_session == 1
    assert "no session running" in rig.logger.notifications()[-1].text


def test_start_with_redis_down_is_storage_unavailable() -> None:
    rig = Rig()
    rig.writer.ok = False
    with pytest.raises(StorageUnavailable):
        result(rig.logger.start())
    assert rig.logger.phase == "idle"
    with pytest.raises(StorageUnavailable):
        rig.logger.sessions()


def test_stop_while_redis_is_down_returns_and_records_the_end_later() -> None:
    rig = Rig()
    session = rig.start()
    rig.writer.ok = False
    d = rig.logger.stop()  # the writer is not pumped: Redis "down"
    rig.clock.advance(10)
    assert result(d) == session
    assert "when it is back" in rig.logger.notifications()[-2].text
    rig.writer.ok = True
    rig.pump()
    assert rig.store.session_info(session).end_ms is not None


def test_a_board_that_forgot_it_was_logging_is_started_again() -> None:
    rig = Rig()
    rig.start()
    rig.logger.link_not_logging(rig.links[0])  # type: ignore[arg-type]
    assert rig.links[0].calls == ["start", "start"]


def test_a_board_coming_back_mid_session_is_drained_then_started_if_not_logging() -> None:
    rig = Rig()
    rig.start()
    rig.links[2].board_id, rig.links[2].state = 10, "ok"
    rig.logger.link_ready(rig.links[2])  # type: ignore[arg-type]
    assert rig.links[2].calls == ["poll"]  # START first would drop the lines it still buffers
    rig.logger.link_not_logging(rig.links[2])  # type: ignore[arg-type]
    assert rig.links[2].calls == ["poll", "start"]


def test_board_command_replies_and_errors() -> None:
    rig = Rig()
    rig.links[1].reply = succeed(["0940"])
    assert result(rig.logger.board_command(9, "0940")) == ["0940"]
    assert rig.links[1].calls == ["0940"]
    rig.links[1].reply = fail(BoardReplyError("0999", 0x65))
    with pytest.raises(BoardCommandError) as info:
        result(rig.logger.board_command(9, "0999"))
    assert "unknown instruction" in info.value.reason
    with pytest.raises(NoSuchBoard):
        result(rig.logger.board_command(0x42, "4281"))
    rig.links[0].state = "lost"
    with pytest.raises(NoSuchBoard):
        result(rig.logger.board_command(8, "0881"))
    rig.links[1].reply = fail(PortLost("gone"))
    with pytest.raises(NoSuchBoard):
        result(rig.logger.board_command(9, "0981"))


def test_sessions_read_and_delete() -> None:
    rig = Rig()
    first = rig.start()
    rig.logger.lines_received(rig.links[0], [line(8, 1), line(8, 2)])  # type: ignore[arg-type]
    rig.pump()
    with pytest.raises(SessionRunning):
        rig.logger.delete_session(first)
    rig.stop()
    summary = rig.logger.sessions()
    assert [(s.id, s.messages) for s in summary] == [(first, 2)]
    assert rig.logger.read_session(first, 1, 10) == [line(8, 2)]
    with pytest.raises(NoSuchSession):
        rig.logger.read_session(99, 0, 1)
    rig.logger.delete_session(first)
    with pytest.raises(NoSuchSession):
        rig.logger.delete_session(first)


def test_delete_and_reset_can_be_disabled() -> None:
    rig = Rig(allow_delete=False, allow_reset=False)
    with pytest.raises(CommandDisabled):
        rig.logger.delete_session(1)
    with pytest.raises(CommandDisabled):
        result(rig.logger.reset())


def test_reset_stops_and_deletes_everything() -> None:
    rig = Rig()
    rig.start()
    rig.stop()
    rig.start()
    d = rig.logger.reset()
    rig.pump()
    result(d)
    rig.pump()
    result(d)
    assert rig.logger.sessions() == [] and rig.logger.session_id == -1
    assert rig.start() == 3  # numbers are never reused


def test_resume_adopts_a_session_left_running() -> None:
    rig = Rig()
    rig.store.start_session()
    rig.store.queue_many(["08a0000000010000000000000000"] * 3, 1)
    rig.redis.set("blitz:session_1_start", (1700000000 - 60) * 1000)  # started a minute ago
    rig.logger.resume()
    assert rig.logger.session_id == 1 and rig.logger.status().logging
    assert rig.logger.status().session_messages == 3  # the count and the clock go on
    assert rig.logger.session_ms() == 60_000
    assert rig.stop() == 1


def test_poll_only_while_running() -> None:
    rig = Rig()
    rig.logger.poll()
    assert rig.links[0].calls == []
    rig.start()
    rig.logger.poll()
    assert rig.links[0].calls == ["start", "poll"] and rig.links[2].calls == []


def test_status_report() -> None:
    rig = Rig(redis_url="unix:///tmp/r.sock")
    rig.clock.advance(5)
    report = rig.logger.status()
    assert not report.logging and report.session == -1 and report.uptime_s == 5
    assert report.redis == {"ok": True, "url": "unix:///tmp/r.sock", "buffered": 0, "dropped": 0,
                            "lost_in_redis": 0}
    assert [b.state for b in report.boards] == ["ok", "ok"]
    assert report.notifications == len(rig.logger.notifications())
