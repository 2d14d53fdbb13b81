"""`blitz demo` end to end as a real subprocess: everything it promises is left behind."""

import csv
import os
import sqlite3
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def test_demo_runs_and_leaves_its_database_csv_and_png(tmp_path):
    workdir = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "blitz", "demo", "--seconds", "2", "--dir", str(workdir)],
        capture_output=True, text=True, timeout=100, cwd=tmp_path, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Done. Session 1:" in result.stdout
    png = workdir / "session-1.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000

    with sqlite3.connect(workdir / "blitz.db") as db:
        (messages, available, downloaded) = db.execute(
            "select number_of_readings, available, downloaded_messages from session where ref_id = 1"
        ).fetchone()
        (readings,) = db.execute("select count(*) from reading where session_id = 1").fetchone()
        per_variable = dict(db.execute(
            "select variable_name, count(*) from reading join category on category.id = reading.category_id "
            "where session_id = 1 group by variable_name"))
        set_points = {row[0] for row in db.execute(
            "select distinct value from reading join category on category.id = reading.category_id "
            "where variable_name = 'set_point'")}
    assert available == 1 and downloaded == messages > 0
    basic, motor = per_variable["adc_channel_one"], per_variable["set_point"]
    assert basic + motor == messages  # every message decoded, nothing doubled
    assert readings == basic * 5 + motor * 3  # 5 variables on the basic board, 3 on the motor board
    assert 30.0 in set_points  # the BOARD command sent mid-session reached the motor board
    assert f"{messages} messages, {readings} readings" in result.stdout

    with open(workdir / "session-1.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert "adc_channel_one" in rows[0] and "set_point" in rows[0]
