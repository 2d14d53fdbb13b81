"""Read a JSON session export back into the local database (`blitz import`), streaming, in one transaction.

The file is parsed incrementally: the metadata with `json`, the readings in
large batches (one reading per line, as `blitz export` writes them, parses
as one JSON array per batch), so a 5M-reading file never sits in memory.
Any other valid JSON layout of the same data also imports, only slower.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, TextIO

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, Engine, delete, exists, insert, select

from blitz.data.client_sessions import refresh_availability
from blitz.data.export import JSON_FORMAT, JSON_VERSION, ReadingsDigest
from blitz.data.models import Reading, Session
from blitz.data.sql_bulk import write_rows
from blitz.data.sql_upsert import get_or_create_categories
from blitz.errors import BlitzError

__all__ = [
    "ImportFileError",
    "ImportResult",
    "SessionExists",
    "SessionFile",
    "import_session",
    "scan_session_file",
]

_BLOCK_CHARS = 1 << 20
_MAX_VALUE_CHARS = 1 << 26
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


class ImportFileError(BlitzError, ValueError):
    """The file is not a readable Blitz session export."""


class SessionExists(BlitzError):
    """The session number is already in the local database (import with replace=True to overwrite)."""


class _JsonScanner:
    """Incremental reader of one top-level JSON object whose "readings" array may be huge."""

    def __init__(self, stream: TextIO, name: str, block_chars: int = _BLOCK_CHARS) -> None:
        self._stream, self._name, self._block = stream, name, max(1, block_chars)
        self._buf, self._pos, self._consumed, self._eof = "", 0, 0, False
        self._lines_work = True  # until a batch of lines fails to parse as array elements

    def error(self, what: str) -> ImportFileError:
        return ImportFileError(f"{self._name}: {what} at character {self._consumed + self._pos}")

    def _fill(self) -> bool:
        block = self._stream.read(self._block)
        if not block:
            self._eof = True
            return False
        self._consumed += self._pos
        self._buf = self._buf[self._pos :] + block
        self._pos = 0
        return True

    def peek(self) -> str:
        """The next non-blank character ('' at the end of the file), not consumed."""
        while True:
            self._pos = _WHITESPACE.match(self._buf, self._pos).end()  # type: ignore[union-attr]
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if not self._fill():
                return ""

    def expect(self, allowed: str, what: str) -> str:
        char = self.peek()
        if not char or char not in allowed:
            found = repr(char) if char else "the end of the file (truncated?)"
            raise self.error(f"expected {what}, found {found}")
        self._pos += 1
        return char

    def value(self) -> Any:
        """The next complete JSON value."""
        if not self.peek():
            raise self.error("expected a value, found the end of the file (truncated?)")
        while True:
            try:
                value, end = _DECODER.raw_decode(self._buf, self._pos)
                if end < len(self._buf) or self._eof:
                    self._pos = end
                    return value
            except json.JSONDecodeError as exc:
                ran_out = exc.pos >= len(self._buf.rstrip()) or exc.msg.startswith("Unterminated string")
                if self._eof and ran_out:
                    raise self.error(f"the file ends inside a value ({exc.msg}; truncated?)") from None
                if self._eof or len(self._buf) - self._pos > _MAX_VALUE_CHARS:
                    raise self.error(f"invalid JSON ({exc.msg})") from None
            self._fill()

    def batches(self) -> Iterator[list[Any]]:
        """The elements of the array starting here, in batches (fast path: one element per line)."""
        self.expect("[", "'[' opening the readings")
        if self.peek() == "]":
            self._pos += 1
            return
        while True:
            if self._lines_work:
                if not self._eof and len(self._buf) - self._pos < self._block:
                    self._fill()
                items = self._line_batch()
                if items is not None:
                    yield items
                    continue
            yield [self.value()]
            if self.expect(",]", "',' or ']' in the readings") == "]":
                return

    def _line_batch(self) -> Optional[list[Any]]:
        """The elements up to the last ',' that ends a line, parsed as one array; None if there are none.

        A raw newline cannot occur inside a JSON string, so such a comma either
        separates two elements, or sits inside a multi-line element, and then the
        batch does not parse and the rest of the file goes element by element.
        """
        cut = max(self._buf.rfind(",\n", self._pos), self._buf.rfind(",\r\n", self._pos))
        if cut <= self._pos or not self._buf[self._pos : cut].strip():
            return None
        try:
            items = json.loads("[" + self._buf[self._pos : cut] + "]")
        except ValueError:
            self._lines_work = False
            return None
        self._pos = cut + 1
        return items if isinstance(items, list) else None

    def finish(self) -> None:
        if self.peek():
            raise self.error("unexpected data after the end of the JSON object")


@dataclass(frozen=True)
class SessionFile:
    """The checked metadata of a session export."""

    ref_id: int
    time_started: Optional[int]
    time_stopped: Optional[int]
    number_of_readings: int
    downloaded_messages: int
    readings_count: int
    counts: dict[str, int]  # per variable, in the file's order

    @property
    def names(self) -> list[str]:
        return list(self.counts)


def _require_int(where: str, value: Any, nullable: bool = False) -> Optional[int]:
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ImportFileError(f"{where}: expected a whole number >= 0, got {value!r}")
    return value


def _parse_header(name: str, header: dict[str, Any]) -> SessionFile:
    """Check the metadata keys and return them typed; errors name the key and the expected form."""
    if header.get("format") != JSON_FORMAT:
        raise ImportFileError(f"{name}: not a Blitz session export (\"format\" is {header.get('format')!r}, "
                              f"expected {JSON_FORMAT!r})")
    if header.get("version") != JSON_VERSION:
        raise ImportFileError(f"{name}: export version {header.get('version')!r} is not supported "
                              f"(this Blitz reads version {JSON_VERSION})")
    session = header.get("session")
    if not isinstance(session, dict):
        raise ImportFileError(f"{name}: \"session\": expected an object with ref_id and times, got {session!r}")
    variables = header.get("variables")
    if not isinstance(variables, list):
        raise ImportFileError(f"{name}: \"variables\": expected a list of {{name, count}}, got {variables!r}")
    counts: dict[str, int] = {}
    for index, item in enumerate(variables):
        where = f"{name}: variables[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"].strip():
            raise ImportFileError(f"{where}: expected {{\"name\": ..., \"count\": ...}}, got {item!r}")
        if item["name"] in counts:
            raise ImportFileError(f"{where}: variable {item['name']!r} is listed twice")
        counts[item["name"]] = _require_int(f"{where}.count", item.get("count")) or 0
    reported = _require_int(f"{name}: session.number_of_readings", session.get("number_of_readings", 0)) or 0
    total = _require_int(f"{name}: readings_count", header.get("readings_count"))
    if total != sum(counts.values()):
        raise ImportFileError(f"{name}: readings_count {total} is not the sum of the variables' counts "
                              f"({sum(counts.values())})")
    if header.get("columns", ["time_logged", "variable", "value"]) != ["time_logged", "variable", "value"]:
        raise ImportFileError(f"{name}: \"columns\": expected [\"time_logged\", \"variable\", \"value\"], "
                              f"got {header.get('columns')!r}")
    return SessionFile(
        ref_id=_require_int(f"{name}: session.ref_id", session.get("ref_id")) or 0,
        time_started=_require_int(f"{name}: session.time_started", session.get("time_started"), nullable=True),
        time_stopped=_require_int(f"{name}: session.time_stopped", session.get("time_stopped"), nullable=True),
        number_of_readings=reported,
        downloaded_messages=_require_int(
            f"{name}: session.downloaded_messages", session.get("downloaded_messages", reported)
        ) or 0,
        readings_count=total or 0,
        counts=counts,
    )


def _columns(
    name: str, items: list[Any], first: int, index: dict[str, int]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.intp], npt.NDArray[np.float64]]:
    """Check a batch of [time_logged, variable, value] rows and return them as arrays."""
    try:
        if set(map(type, items)) != {list} or set(map(len, items)) != {3}:
            raise ValueError
        times, names, values = zip(*items)
        if not set(map(type, times)) <= {int} or not set(map(type, values)) <= {int, float}:
            raise ValueError
        column = np.array([index[n] for n in names], dtype=np.intp)
        value = np.array(values, dtype=np.float64)
        time_logged = np.array(times, dtype=np.int64)
        if not np.isfinite(value).all():
            raise ValueError
    except (ValueError, KeyError, TypeError, OverflowError):
        raise _bad_row(name, items, first, index) from None
    return time_logged, column, value


def _bad_row(name: str, items: list[Any], first: int, index: dict[str, int]) -> ImportFileError:
    """The error naming the first bad row of a batch (the slow path, only on failure)."""
    for offset, row in enumerate(items):
        where = f"{name}: readings[{first + offset}]"
        if type(row) is not list or len(row) != 3:
            return ImportFileError(f"{where}: expected [time_logged, variable, value], got {row!r}")
        time_logged, variable, value = row
        if type(time_logged) is not int or not -(2**63) <= time_logged < 2**63:
            return ImportFileError(f"{where}: time_logged: expected a whole number of ms, got {time_logged!r}")
        if not isinstance(variable, str) or variable not in index:
            return ImportFileError(f"{where}: variable {variable!r} is not listed in \"variables\"")
        if type(value) not in (int, float) or not np.isfinite(float(value)):
            return ImportFileError(f"{where}: value: expected a finite number, got {value!r}")
    return ImportFileError(f"{name}: readings[{first}...]: malformed rows")


class _SessionFileReader:
    """Metadata and reading batches of one export file, checked as they are read."""

    def __init__(self, stream: TextIO, name: str, block_chars: int = _BLOCK_CHARS) -> None:
        self._scanner = _JsonScanner(stream, name, block_chars)
        self._name = name
        self.header: dict[str, Any] = {}
        self._buffered: Optional[list[list[Any]]] = None
        self._scanner.expect("{", "a JSON object ('{')")
        self._has_rows = self._read_keys()
        if self._has_rows and not {"session", "variables"} <= self.header.keys():
            self._buffered = list(self._scanner.batches())  # metadata after the readings: small files only
            self._after_rows()
        self.meta = _parse_header(name, self.header)

    def _read_keys(self) -> bool:
        """Read `"key": value` pairs into `header` until "readings" (True) or the end of the object."""
        if self._scanner.peek() == "}":
            self._scanner.expect("}", "'}'")
            return False
        while True:
            key = self._scanner.value()
            if not isinstance(key, str):
                raise self._scanner.error(f"expected a key string, found {key!r}")
            self._scanner.expect(":", "':' after a key")
            if key == "readings":
                return True
            self.header[key] = self._scanner.value()
            if self._scanner.expect(",}", "',' or '}'") == "}":
                return False

    def _after_rows(self) -> None:
        if self._scanner.expect(",}", "',' or '}' after the readings") == ",":
            if self._read_keys():
                raise self._scanner.error("\"readings\" appears twice")
        self._scanner.finish()

    def batches(self) -> Iterator[tuple[npt.NDArray[np.int64], npt.NDArray[np.intp], npt.NDArray[np.float64]]]:
        """(time_logged, variable index, value) arrays; at the end, counts are checked against the metadata."""
        index = {name: position for position, name in enumerate(self.meta.names)}
        seen = np.zeros(len(index), dtype=np.int64)
        first = 0
        if self._buffered is not None:
            source: Iterator[list[Any]] = iter(self._buffered)
        elif self._has_rows:
            source = self._scanner.batches()
        else:
            self._scanner.finish()
            source = iter(())
        for items in source:
            arrays = _columns(self._name, items, first, index)
            seen += np.bincount(arrays[1], minlength=len(index))
            first += len(items)
            yield arrays
        if self._buffered is None and self._has_rows:
            self._after_rows()
        found = dict(zip(self.meta.names, seen.tolist()))
        if found != self.meta.counts:
            wrong = next(name for name in found if found[name] != self.meta.counts[name])
            raise ImportFileError(
                f"{self._name}: {wrong} has {found[wrong]} readings but the metadata says "
                f"{self.meta.counts[wrong]} (truncated or edited file?)"
            )


def scan_session_file(path: str | Path, block_chars: int = _BLOCK_CHARS) -> tuple[SessionFile, str]:
    """Parse and check a whole export without touching a database; return its metadata and readings digest.

    `block_chars` is how much text is read at a time.
    """
    with open(path, encoding="utf-8") as stream:
        reader = _SessionFileReader(stream, str(path), block_chars)
        digest = ReadingsDigest()
        for time_logged, column, value in reader.batches():
            digest.update(time_logged, column, value)
    return reader.meta, digest.hexdigest()


@dataclass(frozen=True)
class ImportResult:
    """What an import stored."""

    ref_id: int
    readings: int
    variables: list[str]
    replaced: bool


def import_session(engine: Engine, path: str | Path, replace: bool = False) -> ImportResult:
    """Store the session exported in `path`, all or nothing (one transaction).

    Refuses a session number that already has a session row or readings here
    unless `replace`, which deletes the old session's readings first.
    """
    try:
        stream = open(path, encoding="utf-8")
    except OSError as exc:
        raise ImportFileError(f"{path}: cannot read the file ({exc.strerror})") from None
    try:
        with stream, engine.begin() as conn:
            return _store(conn, _SessionFileReader(stream, str(path)), replace)
    except UnicodeDecodeError:
        raise ImportFileError(f"{path}: not a UTF-8 text file") from None


def _store(conn: Connection, reader: _SessionFileReader, replace: bool) -> ImportResult:
    """Write the session row and every reading batch of `reader` on `conn`."""
    meta = reader.meta
    replaced = _make_room(conn, meta.ref_id, replace)
    conn.execute(
        insert(Session).values(
            ref_id=meta.ref_id,
            time_started=meta.time_started,
            time_stopped=meta.time_stopped,
            number_of_readings=meta.number_of_readings,
            downloaded_messages=meta.downloaded_messages,
        )
    )
    ids = get_or_create_categories(conn, meta.names) if meta.names else {}
    category = np.array([ids[name] for name in meta.names], dtype=np.int64)
    stored = 0
    for time_logged, column, value in reader.batches():
        session = np.full(len(time_logged), meta.ref_id, dtype=np.int64)
        stored += write_rows(
            conn,
            Reading.__table__,
            ("session_id", "time_logged", "category_id", "value"),
            [session, time_logged, category[column], value],
        )
    refresh_availability(conn, meta.ref_id)
    return ImportResult(meta.ref_id, stored, meta.names, replaced)


def _make_room(conn: Connection, ref_id: int, replace: bool) -> bool:
    """Delete session `ref_id` when `replace`; refuse when it exists otherwise.  True if one was there."""
    has_row = conn.execute(select(exists().where(Session.ref_id == ref_id))).scalar()
    has_readings = conn.execute(select(exists().where(Reading.session_id == ref_id))).scalar()
    if not (has_row or has_readings):
        return False
    if not replace:
        raise SessionExists(
            f"session {ref_id} already exists in the local database; "
            f"import with --replace to overwrite it, or delete it first"
        )
    conn.execute(delete(Reading).where(Reading.session_id == ref_id))
    conn.execute(delete(Session).where(Session.ref_id == ref_id))
    return True
