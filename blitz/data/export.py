"""Stream a stored session's readings out of the database in time order, as CSV (wide or long) or JSON.

Nothing holds a whole session: readings arrive in time windows sized to about
`CHUNK_ROWS` rows (each window is one indexed range query per variable set),
are ordered and pivoted with numpy, and each chunk is formatted and written
before the next is fetched.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Optional, TextIO

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, Engine, func, select

from blitz.data.browse import SessionOverview, VariableSpan, iso_utc, load_session
from blitz.data.models import Reading
from blitz.errors import StorageError

__all__ = [
    "CHUNK_ROWS",
    "FORMATS",
    "JSON_FORMAT",
    "JSON_VERSION",
    "Chunk",
    "ExportSummary",
    "ReadingsDigest",
    "count_readings",
    "export_session",
    "iter_chunks",
    "json_header",
    "snapshot",
    "write_csv_long",
    "write_csv_wide",
    "write_json",
]

CHUNK_ROWS = 200_000
JSON_FORMAT = "blitz-session"
JSON_VERSION = 1
FORMATS = ("csv", "csv-long", "json")
_FETCH_ROWS = 50_000
_ROW_DTYPE = np.dtype([("t", np.int64), ("v", np.float64)])


@dataclass(frozen=True)
class Chunk:
    """Readings ordered by time, then variable (its index in the spans given), then id."""

    time_logged: npt.NDArray[np.int64]
    column: npt.NDArray[np.intp]
    value: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.time_logged)


class ReadingsDigest:
    """SHA-256 of a readings stream (times, variable indexes, values), whatever the chunking.

    The archive compares the digest of what it read from the database with the
    digest of what it parses back from the file before deleting anything.
    """

    def __init__(self) -> None:
        self._parts = [hashlib.sha256(), hashlib.sha256(), hashlib.sha256()]
        self.count = 0

    def update(self, time_logged: npt.ArrayLike, column: npt.ArrayLike, value: npt.ArrayLike) -> None:
        """Add the next readings, in stream order."""
        arrays = (
            np.ascontiguousarray(time_logged, dtype="<i8"),
            np.ascontiguousarray(column, dtype="<i8"),
            np.ascontiguousarray(value, dtype="<f8"),
        )
        for part, array in zip(self._parts, arrays):
            part.update(array.tobytes())
        self.count += len(arrays[0])

    def hexdigest(self) -> str:
        """The digest of everything added so far."""
        return hashlib.sha256(b"".join(part.digest() for part in self._parts)).hexdigest()


@dataclass
class ExportSummary:
    """What an export wrote: readings per variable, rows written and the readings digest."""

    readings: int = 0
    rows: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    digest: str = ""


@contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    """A connection in one transaction; on PostgreSQL every query sees the same snapshot (REPEATABLE READ).

    SQLite's driver starts no transaction for reads, so there a download running
    meanwhile can add rows; `write_json` notices and fails rather than write a
    file whose counts disagree with its readings.
    """
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


def count_readings(conn: Connection, overview: SessionOverview) -> dict[str, int]:
    """Readings per variable name (one index-only aggregate query)."""
    statement = (
        select(Reading.category_id, func.count())
        .where(Reading.session_id == overview.ref_id)
        .group_by(Reading.category_id)
    )
    by_id = {int(cid): int(count) for cid, count in conn.execute(statement)}
    return {span.name: by_id.get(span.category_id, 0) for span in overview.variables}


def iter_chunks(
    conn: Connection,
    overview: SessionOverview,
    spans: Optional[Sequence[VariableSpan]] = None,
    chunk_rows: int = CHUNK_ROWS,
) -> Iterator[Chunk]:
    """Yield the readings of `spans` (default: all) in time order, in chunks that never split a timestamp.

    Each chunk is one time window [lo, hi): one index range scan per variable,
    already in (time, id) order, merged with a stable sort.  The window width
    adapts so chunks hold about `chunk_rows` readings.
    """
    chosen = tuple(spans) if spans else overview.variables
    lo = min(span.first_ms for span in chosen)
    end = max(span.last_ms for span in chosen) + 1
    by_time, by_time_and_id = _window_sql(conn, "time_logged"), _window_sql(conn, "time_logged, id")
    width = 1_000
    while lo < end:
        hi = min(lo + width, end)
        parts = [_fetch_in_order(conn, by_time, by_time_and_id, (overview.ref_id, span.category_id, lo, hi))
                 for span in chosen]
        count = sum(len(part) for part in parts)
        if count:
            rows = np.concatenate(parts)
            column = np.repeat(np.arange(len(chosen), dtype=np.intp), [len(part) for part in parts])
            order = np.argsort(rows["t"], kind="stable")
            yield Chunk(rows["t"][order], column[order], rows["v"][order])
        growth = chunk_rows / max(count, 1)
        width = max(1, int(width * min(8.0, max(0.125, growth))))
        lo = hi


def _window_sql(conn: Connection, order: str) -> str:
    """One variable's readings in one time window ordered by `order`, in the driver's placeholder style."""
    style = conn.dialect.paramstyle
    if style == "qmark":
        mark = "?"
    elif style in ("format", "pyformat"):
        mark = "%s"
    else:  # pragma: no cover - SQLite and psycopg use the two above
        raise StorageError(f"exporting needs a qmark or format DB-API driver, got paramstyle {style!r}")
    return (
        f"SELECT time_logged, value FROM reading WHERE session_id = {mark} AND category_id = {mark} "
        f"AND time_logged >= {mark} AND time_logged < {mark} ORDER BY {order}"
    )


def _fetch_in_order(conn: Connection, by_time: str, by_time_and_id: str, params: tuple[int, int, int, int]
                    ) -> npt.NDArray[Any]:
    """One variable's window in (time, id) order.

    Ordering by time alone is a plain walk of the covering reading index;
    adding id makes SQLite sort every run of equal times, which costs about a
    third of the export.  Only a window where a time repeats (rare) is read
    again with the id order, which keeps repeated readings in stored order.
    """
    rows = _fetch(conn, by_time, params)
    times = rows["t"]
    if len(times) > 1 and bool((times[1:] == times[:-1]).any()):
        rows = _fetch(conn, by_time_and_id, params)
    return rows


def _fetch(conn: Connection, sql: str, params: tuple[int, int, int, int]) -> npt.NDArray[Any]:
    """Run `sql` on the raw DB-API cursor (no Row objects) into a structured array, in batches."""
    cursor: Any = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, params)
        parts = []
        while True:
            batch = cursor.fetchmany(_FETCH_ROWS)
            if not batch:
                break
            parts.append(np.fromiter(batch, dtype=_ROW_DTYPE, count=len(batch)))
    finally:
        cursor.close()
    if not parts:
        return np.empty(0, dtype=_ROW_DTYPE)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _relative_s(chunk_times: npt.NDArray[np.int64], overview: SessionOverview) -> list[str]:
    """Seconds since the session's first reading, shortest exact text ('1.25', '0.0')."""
    return list(map(repr, ((chunk_times - overview.first_ms) / 1000).tolist()))


