"""The live view model: latest value and short trend per variable from pushed lines.

Each batch of `!LIVE` lines is decoded with the boards in one numpy pass;
the readings are kept as latest value plus a small trend per variable and
written to the cache table in batches (one insert per flush, not per line).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Optional, Protocol, Sequence

import numpy as np

from blitz.boards.chunk import decode_chunk
from blitz.boards.definition import Board
from blitz.client.reply_parser import LivePush, NoteInfo, OtherPush, Push


class CacheStore(Protocol):
    """What the live view needs from the SQL store (`DatabaseClient` fits)."""

    def get_or_create_categories(self, names: Any) -> dict[str, int]: ...

    def add_cache_bulk(self, time_logged: Any, category_id: Any, value: Any) -> int: ...


@dataclass(frozen=True)
class LiveValue:
    """One row of the live table."""

    name: str
    board_id: Optional[int]
    unit: str
    value: float
    time_logged: int
    trend: tuple[float, ...]
    count: int


class _Track:
    """Running state of one variable."""

    __slots__ = ("value", "time_logged", "trend", "count")

    def __init__(self, trend_points: int) -> None:
        self.value = 0.0
        self.time_logged = 0
        self.trend: deque[float] = deque(maxlen=trend_points)
        self.count = 0


class LiveView:
    """Decode pushed lines, keep the latest values, and cache them in batches."""

    def __init__(self, boards: Mapping[int, Board], database: Optional[CacheStore] = None,
                 trend_points: int = 30, flush_rows: int = 5000, flush_interval_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.boards = boards
        self.database = database
        self.trend_points = trend_points
        self.flush_rows = flush_rows
        self.flush_interval_s = flush_interval_s
        self._clock = clock
        self._last_flush = clock()
        self._tracks: dict[str, _Track] = {}
        self._order: dict[str, tuple[int, int, str]] = {}  # name -> (board id, position, unit)
        for board_id, board in sorted(boards.items()):
            for position, variable in enumerate(board.variables):
                self._order.setdefault(variable.name, (board_id, position, variable.unit))
        self._last_timestamps: dict[int, int] = {}
        self._pending: list[tuple[np.ndarray, list[str], np.ndarray, np.ndarray]] = []
        self._pending_rows = 0
        self._category_ids: dict[str, int] = {}
        self.session_id: Optional[int] = None
        self.lines = 0
        self.readings = 0
        self.cached = 0
        self.bad_lines = 0
        self.unknown: dict[int, int] = {}
        self.dropped = 0  # push lines the server dropped because this client was slow
        self.notes: deque[NoteInfo] = deque(maxlen=5)

    def feed(self, pushes: Iterable[Push]) -> int:
        """Take a batch of pushes (LIVE lines and notes); returns the lines decoded."""
        lines: list[str] = []
        for push in pushes:
            if isinstance(push, LivePush):
                if push.session_id != self.session_id:
                    self.session_id = push.session_id
                    self._last_timestamps.clear()  # a new session restarts the board clocks
                lines.append(push.line)
            elif isinstance(push, NoteInfo):
                self.notes.append(push)
            elif isinstance(push, OtherPush) and push.kind == "DROPPED":
                count = push.text.strip()
                self.dropped += int(count) if count.isdigit() else 0
        return self.feed_lines(lines)

    def feed_lines(self, lines: Sequence[str]) -> int:
        """Decode raw session lines; returns how many were used."""
        if not lines:
            self.maybe_flush()
            return 0
        chunk = decode_chunk(lines, self.boards, self._last_timestamps)
        self.lines += len(lines)
        self.bad_lines += len(chunk.errors)
        for sender, count in chunk.unknown.items():
            self.unknown[sender] = self.unknown.get(sender, 0) + count
        self.readings += len(chunk)
        for index, name in enumerate(chunk.names):
            mask = chunk.name_index == index
            values = chunk.value[mask]
            track = self._tracks.get(name)
            if track is None:
                track = self._tracks[name] = _Track(self.trend_points)
            track.value = float(values[-1])
            track.time_logged = int(chunk.time_logged[mask][-1])
            track.trend.extend(values[-self.trend_points:].tolist())
            track.count += int(values.shape[0])
        if self.database is not None and len(chunk):
            self._pending.append((chunk.time_logged, chunk.names, chunk.name_index, chunk.value))
            self._pending_rows += len(chunk)
        self.maybe_flush()
        return chunk.decoded_messages

    def maybe_flush(self) -> int:
        """Flush the cache rows if enough are waiting or enough time has passed."""
        due = self._clock() - self._last_flush >= self.flush_interval_s
        if self._pending_rows >= self.flush_rows or (due and self._pending_rows):
            return self.flush()
        return 0

    def flush(self) -> int:
        """Write every waiting reading to the cache table in one insert."""
        self._last_flush = self._clock()
        if self.database is None or not self._pending:
            return 0
        batches, self._pending, self._pending_rows = self._pending, [], 0
        names = sorted({name for _, batch_names, _, _ in batches for name in batch_names})
        missing = [name for name in names if name not in self._category_ids]
        if missing:
            self._category_ids.update(self.database.get_or_create_categories(missing))
        times, categories, values = [], [], []
        for time_logged, batch_names, name_index, value in batches:
            ids = np.asarray([self._category_ids[name] for name in batch_names], dtype=np.int64)
            times.append(time_logged)
            categories.append(ids[name_index])
            values.append(value)
        written = self.database.add_cache_bulk(np.concatenate(times), np.concatenate(categories),
                                               np.concatenate(values))
        self.cached += written
        return written

    def values(self) -> list[LiveValue]:
        """Every variable seen, in board then payload order."""
        def key(name: str) -> tuple[int, int, str]:
            board_id, position, _ = self._order.get(name, (256, 0, ""))
            return board_id, position, name

        rows = []
        for name in sorted(self._tracks, key=key):
            track = self._tracks[name]
            board_id, _, unit = self._order.get(name, (None, 0, ""))
            rows.append(LiveValue(name, board_id, unit, track.value, track.time_logged,
                                  tuple(track.trend), track.count))
        return rows


__all__ = ["CacheStore", "LiveValue", "LiveView"]
