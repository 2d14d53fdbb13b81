"""Storage benchmark: decoded readings into SQL, Blitz's bulk path against raw executemany and ORM rows.

No network: the lines are decoded once (`decode_chunk`, outside the timing),
then each chunk of 5,000 messages is stored three ways into the same schema
(the `reading` table with its query index, WAL, synchronous=NORMAL), one
transaction per chunk:

- `DatabaseClient.add_readings_bulk`: what a download does;
- the machine's limit: plain `sqlite3` `executemany` of the same rows (tuples
  built outside the timing), and on PostgreSQL psycopg's binary COPY;
- the naive way: one `Reading` ORM object per reading (a smaller sample).
"""

from __future__ import annotations

import argparse
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from benchmarks.common import (
    Recorder,
    basic_lines_chunks,
    postgres_schema,
    repeats,
    shared_dir,
    size,
    sqlite_file_size_mb,
)

FIGURES = (
    "messages",
    "bulk_readings_per_s",
    "raw_executemany_readings_per_s",
    "bulk_percent_of_raw",
    "naive_orm_readings_per_s",
    "bulk_speedup_vs_naive",
    "sqlite_file_mb",
)
POSTGRES_FIGURES = ("postgres_bulk_readings_per_s", "postgres_raw_copy_readings_per_s", "postgres_bulk_percent_of_raw")
DEFAULT_MESSAGES = 1_000_000
SMOKE_MESSAGES = 2_000
CHUNK_MESSAGES = 5_000
NAIVE_MESSAGES = 10_000
COLUMNS = ("session_id", "time_logged", "category_id", "value")
SESSION_ID = 1
SESSION_START_MS = 1_717_243_200_000  # 2024-06-01T12:00:00Z


@dataclass
class Chunk:
    """One chunk's readings as columns, ready to store."""

    messages: int
    time_logged: npt.NDArray[np.int64]
    category_id: npt.NDArray[np.int64]
    value: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.value)

    def rows(self, session_id: int = SESSION_ID) -> list[tuple[Any, ...]]:
        """The chunk as DB-API row tuples (session, time, category, value)."""
        return list(zip([session_id] * len(self), self.time_logged.tolist(),
                        self.category_id.tolist(), self.value.tolist()))


def decoded_chunks(messages: int, category_ids: dict[str, int],
                   chunk_messages: int = CHUNK_MESSAGES) -> Iterator[Chunk]:
    """The session's readings, decoded chunk by chunk as a download decodes them."""
    from blitz.boards.builtin import BlitzBasicBoard
    from blitz.boards.chunk import decode_chunk

    boards = {BlitzBasicBoard.id: BlitzBasicBoard()}
    stamps: dict[int, int] = {}
    for lines in basic_lines_chunks(messages, chunk=chunk_messages):
        chunk = decode_chunk(lines, boards, stamps)
        ids = np.asarray([category_ids[name] for name in chunk.names], dtype=np.int64)
        yield Chunk(len(lines), chunk.time_logged, ids[chunk.name_index], chunk.value)


def new_store(url_or_path: str, messages: int = 10**9) -> Any:
    """A `DatabaseClient` with the current schema and the session listed (`messages` long)."""
    from blitz.data.database import DatabaseClient

    store = DatabaseClient(url=url_or_path) if "://" in url_or_path else DatabaseClient(path=url_or_path)
    store.update_session_list([[SESSION_ID, SESSION_START_MS, SESSION_START_MS + 10 * messages, messages]])
    return store


_BUILT: dict[int, Path] = {}


def session_database(messages: int) -> Path:
    """A SQLite file holding session 1 of `messages` Blitz Basic messages, downloaded; built once per run.

    Browse and web benchmarks read it and must not change it.
    """
    if messages not in _BUILT:
        path = shared_dir() / f"session-{messages}.db"
        with new_store(str(path), messages) as store:
            bulk_s(store, decoded_chunks(messages, basic_categories(store)))
        _BUILT[messages] = path
    return _BUILT[messages]


def basic_categories(store: Any) -> dict[str, int]:
    """The Blitz Basic variables' category ids in `store` (created when missing)."""
    from blitz.boards.builtin import BlitzBasicBoard

    ids: dict[str, int] = store.get_or_create_categories(BlitzBasicBoard().variable_names)
    return ids


def raw_executemany_s(path: Path, chunks: Sequence[Chunk] | Iterator[Chunk]) -> tuple[float, int]:
    """Seconds spent in plain sqlite3 executemany + commit of every chunk (rows built untimed), and rows.

    `path` must hold the Blitz schema already; the connection gets the
    pragmas Blitz sets (WAL, synchronous=NORMAL).
    """
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    statement = f"INSERT INTO reading ({', '.join(COLUMNS)}) VALUES (?, ?, ?, ?)"
    spent = 0.0
    rows_written = 0
    try:
        for chunk in chunks:
            rows = chunk.rows()
            began = time.perf_counter()
            conn.execute("BEGIN")
            conn.executemany(statement, rows)
            conn.execute("COMMIT")
            spent += time.perf_counter() - began
            rows_written += len(rows)
    finally:
        conn.close()
    return spent, rows_written


