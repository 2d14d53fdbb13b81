"""The offline commands through click (CliRunner) and one as a real process: output, files, errors."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from blitz.cli.main import cli
from blitz.data.database import DatabaseClient
from tests.client.browse_fixtures import DAY_MS, StoredSession, sample_sessions, store_sessions

ROOT = Path(__file__).resolve().parents[2]
BROWSE_COMMANDS = ["readings", "stats", "compare", "export", "import", "plot", "archive"]


@pytest.fixture
def sessions() -> list[StoredSession]:
    return sample_sessions()


@pytest.fixture
def db(tmp_path: Path, sessions: list[StoredSession]) -> str:
    """A SQLite file holding sessions 1 and 2, with session 3 listed but not downloaded."""
    path = tmp_path / "store.db"
    with DatabaseClient(path=str(path)) as client:
        store_sessions(client, sessions, listed_only=(3,))
    return str(path)


def run(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("name", BROWSE_COMMANDS)
def test_every_command_has_help_ending_with_an_example(name: str) -> None:
    code, out, _ = run(name, "--help")
    assert code == 0 and "Example:" in out and "--db" in out


def test_readings_pages_in_every_format(db: str, sessions: list[StoredSession]) -> None:
    code, out, err = run("readings", "1", "--db", db, "--limit", "4")
    assert code == 0 and "more rows: add --offset 4" in err
    lines = out.splitlines()
    assert lines[0].split() == ["TIME_S", "TIME_UTC", "VARIABLE", "VALUE"]
    assert lines[1].split() == ["0.000", "2023-11-14T22:13:20.000Z", "adc", repr(float(sessions[0].series["adc"][1][0]))]
    code, out, _ = run("readings", "1", "--db", db, "--format", "csv", "--variable", "temperature",
                       "--since", "50", "--until", "80", "--limit", "10")
    rows = list(csv.DictReader(io.StringIO(out)))
    times, values = sessions[0].series["temperature"]
    assert [int(r["time_logged"]) for r in rows] == [5_050, 5_060, 5_070]
    assert [float(r["value"]) for r in rows] == values[5:8].tolist()
    code, out, err = run("readings", "1", "--db", db, "--format", "json", "--offset", "1499")
    page = json.loads(out)
    assert (page["offset"], page["has_more"], len(page["readings"])) == (1499, False, 1)
    assert page["readings"][0]["time_s"] == 5.99 and err == ""


def test_stats_json_matches_numpy_and_the_table_names_every_variable(
    db: str, sessions: list[StoredSession]
) -> None:
    code, out, _ = run("stats", "2", "--db", db, "--json")
    assert code == 0
    data = json.loads(out)
    assert data["session"]["ref_id"] == 2 and data["readings"] == 1200
    for variable in data["variables"]:
        values = sessions[1].series[variable["name"]][1]
        assert variable["count"] == len(values)
        assert variable["mean"] == pytest.approx(values.mean(), rel=1e-12)
        assert variable["std"] == pytest.approx(values.std(ddof=1), rel=1e-9)
    code, out, _ = run("stats", "2", "--db", db)
    assert out.startswith("session 2: started 2023-11-17T22:13:20.000Z, 1200 readings of 3 variables")
    assert [line.split()[0] for line in out.splitlines()[2:]] == ["adc", "pressure", "temperature"]


def test_compare_prints_both_sessions_and_the_differences(db: str, sessions: list[StoredSession]) -> None:
    code, out, _ = run("compare", "1", "2", "--db", db, "--json")
    data = json.loads(out)
    adc_a, adc_b = sessions[0].series["adc"][1], sessions[1].series["adc"][1]
    assert data["differences"]["variables"]["adc"]["min"] == adc_b.min() - adc_a.min()
    code, out, _ = run("compare", "1", "2", "--db", db)
    assert code == 0 and "only in A: motor, rpm" in out and "only in B: pressure" in out
    count_row = next(line for line in out.splitlines() if line.startswith("adc"))
    assert count_row.split() == ["adc", "count", "600", "400", "-200"]


def test_export_to_a_file_and_to_stdout(db: str, tmp_path: Path, sessions: list[StoredSession]) -> None:
    target = tmp_path / "one.csv"
    code, out, err = run("export", "1", "--db", db, "-o", str(target))
    assert code == 0 and out == "" and "1500 readings, 600 rows as csv" in err
    rows = list(csv.reader(target.open(encoding="utf-8")))
    assert rows[0] == ["time_s", "time_utc", "adc", "motor, rpm", "temperature"] and len(rows) == 601
    assert [float(r[4]) for r in rows[1:]] == sessions[0].series["temperature"][1].tolist()
    assert not (tmp_path / "one.csv.partial").exists()
    code, out, _ = run("export", "2", "--db", db, "--format", "csv-long")
    assert len(out.splitlines()) == 1201
    code, out, _ = run("export", "2", "--db", db, "--format", "json")
    assert json.loads(out)["readings_count"] == 1200


def test_import_round_trip_refusal_and_replace(db: str, tmp_path: Path) -> None:
    exported = tmp_path / "two.json"
    assert run("export", "2", "--db", db, "--format", "json", "-o", str(exported))[0] == 0
    fresh = str(tmp_path / "fresh.db")
    code, _, err = run("import", str(exported), "--db", fresh)
    assert code == 0 and "imported session 2: 1200 readings of 3 variables" in err
    again = tmp_path / "again.json"
    run("export", "2", "--db", fresh, "--format", "json", "-o", str(again))
    assert again.read_bytes() == exported.read_bytes()
    code, _, err = run("import", str(exported), "--db", fresh)
    assert code == 1 and err == "Error: session 2 already exists in the local database; " \
        "import with --replace to overwrite it, or delete it first\n"
    code, _, err = run("import", str(exported), "--db", fresh, "--replace")
    assert code == 0 and "(replaced the stored copy)" in err


def test_plot_writes_a_png(db: str, tmp_path: Path) -> None:
    target = tmp_path / "adc.png"
    code, out, err = run("plot", "1", "--db", db, "--variable", "adc", "--scale", "2", "--moving-average", "3",
                         "-o", str(target), "--width", "400")
    assert code == 0 and out.strip() == str(target)
    assert "adc: 600 readings, 598 points" in err
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["stats", "9"], "Error: no session 9 in the local database; known sessions: 1, 2, 3"),
        (["readings", "3"], "Error: session 3 has not been downloaded; run `blitz download 3`"),
        (["readings", "1", "--variable", "rpm"],
         "Error: session 1 has no variable 'rpm'; its variables are: adc, motor, rpm, temperature"),
        (["plot", "1", "--moving-average", "1000"], "needs at least that many readings; adc has 600"),
        (["export", "3"], "Error: session 3 has not been downloaded"),
        (["compare", "1", "7"], "Error: no session 7"),
        (["import", "missing.json"], "missing.json: cannot read the file (No such file or directory)"),
    ],
)
def test_user_errors_are_one_line_with_exit_code_1(db: str, args: list[str], message: str) -> None:
    code, out, err = run(*args, "--db", db)
    assert code == 1 and out == ""
    assert len(err.splitlines()) == 1 and message in err


def test_a_missing_database_file_is_an_error_not_a_new_empty_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.db"
    code, _, err = run("stats", "1", "--db", str(missing))
    assert code == 1 and "no local database at" in err and not missing.exists()


def test_archive_asks_first_then_moves_old_sessions(tmp_path: Path, sessions: list[StoredSession]) -> None:
    now = int(time.time() * 1000)
    old, recent = (
        StoredSession(ref, now - age * DAY_MS, now - age * DAY_MS + 6_000, s.series)
        for ref, age, s in ((1, 40, sessions[0]), (2, 5, sessions[1]))
    )
    path = str(tmp_path / "store.db")
    with DatabaseClient(path=path) as client:
        store_sessions(client, [old, recent])
    folder = tmp_path / "archive"
    code, out, err = run("archive", "--older-than", "30", "--to", str(folder), "--db", path, input="n\n")
    assert code == 1 and "session 1, started" in err and "Aborted" in err and not folder.exists()
    code, out, err = run("archive", "--older-than", "30", "--to", str(folder), "--db", path, input="y\n")
    assert code == 0
    (written,) = folder.iterdir()
    assert out.strip() == str(written) and written.name.startswith("session-1-")
    assert run("stats", "1", "--db", path)[0] == 1
    assert run("stats", "2", "--db", path)[0] == 0
    code, _, err = run("archive", "--older-than", "30", "--to", str(folder), "--db", path, "--yes")
    assert code == 0 and "no finished session" in err


def test_stats_runs_as_a_real_process_with_the_db_from_the_environment(
    db: str, sessions: list[StoredSession]
) -> None:
    env = {**os.environ, "BLITZ_DB": db, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "blitz", "stats", "1", "--json"], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    temperature = next(v for v in data["variables"] if v["name"] == "temperature")
    assert temperature["std"] == pytest.approx(np.std(sessions[0].series["temperature"][1], ddof=1), rel=1e-9)
    failed = subprocess.run(
        [sys.executable, "-m", "blitz", "readings", "3"], capture_output=True, text=True, env=env, timeout=60
    )
    assert failed.returncode == 1 and failed.stdout == ""
    assert failed.stderr == "Error: session 3 has not been downloaded; run `blitz download 3`\n"


def test_session_numbers_complete_from_the_local_store(db: str) -> None:
    script = Path(sys.executable).with_name("blitz")  # completion keys on the program name
    if not script.exists():
        pytest.skip("the blitz console script is not installed next to this Python")
    env = dict(os.environ, _BLITZ_COMPLETE="bash_complete", COMP_WORDS="blitz stats ", COMP_CWORD="2", BLITZ_DB=db)
    out = subprocess.run([str(script)], env=env, capture_output=True, text=True, timeout=60).stdout
    assert [line.split(",", 1)[1] for line in out.splitlines()] == ["3", "2", "1"]
