"""Web console benchmark: one variable's overview and the session page's first chart, over HTTP from `blitz ui`.

`blitz ui --no-logger` runs as its own process on the stored session (the
same file as the browse benchmark).  The overview is the JSON series endpoint
for one whole variable; the first chart is what session.html does before it
draws: the page and its assets, the session's overview (`/api/sessions/N`),
then the series of the first two variables at once.  References measured in
the same run, in plain sqlite3 on the same file:

- the obvious envelope query: GROUP BY a computed time bucket (SQLite sorts);
- the machine: one pass over the variable's readings computing min and max.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from benchmarks.common import ROOT, Recorder, python_env, repeats, size, time_call
from benchmarks.storage import SESSION_ID, session_database

FIGURES = (
    "readings",
    "overview_ms",
    "overview_first_ms",
    "first_chart_ms",
    "overview_groupby_ms",
    "overview_scan_ms",
)
DEFAULT_MESSAGES = 1_000_000
SMOKE_MESSAGES = 2_000
VARIABLE = "adc_channel_one"
_URL = re.compile(r"Blitz web console on http://([^:/]+):(\d+)/")


class Console:
    """A `blitz ui --no-logger --no-browser` process on a free port."""

    def __init__(self, db: Path, log_path: Path) -> None:
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "blitz", "ui", "--no-browser", "--no-logger", "--port", "0", "--db", str(db)],
                cwd=ROOT, env=python_env(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            match = _URL.search(log_path.read_text(errors="replace"))
            if match:
                self.host, self.port = match.group(1), int(match.group(2))
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"blitz ui did not start:\n{log_path.read_text(errors='replace')[-3000:]}")

    def get(self, path: str) -> bytes:
        """GET `path` on a new connection; raises on anything but 200."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"GET {path}: {response.status} {body[:300]!r}")
            return body
        finally:
            conn.close()

    def json(self, path: str) -> Any:
        """GET `path` and parse the JSON answer."""
        return json.loads(self.get(path))

    def stop(self) -> None:
        """SIGTERM, then kill if it hangs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def series_path(variable: str, width: int, start: int | None = None, end: int | None = None) -> str:
    """The series endpoint's URL for one variable (whole range when start/end are None)."""
    query: dict[str, Any] = {"variable": variable, "width": width}
    if start is not None and end is not None:
        query.update(start=start, end=end)
    return f"/api/sessions/{SESSION_ID}/series?{urlencode(query)}"


def first_chart(console: Console, width: int) -> dict[str, Any]:
    """What session.html fetches before its first chart is drawn; returns the first series."""
    console.get(f"/sessions/{SESSION_ID}")
    for asset in ("style.css", "common.js", "chart.js", "series.js", "session.js"):
        console.get(f"/static/{asset}")
    overview = console.json(f"/api/sessions/{SESSION_ID}")
    chosen = overview["variables"][:2]
    start, end = overview["first_time_logged"], overview["last_time_logged"]
    with ThreadPoolExecutor(len(chosen)) as pool:
        answers = list(pool.map(lambda name: console.json(series_path(name, width, start, end)), chosen))
    first: dict[str, Any] = answers[0]
    return first


def groupby_envelope(path: Path, category: int, width: int) -> list[Any]:
    """The obvious envelope: GROUP BY a computed bucket over one variable."""
    with sqlite3.connect(path) as conn:
        first, last = conn.execute("SELECT min(time_logged), max(time_logged) FROM reading "
                                   "WHERE session_id = ? AND category_id = ?", (SESSION_ID, category)).fetchone()
        bucket = -(-(last - first + 1) // width)
        return conn.execute(
            "SELECT (time_logged - ?) / ? AS b, min(value), max(value), min(time_logged), max(time_logged), count(*) "
            "FROM reading WHERE session_id = ? AND category_id = ? GROUP BY b ORDER BY b",
            (first, bucket, SESSION_ID, category)).fetchall()


def scan_min_max(path: Path, category: int) -> Any:
    """One pass over the variable's readings: the least an exact envelope must read."""
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT count(*), min(value), max(value) FROM reading WHERE session_id = ? "
                            "AND category_id = ?", (SESSION_ID, category)).fetchone()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The web benchmark's options."""
    parser.add_argument("--width", type=int, default=1200, metavar="PX",
                        help="chart width in pixels the page asks for [1200]")


def run(options: argparse.Namespace, record: Recorder) -> None:
    """Start `blitz ui` on the stored session and time the overview and the first chart."""
    messages = size(options, DEFAULT_MESSAGES, SMOKE_MESSAGES)
    repeat = repeats(options, default=7)
    readings = messages * 5
    path = session_database(messages)
    record.add("readings", readings, "readings", note=f"{readings // 5:,} per variable")
    console = Console(path, options.workdir / "ui.log")
    try:
        seconds, samples, answer = time_call(lambda: console.json(series_path(VARIABLE, options.width)), repeat)
        assert answer["points"] > 0, answer
        record.add("overview_ms", 1000 * seconds, "ms", "< 200",
                   f"GET series of {VARIABLE}, whole session, width {options.width}, {answer['mode']}, "
                   f"{answer['points']} points; median of {repeat}")
        record.add("overview_first_ms", 1000 * samples[0], "ms", note="the first request after the console started")
        seconds, _, _ = time_call(lambda: first_chart(console, options.width), repeat)
        record.add("first_chart_ms", 1000 * seconds, "ms", "< 1000",
                   f"page, assets, /api/sessions/{SESSION_ID}, two series at once; median of {repeat}")
    finally:
        console.stop()
    category = _category(path)
    seconds, _, _ = time_call(lambda: groupby_envelope(path, category, options.width), max(1, min(repeat, 3)))
    record.add("overview_groupby_ms", 1000 * seconds, "ms", note="reference: plain sqlite3 GROUP BY bucket")
    seconds, _, _ = time_call(lambda: scan_min_max(path, category), max(1, min(repeat, 3)))
    record.add("overview_scan_ms", 1000 * seconds, "ms", note="reference: plain sqlite3 count/min/max in one pass")


def _category(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        (category,) = conn.execute("SELECT id FROM category WHERE variable_name = ?", (VARIABLE,)).fetchone()
    return int(category)
