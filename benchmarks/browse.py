"""Browse benchmark: `blitz stats`, the first page of `blitz readings` and `blitz export` on a stored session.

The session (Blitz Basic, 5 readings per message) is stored once with
`add_readings_bulk` into a SQLite file.  Each figure is timed in-process on
the calls the command makes (opening the store included, the interpreter's
start and imports not), and the commands themselves are also run as
processes to show what a user waits for.  References measured in the same run:

- stats: one plain `sqlite3` GROUP BY over the session (the obvious query);
- first page: one plain query ordering the whole session by time (LIMIT 100);
- export: plain `sqlite3` rows through `csv.writer`, one line per reading (the
  naive way), and fetching the same rows without writing them (the machine).
"""

from __future__ import annotations

import argparse
import csv
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, Recorder, python_env, repeats, size, time_call
from benchmarks.storage import SESSION_ID, session_database

FIGURES = (
    "readings",
    "stats_ms",
    "stats_command_s",
    "stats_raw_groupby_ms",
    "readings_first_page_ms",
    "readings_command_s",
    "readings_naive_page_ms",
    "export_csv_readings_per_s",
    "export_command_s",
    "export_naive_readings_per_s",
    "export_fetch_only_readings_per_s",
)
DEFAULT_MESSAGES = 1_000_000
SMOKE_MESSAGES = 2_000
NAIVE_EXPORT_READINGS = 1_000_000


def _store(path: Path) -> Any:
    from blitz.data.database import DatabaseClient

    return DatabaseClient(path=str(path))


def stats_once(path: Path) -> Any:
    """What `blitz stats` does after its imports: open the store, load the session, aggregate."""
    from blitz.data.browse import load_session, session_stats

    with _store(path) as store, store.engine.connect() as conn:
        return session_stats(conn, load_session(conn, SESSION_ID))


def first_page_once(path: Path) -> Any:
    """What `blitz readings` does after its imports: open, load the session, read 100 rows."""
    from blitz.data.browse import load_session, read_page

    with _store(path) as store, store.engine.connect() as conn:
        return read_page(conn, load_session(conn, SESSION_ID), limit=100)


def export_once(path: Path, out_path: Path) -> Any:
    """What `blitz export -o FILE` does after its imports: wide CSV into a file."""
    from blitz.data.browse import load_session
    from blitz.data.export import snapshot, write_csv_wide

    with _store(path) as store, snapshot(store.engine) as conn:
        with open(out_path, "w", encoding="utf-8", newline="") as out:
            return write_csv_wide(conn, load_session(conn, SESSION_ID), out)


def command_s(*args: str) -> float:
    """Wall seconds of `blitz ARGS` as a new process (interpreter start and imports included)."""
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "blitz", *args], cwd=ROOT, env=python_env(), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - began


def raw_groupby_once(path: Path) -> list[Any]:
    """The obvious statistics query in plain sqlite3."""
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "SELECT category_id, count(*), min(value), max(value), avg(value) FROM reading "
            "WHERE session_id = ? GROUP BY category_id", (SESSION_ID,)).fetchall()


def naive_page_once(path: Path) -> list[Any]:
    """The obvious first page: the whole session ordered by time, LIMIT 100."""
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "SELECT time_logged, category_id, value FROM reading WHERE session_id = ? "
            "ORDER BY time_logged, category_id LIMIT 100", (SESSION_ID,)).fetchall()


def naive_export_once(path: Path, out_path: Path, limit: int) -> int:
    """Plain rows through csv.writer, one line per reading, in stored order; returns readings written."""
    with sqlite3.connect(path) as conn, open(out_path, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["time_logged", "category_id", "value"])
        cursor = conn.execute("SELECT time_logged, category_id, value FROM reading WHERE session_id = ? LIMIT ?",
                              (SESSION_ID, limit))
        count = 0
        for row in cursor:
            writer.writerow(row)
            count += 1
    return count


def fetch_only_once(path: Path) -> int:
    """Every reading's time and value, per variable in time order, fetched and dropped (no formatting)."""
    with sqlite3.connect(path) as conn:
        categories = [row[0] for row in conn.execute(
            "SELECT DISTINCT category_id FROM reading WHERE session_id = ?", (SESSION_ID,))]
        count = 0
        for category in categories:
            cursor = conn.execute("SELECT time_logged, value FROM reading WHERE session_id = ? AND category_id = ? "
                                  "ORDER BY time_logged", (SESSION_ID, category))
            while True:
                rows = cursor.fetchmany(50_000)
                if not rows:
                    break
                count += len(rows)
    return count


def run(options: argparse.Namespace, record: Recorder) -> None:
    """Build (or reuse) the session file, then time stats, a page and an export with their references."""
    messages = size(options, DEFAULT_MESSAGES, SMOKE_MESSAGES)
    repeat = repeats(options, default=5)
    readings = messages * 5
    began = time.perf_counter()
    path = session_database(messages)
    record.say(f"session of {readings:,} readings ready in {time.perf_counter() - began:.1f} s: {path}")
    record.add("readings", readings, "readings", note="one Blitz Basic session in SQLite")
    db = str(path)

    seconds, _, stats = time_call(lambda: stats_once(path), repeat)
    assert stats.readings == readings, stats.readings
    record.add("stats_ms", 1000 * seconds, "ms", "< 1000", f"open + load_session + session_stats, median of {repeat}")
    record.add("stats_command_s", time_call(lambda: command_s("stats", str(SESSION_ID), "--db", db), repeat)[0], "s",
               note="`blitz stats` as a new process, imports included")
    seconds, _, _ = time_call(lambda: raw_groupby_once(path), repeat)
    record.add("stats_raw_groupby_ms", 1000 * seconds, "ms", note="reference: plain sqlite3 GROUP BY (no std)")

    seconds, _, page = time_call(lambda: first_page_once(path), repeat)
    assert len(page.rows) == min(100, readings)
    record.add("readings_first_page_ms", 1000 * seconds, "ms", "< 50", f"open + load_session + read_page, median of {repeat}")
    record.add("readings_command_s",
               time_call(lambda: command_s("readings", str(SESSION_ID), "--db", db, "--limit", "100"), repeat)[0], "s",
               note="`blitz readings` as a new process, imports included")
    seconds, _, _ = time_call(lambda: naive_page_once(path), repeat)
    record.add("readings_naive_page_ms", 1000 * seconds, "ms", note="reference: one query sorting the whole session")

    out = options.workdir / "export.csv"
    export_repeat = max(1, min(repeat, 3))
    seconds, _, summary = time_call(lambda: export_once(path, out), export_repeat)
    assert summary.readings == readings
    record.add("export_csv_readings_per_s", readings / seconds, "readings/s", ">= 1,000,000",
               f"wide CSV into a file, median of {export_repeat}; {out.stat().st_size / 1e6:.0f} MB")
    record.add("export_command_s", time_call(lambda: command_s("export", str(SESSION_ID), "--db", db, "-o", str(out)),
                                           export_repeat)[0], "s", note="`blitz export -o` as a new process")
    limit = min(readings, NAIVE_EXPORT_READINGS)
    seconds, _, written = time_call(lambda: naive_export_once(path, out, limit), 1)
    record.add("export_naive_readings_per_s", written / seconds, "readings/s",
               note=f"reference: sqlite3 rows through csv.writer, {written:,} readings")
    seconds, _, fetched = time_call(lambda: fetch_only_once(path), export_repeat)
    record.add("export_fetch_only_readings_per_s", fetched / seconds, "readings/s",
               note="reference: plain sqlite3 fetch of the same rows, nothing written")
    out.unlink()

