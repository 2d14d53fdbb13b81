"""Engines behind DatabaseClient (WAL files, shared :memory:, URLs) and schema migration."""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, inspect, text

from blitz.data.client_database import DatabaseClient
from blitz.data.models import Category, Session
from blitz.data.sql_engine import SQLITE_BUSY_TIMEOUT_MS, create_client_engine
from blitz.data.sql_schema import SCHEMA_VERSION, SCHEMA_VERSION_KEY, ensure_schema
from blitz.errors import ConfigError, StorageError


def pragma(engine: Engine, name: str) -> object:
    with engine.connect() as conn:
        return conn.exec_driver_sql(f"PRAGMA {name}").scalar()


@pytest.mark.integration
def test_sqlite_file_uses_wal_busy_timeout_and_normal_sync(sqlite_file_path: Path) -> None:
    with DatabaseClient(path=sqlite_file_path) as db:
        assert pragma(db.engine, "journal_mode") == "wal"
        assert pragma(db.engine, "busy_timeout") == SQLITE_BUSY_TIMEOUT_MS
        assert pragma(db.engine, "synchronous") == 1  # NORMAL
        db.add(Category(variable_name="adc_channel_one"))
        assert sqlite_file_path.with_name(sqlite_file_path.name + "-wal").exists()
    # WAL is persistent: a plain sqlite3 connection sees it in the file header too.
    raw = sqlite3.connect(sqlite_file_path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("SELECT variable_name FROM category").fetchall() == [("adc_channel_one",)]
    finally:
        raw.close()


@pytest.mark.integration
def test_file_path_creates_parent_directories(tmp_path: Path) -> None:
    target = tmp_path / "nested" / "deeper" / "blitz.db"
    with DatabaseClient(path=str(target)) as db:
        db.set_config("logger_host", "127.0.0.1")
    with DatabaseClient(path=target) as db:
        config = db.get_config("logger_host")
        assert config is not None and config.value == "127.0.0.1"


def test_memory_database_is_one_database_across_threads() -> None:
    with DatabaseClient() as db:
        db.add(Category(variable_name="from_main"))
        seen: list[list[str]] = []

        def read_and_write() -> None:
            db.add(Category(variable_name="from_thread"))
            seen.append([c.variable_name for c in db.all(Category)])

        worker = threading.Thread(target=read_and_write)
        worker.start()
        worker.join(timeout=10)
        assert seen == [["from_main", "from_thread"]]
        assert [c.variable_name for c in db.all(Category)] == ["from_main", "from_thread"]


def test_two_memory_clients_are_separate() -> None:
    with DatabaseClient() as first, DatabaseClient(path=":memory:") as second:
        first.add(Category(variable_name="only_here"))
        assert second.all(Category) == []


@pytest.mark.integration
def test_url_wins_over_path(tmp_path: Path) -> None:
    ignored, used = tmp_path / "ignored.db", tmp_path / "used.db"
    with DatabaseClient(path=str(ignored), url=f"sqlite:///{used}") as db:
        db.add(Category(variable_name="x"))
        assert pragma(db.engine, "journal_mode") == "wal"
    assert used.exists() and not ignored.exists()


def test_sqlite_memory_url_stays_one_database() -> None:
    with DatabaseClient(url="sqlite://") as db:
        db.add(Category(variable_name="kept"))
        assert [c.variable_name for c in db.all(Category)] == ["kept"]


def test_bad_path_and_url_raise_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="expected a file, got the directory"):
        DatabaseClient(path=str(tmp_path))
    with pytest.raises(ConfigError, match="database url: expected a SQLAlchemy URL"):
        DatabaseClient(url="not a url at all")
    with pytest.raises(ConfigError, match="expected a file path or ':memory:', got ''"):
        create_client_engine(path="")


def test_verbose_echoes_sql(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="sqlalchemy.engine"):
        with DatabaseClient(verbose=True) as db:
            db.get_or_create_category("raw_adc")
    assert db.engine.echo is True
    assert any("INSERT INTO category" in record.getMessage() for record in caplog.records)


def test_quiet_client_does_not_echo() -> None:
    with DatabaseClient() as db:
        assert not db.engine.echo


def test_context_manager_disposes_only_its_own_engine() -> None:
    shared = create_client_engine()
    with DatabaseClient(engine=shared) as db:
        db.add(Category(variable_name="survives"))
    # The injected engine (and its single in-memory connection) is still usable.
    with DatabaseClient(engine=shared) as again:
        assert [c.variable_name for c in again.all(Category)] == ["survives"]
    shared.dispose()


