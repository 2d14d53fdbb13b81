"""`blitz download` killed at random points, browsed while it writes, and run twice at once.

tests/client/test_integration.py already kills one download at one point
(SIGINT, then SIGKILL) on SQLite.  Here the kills land at random moments of
several runs, on SQLite and PostgreSQL, and after every kill the store must be
whole: each chunk's readings and its message count committed together, never
a half chunk, never a duplicate.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from blitz.data.client_database import DatabaseClient
from blitz.data.sql_errors import ConcurrentDownload
from tests.reliability.conftest import BIG_MESSAGES, VARIABLES, Logger, Peek
from tests.reliability.harness import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

CHUNK = 500


def check_whole(peek: Peek, session: int) -> int:
    """The store after a kill: readings match the stored count, chunk by chunk, no duplicates."""
    stored = peek.stored(session)
    assert stored % CHUNK == 0 or stored == BIG_MESSAGES, f"half a chunk stored: {stored}"
    assert peek.readings(session) == stored * VARIABLES
    distinct = peek.one("SELECT count(*) FROM (SELECT DISTINCT time_logged, category_id FROM reading "
                        "WHERE session_id = ?) AS d", session)
    assert distinct == stored * VARIABLES, "a reading was stored twice"
    if "://" not in peek.store:
        assert peek.one("PRAGMA integrity_check") == "ok"
    return stored


def check_complete(peek: Peek, logger: Logger) -> None:
    rows = peek.query(
        "SELECT c.variable_name, count(*), sum(r.value), count(DISTINCT r.time_logged), min(r.time_logged), "
        "max(r.time_logged) FROM reading r JOIN category c ON c.id = r.category_id WHERE r.session_id = ? "
        "GROUP BY c.variable_name", logger.session)
    assert {name: (count, total, distinct) for name, count, total, distinct, _, _ in rows} == {
        name: (BIG_MESSAGES, total, BIG_MESSAGES) for name, total in logger.sums.items()}
    assert peek.stored(logger.session) == BIG_MESSAGES
    assert peek.one("SELECT available FROM session WHERE ref_id = ?", logger.session) in (1, True)


def test_downloads_killed_at_random_points_resume_to_a_complete_store(logger: Logger, store_url: str) -> None:
    chance = random.Random(7)
    peek = Peek(store_url)
    kills: list[int] = []
    try:
        for _ in range(5):
            before = kills[-1] if kills else 0
            process = logger.spawn("download", str(logger.session), "--chunk", str(CHUNK), db=store_url)
            try:
                wait_for(lambda: process.poll() is not None
                         or (peek.tables_exist() and peek.stored(logger.session) > before),
                         "the run's first chunk to be stored", 30, 0.002)
                time.sleep(chance.uniform(0.0, 0.25))
                process.kill()
                process.wait(10)
            finally:
                if process.poll() is None:
                    process.kill()
            kills.append(check_whole(peek, logger.session))
            if kills[-1] == BIG_MESSAGES:
                break
        result = logger.run("download", str(logger.session), "--json", db=store_url)
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)[0]
        assert report["offset"] == kills[-1] and report["available"] is True
        check_complete(peek, logger)
    finally:
        peek.close()
    assert sum(0 < stored < BIG_MESSAGES for stored in kills) >= 3, f"too few kills mid-download: {kills}"
    print(f"\nkilled downloads at {kills} of {BIG_MESSAGES} messages; the last run completed the rest")


# Browses the store in a loop, in its own process, until told to stop: `blitz stats` and
# `blitz readings` through the CLI's own code; prints how each call went as JSON.
BROWSER = r"""
import contextlib, io, json, os, sys, time
from blitz.cli.main import cli
session, stop_file = sys.argv[1], sys.argv[2]
outcome = {"ok": 0, "errors": [], "uneven": []}
while not os.path.exists(stop_file):
    for args in (["stats", session, "--json"], ["readings", session, "--limit", "5", "--format", "json"]):
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                cli.main(args, prog_name="blitz", standalone_mode=False)
        except Exception as exc:
            outcome["errors"].append(f"{args[0]}: {type(exc).__name__}: {exc}")
            continue
        outcome["ok"] += 1
        if args[0] == "stats":
            counts = {v["count"] for v in json.loads(out.getvalue())["variables"]}
            if len(counts) > 1:  # a reader saw part of a chunk
                outcome["uneven"].append(sorted(counts))
