"""Download benchmark: a Blitz Basic session from Redis through a real `blitz server` into SQLite/PostgreSQL.

Redis is filled straight with generated lines (`DatabaseServer.queue_many`),
a `blitz server` subprocess serves it on loopback TCP, and `blitz download`
runs in its own process (so its peak RSS is its own) into a fresh database
with the query indexes in place; every chunk is committed.  Measured in the
same run:

- the machine's limit: plain `sqlite3` `executemany` of the same decoded rows
  into the same schema, one transaction per chunk (rows built untimed), and
  for PostgreSQL psycopg's binary COPY;
- the naive way, on a sample through the same server: each line parsed with a
  bit-string per-line parser, each reading's category looked up with its own
  query, and one ORM object added per reading (committed per chunk).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import time
from pathlib import Path
from typing import Any, Generator, cast

from benchmarks.common import (
    LoggerStack,
    Recorder,
    peak_rss_mb,
    postgres_schema,
    repeats,
    run_worker,
    size,
    sqlite_file_size_mb,
)
from benchmarks.storage import basic_categories, decoded_chunks, new_store, raw_copy_s, raw_executemany_s

FIGURES = (
    "messages",
    "sqlite_readings_per_s",
    "sqlite_seconds",
    "raw_executemany_readings_per_s",
    "percent_of_raw",
    "naive_readings_per_s",
    "speedup_vs_naive",
    "client_peak_rss_mb",
    "server_peak_rss_mb",
    "sqlite_file_mb",
)
POSTGRES_FIGURES = ("postgres_readings_per_s", "postgres_raw_copy_readings_per_s", "postgres_percent_of_raw")
DEFAULT_MESSAGES = 1_000_000
SMOKE_MESSAGES = 3_000
NAIVE_MESSAGES = 20_000
CHUNK_MESSAGES = 5_000
_BASIC_LAYOUT = [(name, 12 * index, 12) for index, name in enumerate(
    ["adc_channel_one", "adc_channel_two", "adc_channel_three", "adc_channel_four", "adc_channel_five"])]


# -- the measured client: `blitz download` in its own process ------------------------


def download_worker(payload: dict[str, Any]) -> dict[str, Any]:
    """Run `blitz download SESSION --json` as a user would; return its wall time, report and peak RSS."""
    from blitz.cli.main import cli

    argv = ["download", str(payload["session"]), "--db", payload["db"], "--host", "127.0.0.1",
            "--port", str(payload["port"]), "--chunk", str(payload["chunk"]), "--json", "--timeout", "60"]
    out = io.StringIO()
    began = time.perf_counter()
    with contextlib.redirect_stdout(out):
        cli.main(argv, standalone_mode=False)
    seconds = time.perf_counter() - began
    (report,) = json.loads(out.getvalue())
    return {"seconds": seconds, "report": report, "peak_rss_mb": peak_rss_mb()}


# -- the naive way ------------------------------------------------------------------


def naive_worker(payload: dict[str, Any]) -> dict[str, Any]:
    """Download `messages` lines and store them the naive way; return seconds and readings."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from blitz.client.blocking import Client
    from blitz.data.database import DatabaseClient
    from blitz.data.models import Category, Reading

    wanted = int(payload["messages"])
    store = DatabaseClient(path=payload["db"])
    store.get_or_create_categories([name for name, _, _ in _BASIC_LAYOUT])
    readings = 0
    began = time.perf_counter()
    with Client("127.0.0.1", int(payload["port"]), timeout=60) as client:
        chunks = cast(Generator[list[str], None, Any],  # iter_download returns a generator
                      client.iter_download(int(payload["session"]), 0, CHUNK_MESSAGES))
        received = 0
        for lines in chunks:
            lines = lines[: wanted - received]
            received += len(lines)
            with Session(store.engine) as session:
                for line in lines:
                    bits = bin(int(line, 16))[2:].zfill(4 * len(line))
                    timestamp = int(bits[16:48], 2)
                    for name, offset, width in _BASIC_LAYOUT:
                        value = int(bits[48 + offset: 48 + offset + width], 2)
                        category = session.execute(
                            select(Category.id).where(Category.variable_name == name)).scalar_one()
                        session.add(Reading(session_id=int(payload["session"]), time_logged=timestamp,
                                            category_id=category, value=float(value)))
                        readings += 1
                session.commit()
            if received >= wanted:
                chunks.close()
                break
    seconds = time.perf_counter() - began
    store.close()
    return {"seconds": seconds, "readings": readings}


# -- the benchmark ------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The download benchmark's options."""
    parser.add_argument("--naive-messages", type=int, default=None, metavar="N",
                        help=f"messages downloaded the naive way [{NAIVE_MESSAGES:,}; smoke 500]")
    parser.add_argument("--chunk", type=int, default=CHUNK_MESSAGES, metavar="N",
                        help=f"messages per chunk and transaction [{CHUNK_MESSAGES:,}]")