def make_version_zero_database(engine: Engine) -> None:
    """The shape of a store made before versioning: no downloaded_messages, no version row."""
    key = "SERIAL PRIMARY KEY" if engine.dialect.name == "postgresql" else "INTEGER PRIMARY KEY"
    with engine.begin() as conn:
        conn.execute(text(
            f"CREATE TABLE session (id {key}, ref_id INTEGER NOT NULL UNIQUE, "
            "available BOOLEAN NOT NULL, time_started BIGINT, time_stopped BIGINT, "
            "number_of_readings INTEGER NOT NULL)"
        ))
        conn.execute(text(
            f"CREATE TABLE config (id {key}, key VARCHAR(255) NOT NULL UNIQUE, value TEXT NOT NULL)"
        ))
        conn.execute(text(
            "INSERT INTO session (ref_id, available, time_started, time_stopped, number_of_readings) "
            "VALUES (4, FALSE, 100, 200, 3)"
        ))


def check_migrated(db: DatabaseClient) -> None:
    columns = {c["name"] for c in inspect(db.engine).get_columns("session")}
    assert "downloaded_messages" in columns
    session = db.get(Session, {"ref_id": 4})
    assert session is not None and session.downloaded_messages == 0 and session.number_of_readings == 3
    version = db.get_config(SCHEMA_VERSION_KEY)
    assert version is not None and version.value == str(SCHEMA_VERSION)
    assert set(inspect(db.engine).get_table_names()) >= {"reading", "category", "cache", "notifications"}


@pytest.mark.integration
def test_old_sqlite_file_is_migrated(sqlite_file_path: Path) -> None:
    old = create_engine(f"sqlite:///{sqlite_file_path}")
    make_version_zero_database(old)
    old.dispose()
    with DatabaseClient(path=sqlite_file_path) as db:
        check_migrated(db)
        db.update_session_list([[4, 100, 200, 3]])
        db.add_readings_bulk(4, [1], [1], [1.0], messages=3)
        assert db.update_session_availability(4) is True


@pytest.mark.postgres
@pytest.mark.integration
def test_old_postgres_database_is_migrated(postgres_engine: Engine) -> None:
    make_version_zero_database(postgres_engine)
    with DatabaseClient(engine=postgres_engine) as db:
        check_migrated(db)


def test_migration_is_idempotent_and_refuses_newer_databases() -> None:
    engine = create_client_engine()
    assert ensure_schema(engine) == SCHEMA_VERSION
    assert ensure_schema(engine) == SCHEMA_VERSION
    with engine.begin() as conn:
        conn.execute(text("UPDATE config SET value = :v WHERE key = :k"),
                     {"v": str(SCHEMA_VERSION + 1), "k": SCHEMA_VERSION_KEY})
    with pytest.raises(StorageError, match=f"schema version {SCHEMA_VERSION + 1} is newer"):
        DatabaseClient(engine=engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE config SET value = 'seven' WHERE key = :k"), {"k": SCHEMA_VERSION_KEY})
    with pytest.raises(StorageError, match="expected an integer, got 'seven'"):
        ensure_schema(engine)
    engine.dispose()


def test_version_one_reading_index_is_replaced_by_the_covering_one(database_client: DatabaseClient) -> None:
    engine = database_client.engine
    database_client.update_session_list([[2, 0, 10, 3]])
    database_client.add_readings_bulk(2, [5, 6, 7], [1, 1, 2], [0.5, 1.5, 2.5], messages=3)
    with engine.begin() as conn:  # the version 1 shape: the index without `value`
        conn.execute(text("DROP INDEX ix_reading_session_category_time_value"))
        conn.execute(text("CREATE INDEX ix_reading_session_category_time ON reading (session_id, category_id, time_logged)"))
        conn.execute(text("UPDATE config SET value = '1' WHERE key = :k"), {"k": SCHEMA_VERSION_KEY})
    assert ensure_schema(engine) == SCHEMA_VERSION
    indexes = {index["name"]: index["column_names"] for index in inspect(engine).get_indexes("reading")}
    assert indexes == {"ix_reading_session_category_time_value": ["session_id", "category_id", "time_logged", "value"]}
    assert [(r.time_logged, r.value) for r in database_client.get_session_readings(2)] == [(5, 0.5), (6, 1.5), (7, 2.5)]