print(json.dumps(outcome))
"""


def test_browsing_while_a_download_writes_never_finds_the_store_locked(logger: Logger, store_url: str,
                                                                       tmp_path: Path) -> None:
    peek = Peek(store_url)
    try:
        first = logger.run("download", str(logger.session), "--chunk", "5000", db=store_url)
        assert first.returncode == 0, first.stderr
        # A second copy of the session to browse while the first is downloaded again.
        assert logger.run("delete", str(logger.session), "--local", "--yes", db=store_url).returncode == 0
        stop_file = tmp_path / "stop"
        browser = subprocess.Popen([sys.executable, "-c", BROWSER, str(logger.session), str(stop_file)],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   env=logger.env(store_url))
        time.sleep(1.0)  # the browser is up and looping
        started = time.monotonic()
        download = logger.run("download", str(logger.session), "--chunk", "500", db=store_url)
        busy_s = time.monotonic() - started
        stop_file.touch()
        out, err = browser.communicate(timeout=30)
        assert download.returncode == 0, download.stderr
        check_complete(peek, logger)
    finally:
        peek.close()
    assert browser.returncode == 0, err
    outcome = json.loads(out)
    # Before the first chunk the session has no readings: "not downloaded" is a fair answer, a lock is not.
    assert [e for e in outcome["errors"] if "has not been downloaded" not in e] == []
    assert outcome["uneven"] == [] and outcome["ok"] >= 10, outcome
    print(f"\nbrowsed {outcome['ok']} times during a {busy_s:.1f} s download; "
          f"{len(outcome['errors'])} 'not downloaded yet' answers, no lock")


def test_two_downloads_of_one_session_at_once_store_it_once(logger: Logger, store_url: str) -> None:
    peek = Peek(store_url)
    try:
        assert logger.run("sessions", db=store_url).returncode == 0  # the store exists before the race
        processes = [logger.spawn("download", str(logger.session), "--chunk", "200", db=store_url)
                     for _ in range(2)]
        results = [(p.wait(60), *p.communicate()) for p in processes]
        check_whole(peek, logger.session)
        check_complete(peek, logger)
    finally:
        peek.close()
    for code, _, err in results:
        assert code == 0 or "another download" in err, err
    print(f"\ntwo downloads at once: exit codes {[code for code, _, _ in results]}; "
          f"{[err.strip().splitlines()[-1] for code, _, err in results if code]}")


def test_a_chunk_claimed_with_a_stale_count_is_refused_and_not_stored(store_url: str) -> None:
    def open_store() -> DatabaseClient:
        return DatabaseClient(url=store_url) if "://" in store_url else DatabaseClient(path=store_url)

    with open_store() as first, open_store() as second:
        first.create_tables()
        first.update_session_list([[4, 1000, 2000, 6]])
        columns = ([1, 2, 3], [1, 1, 1], [0.5, 1.5, 2.5])
        assert first.add_readings_bulk(4, *columns, messages=3, stored_before=0) == 3
        with pytest.raises(ConcurrentDownload, match="another download is storing it .3 messages stored"):
            second.add_readings_bulk(4, *columns, messages=3, stored_before=0)
        assert (second.stored_messages(4), len(second.get_session_readings(4))) == (3, 3)
        assert second.add_readings_bulk(4, [4, 5, 6], [1, 1, 1], [0.0] * 3, messages=3, stored_before=3) == 3
        assert second.update_session_availability(4) is True
