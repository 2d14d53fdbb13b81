"""DatabaseClient's generic access, config, notifications and fixtures on every backend."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from blitz.data.client_database import DatabaseClient
from blitz.data.models import Cache, Category, Config, Notification, Reading, Session
from blitz.data.sql_schema import SCHEMA_VERSION, SCHEMA_VERSION_KEY
from blitz.errors import StorageError


def test_add_returns_detached_row_with_id(database_client: DatabaseClient) -> None:
    category = database_client.add(Category(variable_name="adc_channel_one"))
    assert isinstance(category.id, int)
    # Usable after the call's session closed: no lazy load, no DetachedInstanceError.
    assert category.to_dict() == {"id": category.id, "variable_name": "adc_channel_one"}


def test_add_many_fills_ids(database_client: DatabaseClient) -> None:
    rows = database_client.add_many(
        [Category(variable_name=name) for name in ("raw_adc", "motor_value", "set_point")]
    )
    assert len({row.id for row in rows}) == 3
    assert [c.variable_name for c in database_client.all(Category)] == ["raw_adc", "motor_value", "set_point"]


def test_add_rejects_non_model(database_client: DatabaseClient) -> None:
    with pytest.raises(ValueError, match="model: expected one of"):
        database_client.add({"variable_name": "x"})  # type: ignore[type-var]


def test_find_get_and_get_by_id(database_client: DatabaseClient) -> None:
    first = database_client.add_reading(1, 1_000, 7, 1.5)
    database_client.add_reading(1, 2_000, 8, 2.5)
    database_client.add_reading(2, 1_000, 7, 3.5)
    found = database_client.find(Reading, {"session_id": 1, "category_id": 7})
    assert [r.value for r in found] == [1.5]
    assert [r.value for r in database_client.find(Reading, {"category_id": 7})] == [1.5, 3.5]
    assert database_client.find(Reading, {"session_id": 99}) == []
    got = database_client.get(Reading, {"category_id": 7})
    assert got is not None and got.id == first.id
    assert database_client.get(Reading, {"session_id": 99}) is None
    by_id = database_client.get_by_id(Reading, first.id)
    assert by_id is not None and by_id.to_dict() == first.to_dict()
    assert database_client.get_by_id(Reading, first.id + 1000) is None


def test_find_with_unknown_key_names_it(database_client: DatabaseClient) -> None:
    with pytest.raises(ValueError, match=r"'sessionId' is not a column of Reading"):
        database_client.find(Reading, {"sessionId": 1})
    with pytest.raises(ValueError, match="'nope'"):
        database_client.get(Session, {"nope": 1})


def test_add_reading_and_cache_validate_arguments(database_client: DatabaseClient) -> None:
    with pytest.raises(ValueError, match="time_logged: expected an integer, got '12'"):
        database_client.add_reading(1, "12", 1, 1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="value: expected a finite number"):
        database_client.add_cache(1, 1, float("nan"))
    cache = database_client.add_cache(5, 2, 4.0)
    assert cache.to_dict() == {"id": cache.id, "time_logged": 5, "category_id": 2, "value": 4.0}


def test_config_is_one_row_per_key(database_client: DatabaseClient) -> None:
    assert database_client.get_config("logger_port") is None
    assert database_client.set_config("logger_port", 8999).value == "8999"
    assert database_client.set_config("logger_port", "9000").value == "9000"
    kept = database_client.set_config("logger_port", "1", do_update=False)
    assert kept.value == "9000"
    assert len(database_client.find(Config, {"key": "logger_port"})) == 1
    config = database_client.get_config("logger_port")
    assert config is not None and config.to_dict() == {"id": config.id, "key": "logger_port", "value": "9000"}
    with pytest.raises(ValueError, match="key: expected a non-empty string"):
        database_client.set_config("", "x")


def test_schema_version_row_is_written(database_client: DatabaseClient) -> None:
    row = database_client.get_config(SCHEMA_VERSION_KEY)
    assert row is not None and row.value == str(SCHEMA_VERSION)


def test_notifications_log_handle_and_clear() -> None:
    with DatabaseClient(clock=lambda: 1_717_243_200.5) as db:
        first = db.log_error("board 0x0c is unknown")
        second = db.log_error("download stopped", severity=2)
        assert isinstance(first, Notification)
        assert first.to_dict() == {
            "id": first.id, "time_logged": 1_717_243_200_500, "severity": 1,
            "description": "board 0x0c is unknown",
        }
        assert db.handle_error(first.id) is True
        assert db.handle_error(first.id) is False
        assert [n.id for n in db.all(Notification)] == [second.id]
        db.log_error("another")
        assert db.clear_errors() == 2
        assert db.all(Notification) == []
        with pytest.raises(ValueError, match="description: expected a non-empty string"):
            db.log_error("  ")


def test_notifications_on_every_backend(database_client: DatabaseClient) -> None:
    note = database_client.log_error("lost board", severity=3)
    other = database_client.log_error("slow download")
    stored = database_client.get_by_id(Notification, note.id)
    assert stored is not None and stored.to_dict() == note.to_dict()
    assert database_client.handle_error(note.id) is True
    assert [n.id for n in database_client.all(Notification)] == [other.id]
    assert database_client.clear_errors() == 1


def test_load_fixtures_config_only(database_client: DatabaseClient) -> None:
    database_client.load_fixtures()
    config = json.loads(resources.files("blitz.fixtures").joinpath("config.json").read_text("utf-8"))
    for key, value in config.items():
        row = database_client.get_config(key)
        assert row is not None and row.value == str(value)
    assert database_client.all(Session) == []
    assert database_client.all(Reading) == []


def test_load_fixtures_never_overwrites_user_config(database_client: DatabaseClient) -> None:
    database_client.set_config("logger_port", "7000")
    database_client.load_fixtures()
    config = database_client.get_config("logger_port")
    assert config is not None and config.value == "7000"


def test_load_fixtures_testing_twice_does_not_duplicate(database_client: DatabaseClient) -> None:
    database_client.load_fixtures(testing=True)
    counts = {model: len(database_client.all(model))
              for model in (Config, Category, Session, Reading, Cache, Notification)}
    fixture_readings = resources.files("blitz.fixtures").joinpath("readings.json").read_text("utf-8")
    assert counts[Reading] == len(json.loads(fixture_readings))
    assert all(counts.values())
    database_client.load_fixtures(testing=True)
    assert {model: len(database_client.all(model)) for model in counts} == counts
    # Availability is computed from the stored-message counts, not taken from the file.
    sessions = {s.ref_id: s for s in database_client.all(Session)}
    assert sessions[1].available is True
    assert sessions[2].available is False and sessions[2].downloaded_messages == 3
    assert sessions[3].available is False and sessions[3].time_stopped is None
    names = {c.variable_name for c in database_client.get_session_variables(2)}
    assert names == {"raw_adc", "motor_value", "set_point"}


def test_load_fixtures_from_another_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with DatabaseClient() as db:
        db.load_fixtures(testing=True)
        assert db.get_config("logger_host") is not None
        assert len(db.all(Category)) >= 8


@pytest.mark.integration
def test_load_fixtures_in_a_fresh_interpreter_elsewhere(tmp_path: Path) -> None:
    script = (
        "from blitz.data.database import DatabaseClient\n"
        "db = DatabaseClient(path='elsewhere.db')\n"
        "db.load_fixtures(testing=True)\n"
        "print(db.get_config('logger_port').value, len(db.get_session_readings(1)))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["8999", "20"]
    assert (tmp_path / "elsewhere.db").exists()


def test_closed_client_refuses_work() -> None:
    db = DatabaseClient()
    db.close()
    db.close()  # idempotent
    with pytest.raises(StorageError, match="closed"):
        db.all(Category)


def test_create_tables_force_drop_empties_the_store(database_client: DatabaseClient) -> None:
    database_client.add(Category(variable_name="adc_channel_one"))
    database_client.create_tables()
    assert len(database_client.all(Category)) == 1
    database_client.create_tables(force_drop=True)
    assert database_client.all(Category) == []
    row = database_client.get_config(SCHEMA_VERSION_KEY)
    assert row is not None and row.value == str(SCHEMA_VERSION)


def test_constraint_violations_become_storage_errors(database_client: DatabaseClient) -> None:
    database_client.add(Category(variable_name="raw_adc"))
    with pytest.raises(StorageError, match="rejected the data"):
        database_client.add(Category(variable_name="raw_adc"))
    database_client.update_session_list([[1, 0, 1, 1]])
    with pytest.raises(StorageError, match="rejected the data"):
        database_client.add_many([Session(ref_id=2), Session(ref_id=1)])
    # The failed transaction left nothing behind.
    assert [s.ref_id for s in database_client.all(Session)] == [1]
    assert len(database_client.all(Category)) == 1


def test_unreachable_server_is_a_storage_error() -> None:
    hidden = r"opening the database on postgresql\+psycopg://root:\*\*\*@127.0.0.1:1/x"
    with pytest.raises(StorageError, match=hidden):
        DatabaseClient(url="postgresql+psycopg://root:secret@127.0.0.1:1/x")
