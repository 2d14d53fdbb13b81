"""The live view model: decoding pushes, latest values, trends and cache batches."""

from __future__ import annotations

from pathlib import Path

from blitz.boards import BlitzBasicBoard, load_boards
from blitz.client import reply_parser as rp
from blitz.client.live import LiveView
from blitz.data.database import DatabaseClient
from blitz.data.models import Cache

from tests.client.conftest import basic_lines, mixed_lines

BOARDS = load_boards(entry_points=False)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def pushes(lines: list[str], session: int = 1) -> list[rp.Push]:
    return [rp.LivePush(session, line) for line in lines]


def test_latest_values_trend_and_counts() -> None:
    view = LiveView(BOARDS, trend_points=4)
    assert view.feed(pushes(basic_lines(10))) == 10
    assert view.feed([rp.NoteInfo(5, 3, "board 09 lost"), *pushes(basic_lines(3, start_ms=5000))]) == 3
    rows = {row.name: row for row in view.values()}
    assert [row.name for row in view.values()] == BlitzBasicBoard().variable_names
    one = rows["adc_channel_one"]
    assert one.value == 2 and one.time_logged == 5002 and one.count == 13
    assert one.trend == (9.0, 0.0, 1.0, 2.0)
    assert rows["adc_channel_five"].value == 4095 and rows["adc_channel_five"].board_id == 8
    assert (view.lines, view.readings) == (13, 65)
    assert list(view.notes) == [rp.NoteInfo(5, 3, "board 09 lost")]


def test_lines_dropped_by_the_server_are_counted() -> None:
    view = LiveView(BOARDS)
    view.feed([rp.OtherPush("DROPPED", "17"), *pushes(basic_lines(2)), rp.OtherPush("DROPPED", "3"),
               rp.OtherPush("SOMETHING", "new")])
    assert (view.dropped, view.lines) == (20, 2)


def test_mixed_boards_are_ordered_by_board_then_payload() -> None:
    view = LiveView(BOARDS)
    view.feed(pushes(mixed_lines(4)))
    names = [row.name for row in view.values()]
    assert names[0] == "adc_channel_one" and names[-3:] == ["raw_adc", "motor_value", "set_point"]


def test_bad_and_unknown_lines_are_counted_not_raised() -> None:
    view = LiveView(BOARDS)
    lines = basic_lines(3)
    assert view.feed(pushes([lines[0], "nonsense", "7f" + lines[1][2:]])) == 1
    assert view.bad_lines == 1 and view.unknown == {0x7F: 1}
    assert view.feed([]) == 0


def test_cache_rows_are_written_in_batches(tmp_path: Path) -> None:
    clock = FakeClock()
    with DatabaseClient(path=str(tmp_path / "live.db")) as db:
        view = LiveView(BOARDS, db, flush_rows=100, flush_interval_s=1.0, clock=clock)
        view.feed(pushes(basic_lines(10)))  # 50 rows: below both limits
        assert db.all(Cache) == []
        clock.now = 1.5
        view.feed([])  # time is up: flushed even without new lines
        assert len(db.all(Cache)) == 50
        view.feed(pushes(mixed_lines(40)))  # 20*5 + 20*3 = 160 rows >= 100
        assert len(db.all(Cache)) == 210
        view.feed(pushes(basic_lines(2)))
        assert view.flush() == 10
        assert view.cached == 220 == len(db.all(Cache))
        latest = {db.get_by_id(Cache, row.id).category_id for row in db.get_cache()}  # type: ignore[union-attr]
        assert len(latest) == 8