def raw_copy_s(url: str, chunks: Sequence[Chunk] | Iterator[Chunk]) -> tuple[float, int]:
    """Seconds spent in psycopg binary COPY + commit of every chunk (rows built untimed), and rows."""
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    options = parsed.query.get("options")
    conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False).split("?")[0]
    spent = 0.0
    rows_written = 0
    with psycopg.connect(conninfo, options=str(options) if options else "") as conn:
        for chunk in chunks:
            rows = chunk.rows()
            began = time.perf_counter()
            with conn.cursor() as cursor:
                with cursor.copy(f"COPY reading ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types(["int4", "int8", "int4", "float8"])
                    for row in rows:
                        copy.write_row(row)
            conn.commit()
            spent += time.perf_counter() - began
            rows_written += len(rows)
    return spent, rows_written


def bulk_s(store: Any, chunks: Sequence[Chunk] | Iterator[Chunk]) -> tuple[float, int]:
    """Seconds spent in `add_readings_bulk` (one transaction per chunk), and rows."""
    spent = 0.0
    rows = 0
    for chunk in chunks:
        began = time.perf_counter()
        rows += store.add_readings_bulk(SESSION_ID, chunk.time_logged, chunk.category_id, chunk.value,
                                        messages=chunk.messages)
        spent += time.perf_counter() - began
    return spent, rows


def naive_orm_s(store: Any, chunks: Sequence[Chunk] | Iterator[Chunk]) -> tuple[float, int]:
    """Seconds to add one `Reading` ORM object per reading, committing once per chunk, and rows."""
    from sqlalchemy.orm import Session

    from blitz.data.models import Reading

    spent = 0.0
    rows = 0
    for chunk in chunks:
        triples = list(zip(chunk.time_logged.tolist(), chunk.category_id.tolist(), chunk.value.tolist()))
        began = time.perf_counter()
        with Session(store.engine) as session:
            for t, category, value in triples:
                session.add(Reading(session_id=SESSION_ID, time_logged=t, category_id=category, value=value))
            session.commit()
        spent += time.perf_counter() - began
        rows += len(triples)
    return spent, rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The storage benchmark's options."""
    parser.add_argument("--naive-messages", type=int, default=None, metavar="N",
                        help=f"messages stored the naive way [{NAIVE_MESSAGES:,}; smoke 500]")


def _median_rate(samples: list[tuple[float, int]]) -> float:
    rates = sorted(rows / seconds for seconds, rows in samples)
    return rates[len(rates) // 2]


def run(options: argparse.Namespace, record: Recorder) -> None:
    """Store the same decoded session with each method; print rates and ratios."""
    messages = size(options, DEFAULT_MESSAGES, SMOKE_MESSAGES)
    repeat = repeats(options, default=3)
    naive_messages = min(messages, options.naive_messages or (500 if options.smoke else NAIVE_MESSAGES))
    workdir: Path = options.workdir
    record.add("messages", messages, "messages", note=f"{messages * 5:,} readings, {CHUNK_MESSAGES:,} per chunk")

    bulk: list[tuple[float, int]] = []
    raw: list[tuple[float, int]] = []
    file_mb = 0.0
    for attempt in range(repeat):  # alternate the two, so a busy moment hits both alike
        path = workdir / f"bulk-{attempt}.db"
        with new_store(str(path)) as store:
            ids = basic_categories(store)
            bulk.append(bulk_s(store, decoded_chunks(messages, ids)))
        file_mb = sqlite_file_size_mb(path)
        path.unlink()
        raw_path = workdir / f"raw-{attempt}.db"
        with new_store(str(raw_path)) as store:
            ids = basic_categories(store)
        raw.append(raw_executemany_s(raw_path, decoded_chunks(messages, ids)))
        raw_path.unlink()
    bulk_rate, raw_rate = _median_rate(bulk), _median_rate(raw)
    record.add("bulk_readings_per_s", bulk_rate, "readings/s", note=f"add_readings_bulk, median of {repeat}")
    record.add("raw_executemany_readings_per_s", raw_rate, "readings/s", note="machine limit: plain sqlite3")
    record.add("bulk_percent_of_raw", 100 * bulk_rate / raw_rate, "%")

    naive_path = workdir / "naive.db"
    with new_store(str(naive_path)) as store:
        ids = basic_categories(store)
        seconds, rows = naive_orm_s(store, decoded_chunks(naive_messages, ids, chunk_messages=min(CHUNK_MESSAGES, naive_messages)))
    naive_rate = rows / seconds
    record.add("naive_orm_readings_per_s", naive_rate, "readings/s", note=f"one ORM object per reading, {naive_messages:,} messages")
    record.add("bulk_speedup_vs_naive", bulk_rate / naive_rate, "x")
    record.add("sqlite_file_mb", file_mb, "MB", note=f"{messages * 5:,} readings with the query index")

    if options.postgres_url:
        _postgres(options.postgres_url, messages, repeat, record)
    else:
        record.say("PostgreSQL skipped: no --postgres-url / BLITZ_TEST_POSTGRES_URL")


def _postgres(url: str, messages: int, repeat: int, record: Recorder) -> None:
    bulk: list[tuple[float, int]] = []
    raw: list[tuple[float, int]] = []
    for _ in range(repeat):
        with postgres_schema(url) as schema_url:
            with new_store(schema_url) as store:
                ids = basic_categories(store)
                bulk.append(bulk_s(store, decoded_chunks(messages, ids)))
        with postgres_schema(url) as schema_url:
            with new_store(schema_url) as store:
                ids = basic_categories(store)
            raw.append(raw_copy_s(schema_url, decoded_chunks(messages, ids)))
    bulk_rate, raw_rate = _median_rate(bulk), _median_rate(raw)
    record.add("postgres_bulk_readings_per_s", bulk_rate, "readings/s", note=f"add_readings_bulk (binary COPY), median of {repeat}")
    record.add("postgres_raw_copy_readings_per_s", raw_rate, "readings/s", note="machine limit: plain psycopg binary COPY")
    record.add("postgres_bulk_percent_of_raw", 100 * bulk_rate / raw_rate, "%")