def _absolute_utc(chunk_times: npt.NDArray[np.int64], overview: SessionOverview) -> list[str]:
    """ISO-8601 UTC times with milliseconds, or '' when the session's start time is unknown."""
    if overview.time_started is None:
        return [""] * len(chunk_times)
    absolute = (chunk_times - overview.first_ms + overview.time_started).astype("datetime64[ms]")
    return list(np.datetime_as_string(absolute, unit="ms", timezone="UTC").tolist())


def _csv_text(values: Sequence[str]) -> str:
    """One CSV line (quoted as needed) without its newline."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(values)
    return buffer.getvalue()


def write_csv_wide(
    conn: Connection, overview: SessionOverview, out: TextIO, chunk_rows: int = CHUNK_ROWS
) -> ExportSummary:
    """One row per timestamp: time_s (relative), time_utc, then one column per variable (blank if absent).

    A variable logged twice at one timestamp fills a second row with the same time.
    """
    names = overview.names
    out.write(_csv_text(["time_s", "time_utc", *names]) + "\n")
    summary = ExportSummary(counts=dict.fromkeys(names, 0))
    for chunk in iter_chunks(conn, overview, chunk_rows=chunk_rows):
        row, times = _pivot_rows(chunk)
        grid = np.zeros((len(times), len(names)), dtype=np.float64)
        present = np.zeros(grid.shape, dtype=bool)
        grid[row, chunk.column] = chunk.value
        present[row, chunk.column] = True
        columns = []
        for index in range(len(names)):
            texts = list(map(repr, grid[:, index].tolist()))
            for missing in np.flatnonzero(~present[:, index]).tolist():
                texts[missing] = ""
            columns.append(texts)
        lines = map(",".join, zip(_relative_s(times, overview), _absolute_utc(times, overview), *columns))
        out.write("\n".join(lines) + "\n")
        _tally(summary, chunk, names, rows=len(times))
    return summary


def _pivot_rows(chunk: Chunk) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.int64]]:
    """The output row of each reading and each row's time: one row per timestamp and repeat.

    The k-th reading of a variable at one timestamp goes to that timestamp's k-th row.
    """
    t, col = chunk.time_logged, chunk.column
    new_group = np.ones(len(t), dtype=bool)
    new_group[1:] = (t[1:] != t[:-1]) | (col[1:] != col[:-1])
    if new_group.all():  # no variable repeats at a timestamp: one row per distinct time
        new_time = np.ones(len(t), dtype=bool)
        new_time[1:] = t[1:] != t[:-1]
        row = np.cumsum(new_time) - 1
        return row, t[new_time]
    position = np.arange(len(t))
    repeat = position - np.maximum.accumulate(np.where(new_group, position, 0))
    order = np.lexsort((repeat, t))
    key_t, key_r = t[order], repeat[order]
    starts = np.ones(len(t), dtype=bool)
    starts[1:] = (key_t[1:] != key_t[:-1]) | (key_r[1:] != key_r[:-1])
    row = np.empty(len(t), dtype=np.intp)
    row[order] = np.cumsum(starts) - 1
    return row, key_t[starts]


def _tally(summary: ExportSummary, chunk: Chunk, names: Sequence[str], rows: int) -> None:
    counts = np.bincount(chunk.column, minlength=len(names))
    for name, count in zip(names, counts.tolist()):
        summary.counts[name] += count
    summary.readings += len(chunk)
    summary.rows += rows


def write_csv_long(
    conn: Connection, overview: SessionOverview, out: TextIO, chunk_rows: int = CHUNK_ROWS
) -> ExportSummary:
    """One row per reading: time_s (relative), time_utc, variable, value."""
    names = overview.names
    quoted = np.array([_csv_text([name]) for name in names], dtype=object)
    out.write("time_s,time_utc,variable,value\n")
    summary = ExportSummary(counts=dict.fromkeys(names, 0))
    for chunk in iter_chunks(conn, overview, chunk_rows=chunk_rows):
        t = chunk.time_logged
        lines = map(
            ",".join,
            zip(_relative_s(t, overview), _absolute_utc(t, overview), quoted[chunk.column].tolist(),
                map(repr, chunk.value.tolist())),
        )
        out.write("\n".join(lines) + "\n")
        _tally(summary, chunk, names, rows=len(chunk))
    return summary


def json_header(overview: SessionOverview, counts: dict[str, int]) -> dict[str, Any]:
    """The metadata that precedes the readings in a JSON export (also what `blitz import` checks)."""
    return {
        "format": JSON_FORMAT,
        "version": JSON_VERSION,
        "session": {
            "ref_id": overview.ref_id,
            "time_started": overview.time_started,
            "time_stopped": overview.time_stopped,
            "time_started_utc": iso_utc(overview.time_started),
            "time_stopped_utc": iso_utc(overview.time_stopped),
            "number_of_readings": overview.number_of_readings,
            "downloaded_messages": overview.downloaded_messages,
        },
        "readings_count": sum(counts.values()),
        "first_time_logged": overview.first_ms,
        "last_time_logged": overview.last_ms,
        "variables": [
            {
                "name": span.name,
                "count": counts[span.name],
                "first_time_logged": span.first_ms,
                "last_time_logged": span.last_ms,
            }
            for span in overview.variables
        ],
        "columns": ["time_logged", "variable", "value"],
    }


def write_json(
    conn: Connection, overview: SessionOverview, out: TextIO, chunk_rows: int = CHUNK_ROWS
) -> ExportSummary:
    """The session's metadata, then `"readings": [[time_logged, variable, value], ...]`, one per line.

    One reading per line keeps the file valid JSON for any tool while letting
    `blitz import` parse it in large batches instead of loading it whole.
    """
    names = overview.names
    counts = count_readings(conn, overview)
    header = json.dumps(json_header(overview, counts), indent=1, ensure_ascii=False)
    out.write(header[: header.rindex("}")].rstrip() + ',\n "readings": [\n')
    quoted = np.array([json.dumps(name, ensure_ascii=False) for name in names], dtype=object)
    summary = ExportSummary(counts=dict.fromkeys(names, 0))
    digest = ReadingsDigest()
    for chunk in iter_chunks(conn, overview, chunk_rows=chunk_rows):
        if not np.isfinite(chunk.value).all():
            bad = int(np.flatnonzero(~np.isfinite(chunk.value))[0])
            raise StorageError(
                f"session {overview.ref_id}: {names[chunk.column[bad]]} at time_logged "
                f"{chunk.time_logged[bad]} is {chunk.value[bad]}, which JSON cannot hold"
            )
        lines = map(
            "[%s, %s, %s]".__mod__,
            zip(map(str, chunk.time_logged.tolist()), quoted[chunk.column].tolist(), map(repr, chunk.value.tolist())),
        )
        out.write((",\n" if summary.readings else "") + ",\n".join(lines))
        _tally(summary, chunk, names, rows=len(chunk))
        digest.update(chunk.time_logged, chunk.column, chunk.value)
    out.write("\n]}\n")
    if summary.counts != counts:
        raise StorageError(
            f"session {overview.ref_id} changed while it was exported "
            f"({sum(counts.values())} readings counted, {summary.readings} written); export it again"
        )
    summary.digest = digest.hexdigest()
    return summary


_WRITERS = {"csv": write_csv_wide, "csv-long": write_csv_long, "json": write_json}


def export_session(
    conn: Connection, ref_id: int, out: TextIO, fmt: str = "csv", chunk_rows: int = CHUNK_ROWS
) -> ExportSummary:
    """Write session `ref_id` to `out` as "csv" (wide), "csv-long" or "json"."""
    if fmt not in _WRITERS:
        raise ValueError(f"format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    overview = load_session(conn, ref_id)
    return _WRITERS[fmt](conn, overview, out, chunk_rows)
