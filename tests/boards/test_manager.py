"""BoardManager: decode one line, store it, and never raise into the logging path."""

import pytest

from blitz.boards import BlitzBasicBoard, Board, BoardManager, MotorBoard, Variable, parse_board_id


class RecordingDatabase:
    """Collects what BoardManager writes; enough to check the calls it makes."""

    def __init__(self, fail=False):
        self.categories: dict[str, int] = {}
        self.readings: list[tuple] = []
        self.cache: list[tuple] = []
        self.errors: list[tuple[str, int]] = []
        self.fail = fail

    def get_or_create_category(self, key):
        return self.categories.setdefault(key, len(self.categories) + 1)

    def add_reading(self, session_id, time_logged, category_id, value):
        if self.fail:
            raise RuntimeError("disk full")
        self.readings.append((session_id, time_logged, category_id, value))
        return self.readings[-1]

    def add_cache(self, time_logged, category_id, value):
        self.cache.append((time_logged, category_id, value))
        return self.cache[-1]

    def log_error(self, description, severity=1):
        self.errors.append((description, severity))


LINE = "08a000002f19" + "ccc" + "ccc" + "cc0" + "000" + "000" + "0000"


def test_builtins_registered_and_described():
    manager = BoardManager(RecordingDatabase())
    assert sorted(manager.boards) == [8, 9, 10, 11]
    assert manager.get_board_descriptions([8, "09", "0x0a", 0x77]) == [
        ("8 (08)", "Blitz Basic expansion board"),
        ("9 (09)", "Motor expansion board"),
        ("10 (0a)", "NetScanner ethernet interface, channels 1-16"),
        ("119 (77)", "Unknown board"),
    ]


def test_register_board_rejects_duplicates_and_accepts_new():
    manager = BoardManager(RecordingDatabase())
    with pytest.raises(ValueError, match="0x08 is already registered"):
        manager.register_board(8, BlitzBasicBoard)
    manager.register_board("20", Board(id=0x20, description="x", variables=[Variable("a", 0, 8)]))
    assert manager.boards[0x20].description == "x"
    with pytest.raises(ValueError, match="board id"):
        manager.register_board("zz", MotorBoard)


def test_parse_message_stores_readings_for_a_session():
    db = RecordingDatabase()
    rows = BoardManager(db).parse_message(LINE, session_id=3)
    assert len(rows) == 5
    assert rows[0] == (3, 0x2F19, db.categories["adc_channel_one"], 3276.0)
    assert [r[3] for r in rows] == [3276.0, 3276.0, 3264.0, 0.0, 0.0]


def test_parse_message_without_session_fills_the_cache_with_wall_clock():
    db = RecordingDatabase()
    rows = BoardManager(db, clock_ms=lambda: 1_700_000_000_000).parse_message(LINE)
    assert len(rows) == 5 and not db.readings
    assert {r[0] for r in rows} == {1_700_000_000_000}


def test_board_id_override_decodes_with_another_board():
    db = RecordingDatabase()
    rows = BoardManager(db).parse_message(LINE, session_id=1, board_id="09")
    assert len(rows) == 3 and "raw_adc" in db.categories


def test_categories_are_looked_up_once():
    calls = []
    db = RecordingDatabase()
    original = db.get_or_create_category
    db.get_or_create_category = lambda key: calls.append(key) or original(key)
    manager = BoardManager(db)
    for _ in range(10):
        manager.parse_message(LINE, session_id=1)
    assert len(calls) == 5


def test_bad_and_unknown_lines_are_counted_and_reported_not_raised():
    db = RecordingDatabase()
    manager = BoardManager(db)
    for _ in range(12):
        assert manager.parse_message("not hex at all, clearly", session_id=1) == []
    assert manager.parse_message("77a000000000" + "0" * 16, session_id=1) == []
    assert manager.parse_message(None, session_id=1) == []
    assert manager.counts["bad_lines"] == 13
    assert manager.unknown_boards[0x77] == 1
    texts = [text for text, _ in db.errors]
    # first and tenth bad line reported, not every one
    assert sum("bad line" in t for t in texts) == 2
    assert any("(10 so far)" in t for t in texts)
    assert any("unknown board 0x77" in t for t in texts)


def test_storage_failure_is_reported_not_raised():
    db = RecordingDatabase(fail=True)
    manager = BoardManager(db)
    assert manager.parse_message(LINE, session_id=1) == []
    assert manager.counts["storage_errors"] == 1
    assert "disk full" in db.errors[0][0] and db.errors[0][1] == 3


def test_parse_board_id_forms():
    assert parse_board_id(8) == parse_board_id("08") == parse_board_id("0x08") == 8
    with pytest.raises(ValueError):
        parse_board_id(True)
    with pytest.raises(ValueError, match="0-255"):
        parse_board_id(300)