def run(options: argparse.Namespace, record: Recorder) -> None:
    """Fill Redis, start the server, download with each method; print rates, ratios and memory."""
    messages = size(options, DEFAULT_MESSAGES, SMOKE_MESSAGES)
    repeat = repeats(options, default=3)
    naive_messages = min(messages, options.naive_messages or (500 if options.smoke else NAIVE_MESSAGES))
    workdir: Path = options.workdir
    readings = messages * 5
    record.add("messages", messages, "messages", note=f"{readings:,} readings")
    with LoggerStack(workdir, messages) as stack:
        record.say(f"Redis filled with {messages:,} lines in {stack.fill_s:.1f} s; server on port {stack.port}")
        results = []
        for attempt in range(repeat):
            db = workdir / f"download-{attempt}.db"
            result = run_worker("benchmarks.download:download_worker",
                                {"session": stack.session_id, "db": str(db), "port": stack.port,
                                 "chunk": options.chunk}, workdir / "result.json")
            if result["report"]["readings"] != readings:
                raise RuntimeError(f"expected {readings} readings stored, got {result['report']}")
            results.append(result)
            size_mb = sqlite_file_size_mb(db)
            record.say(f"download {attempt + 1}/{repeat}: {result['seconds']:.2f} s, "
                       f"{readings / result['seconds']:,.0f} readings/s, client peak {result['peak_rss_mb']:.0f} MB")
            db.unlink()
        seconds = statistics.median(r["seconds"] for r in results)
        rate = readings / seconds
        raw_rate = _raw_sqlite_rate(workdir, messages, options.chunk)
        record.add("sqlite_readings_per_s", rate, "readings/s", ">= 400,000",
                   f"blitz download end to end, median of {repeat}")
        record.add("sqlite_seconds", seconds, "s", f"<= {readings / 400_000:g}")
        record.add("raw_executemany_readings_per_s", raw_rate, "readings/s",
                   note="machine limit: plain sqlite3 executemany, same rows and schema")
        record.add("percent_of_raw", 100 * rate / raw_rate, "%", ">= 70")

        naive_db = workdir / "naive.db"
        naive = run_worker("benchmarks.download:naive_worker",
                           {"session": stack.session_id, "db": str(naive_db), "port": stack.port,
                            "messages": naive_messages}, workdir / "naive.json")
        naive_rate = naive["readings"] / naive["seconds"]
        record.add("naive_readings_per_s", naive_rate, "readings/s",
                   note=f"bit-string parser, a query per category, ORM rows; {naive_messages:,} messages")
        record.add("speedup_vs_naive", rate / naive_rate, "x")

        if options.postgres_url:
            _postgres(options.postgres_url, stack, messages, repeat, options.chunk, workdir, record)
        else:
            record.say("PostgreSQL skipped: no --postgres-url / BLITZ_TEST_POSTGRES_URL")
        record.add("client_peak_rss_mb", max(r["peak_rss_mb"] for r in results), "MB", "< 300",
                   "blitz download process, SQLite")
        record.add("server_peak_rss_mb", peak_rss_mb(stack.server_pid), "MB", "< 150",
                   "blitz server process over every download of this run")
        record.add("sqlite_file_mb", size_mb, "MB", note="database file with its WAL after the download")


def _raw_sqlite_rate(workdir: Path, messages: int, chunk: int) -> float:
    """Plain executemany of the same decoded rows into a fresh file with the same schema."""
    path = workdir / "raw.db"
    with new_store(str(path)) as store:
        ids = basic_categories(store)
    seconds, rows = raw_executemany_s(path, decoded_chunks(messages, ids, chunk))
    path.unlink()
    return rows / seconds


def _postgres(url: str, stack: LoggerStack, messages: int, repeat: int, chunk: int, workdir: Path,
              record: Recorder) -> None:
    readings = messages * 5
    seconds_list = []
    peaks = []
    for _ in range(repeat):
        with postgres_schema(url) as schema_url:
            result = run_worker("benchmarks.download:download_worker",
                                {"session": stack.session_id, "db": schema_url, "port": stack.port,
                                 "chunk": chunk}, workdir / "result.json")
        if result["report"]["readings"] != readings:
            raise RuntimeError(f"expected {readings} readings stored in PostgreSQL, got {result['report']}")
        seconds_list.append(result["seconds"])
        peaks.append(result["peak_rss_mb"])
    rate = readings / statistics.median(seconds_list)
    with postgres_schema(url) as schema_url:
        with new_store(schema_url) as store:
            ids = basic_categories(store)
        seconds, rows = raw_copy_s(schema_url, decoded_chunks(messages, ids, chunk))
    raw_rate = rows / seconds
    record.add("postgres_readings_per_s", rate, "readings/s",
               note=f"blitz download end to end into PostgreSQL, median of {repeat}; client peak {max(peaks):.0f} MB")
    record.add("postgres_raw_copy_readings_per_s", raw_rate, "readings/s",
               note="machine limit: plain psycopg binary COPY, same rows and schema")
    record.add("postgres_percent_of_raw", 100 * rate / raw_rate, "%")
