"""BoardManager: the one-line decode-and-store path of api.md.

It decodes a single line with its board and stores one row per variable
through the database object it was given.  It never raises into the logging
path: unknown boards, bad lines and storage failures are counted, logged and
reported as notifications (rate-limited so a noisy board cannot flood them).
Downloads use `blitz.boards.chunk.decode_chunk` instead.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any, Callable, Iterable, Mapping, Protocol, Union

from blitz.boards.builtin import BUILTIN_BOARDS
from blitz.boards.definition import Board
from blitz.errors import MessageError
from blitz.protocol.message import LineLike, Message

log = logging.getLogger(__name__)

BoardId = Union[int, str]


class BoardDatabase(Protocol):
    """The part of DatabaseClient that BoardManager writes through."""

    def get_or_create_category(self, key: str) -> int: ...
    def add_reading(self, session_id: int, time_logged: int, category_id: int, value: float) -> Any: ...
    def add_cache(self, time_logged: int, category_id: int, value: float) -> Any: ...
    def log_error(self, description: str, severity: int = 1) -> Any: ...


def parse_board_id(board_id: BoardId) -> int:
    """Accept 8, "8"-as-hex ("08") or "0x08"; raise ValueError otherwise."""
    if isinstance(board_id, bool):
        raise ValueError(f"expected a board id, got {board_id!r}")
    if isinstance(board_id, int):
        value = board_id
    elif isinstance(board_id, str):
        text = board_id.strip().lower().removeprefix("0x")
        try:
            value = int(text, 16)
        except ValueError:
            raise ValueError(f"expected a board id as 2 hex digits or an int, got {board_id!r}") from None
    else:
        raise ValueError(f"expected a board id as 2 hex digits or an int, got {board_id!r}")
    if not 0 <= value <= 0xFF:
        raise ValueError(f"expected a board id 0-255, got {board_id!r}")
    return value


def _should_report(count: int) -> bool:
    """Report the 1st, 10th, 100th... occurrence of a problem."""
    while count >= 10 and count % 10 == 0:
        count //= 10
    return count == 1


class BoardManager:
    """Knows the boards by id and stores decoded lines through `database`."""

    def __init__(
        self,
        database: BoardDatabase,
        boards: Mapping[int, Board] | Iterable[Board] | None = None,
        clock_ms: Callable[[], int] | None = None,
    ) -> None:
        self.database = database
        self.boards: dict[int, Board] = {}
        self.counts: Counter[str] = Counter()
        self.unknown_boards: Counter[int] = Counter()
        self._categories: dict[str, int] = {}
        self._clock_ms = clock_ms or (lambda: int(time.time() * 1000))
        if boards is None:
            for board_class in BUILTIN_BOARDS:
                self.register_board(board_class.id, board_class())
        else:
            for board in boards.values() if isinstance(boards, Mapping) else boards:
                self.register_board(board.id, board)

    def register_board(self, board_id: BoardId, board: Board | type[Board]) -> None:
        """Add a board under `board_id`; an id already taken raises ValueError."""
        key = parse_board_id(board_id)
        if key in self.boards:
            raise ValueError(f"board id 0x{key:02x} is already registered ({self.boards[key].description})")
        self.boards[key] = board() if isinstance(board, type) else board

    def get_board_descriptions(self, ids: Iterable[BoardId]) -> list[tuple[str, str]]:
        """`[("8 (08)", "Blitz Basic expansion board"), ...]` for the given ids."""
        result = []
        for raw in ids:
            key = parse_board_id(raw)
            board = self.boards.get(key)
            result.append((f"{key} ({key:02x})", board.description if board else "Unknown board"))
        return result

    def _category_id(self, name: str) -> int:
        if name not in self._categories:
            self._categories[name] = self.database.get_or_create_category(name)
        return self._categories[name]

    def _report(self, kind: str, description: str, severity: int = 2) -> None:
        """Count a problem; log it, and notify on its 1st, 10th, 100th... time."""
        self.counts[kind] += 1
        count = self.counts[kind]
        log.warning("%s (%s #%d)", description, kind, count)
        if _should_report(count):
            suffix = f" ({count} so far)" if count > 1 else ""
            try:
                self.database.log_error(description + suffix, severity)
            except Exception:  # the notification store failing must not stop logging
                log.exception("could not store notification %r", description)

    def parse_message(
        self, message: LineLike | Message, session_id: int | None = None, board_id: BoardId | None = None
    ) -> list[Any]:
        """Decode one line and store a row per variable; `[]` if it cannot be used.

        Rows are Readings of `session_id`, or Cache rows (live values, stamped
        with the wall clock) when `session_id` is None.
        """
        self.counts["lines"] += 1
        try:
            parsed = message if isinstance(message, Message) else Message.parse(message)
            key = parsed.sender if board_id is None else parse_board_id(board_id)
        except (MessageError, ValueError) as exc:
            self._report("bad_lines", f"bad line: {exc}")
            return []
        board = self.boards.get(key)
        if board is None:
            self.unknown_boards[key] += 1
            self._report("unknown_boards", f"unknown board 0x{key:02x} (line {parsed.raw[:40]!r})")
            return []
        try:
            values = board.decode(parsed)
        except MessageError as exc:
            self._report("bad_lines", f"board 0x{key:02x}: {exc}")
            return []
        try:
            if session_id is None:
                now = self._clock_ms()
                rows = [self.database.add_cache(now, self._category_id(n), float(v)) for n, v in values.items()]
            else:
                rows = [
                    self.database.add_reading(session_id, parsed.timestamp, self._category_id(n), float(v))
                    for n, v in values.items()
                ]
        except Exception as exc:  # storage trouble is reported, never raised into logging
            self._categories.clear()
            self._report("storage_errors", f"could not store line {parsed.raw[:40]!r}: {exc}", severity=3)
            return []
        self.counts["stored_lines"] += 1
        return rows


__all__ = ["BoardDatabase", "BoardManager", "parse_board_id"]
