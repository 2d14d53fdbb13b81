"""The download path: bulk readings, bulk cache, categories and concurrency, on every backend."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, event, func, select

from blitz.data.client_database import DatabaseClient
from blitz.data.models import Cache, Category, Reading
from blitz.errors import StorageError


@contextmanager
def failing_statement(engine: Engine, starts_with: str) -> Iterator[None]:
    """Make every SQL statement beginning with `starts_with` raise, to break a call midway."""

    def explode(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith(starts_with):
            raise RuntimeError(f"injected failure on {statement.split()[0]}")

    event.listen(engine, "before_cursor_execute", explode)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", explode)


def reading_stats(db: DatabaseClient, session_id: int) -> tuple[int, float, int]:
    """(row count, sum of values, sum of times) computed by the database."""
    with db.engine.connect() as conn:
        row = conn.execute(
            select(
                func.count(),
                func.coalesce(func.sum(Reading.value), 0.0),
                func.coalesce(func.sum(Reading.time_logged), 0),
            ).where(Reading.session_id == session_id)
        ).one()
    return int(row[0]), float(row[1]), int(row[2])


def test_bulk_readings_from_numpy_store_every_row(database_client: DatabaseClient) -> None:
    database_client.update_session_list([[3, 0, None, 4000]])
    rng = np.random.default_rng(8)
    count = 20_000
    times = np.arange(count, dtype=np.int64) * 10 + 1_717_243_200_000
    categories = rng.integers(1, 9, size=count).astype(np.int64)
    values = rng.normal(size=count)
    stored = database_client.add_readings_bulk(3, times, categories, values, messages=4000)
    assert stored == count
    rows, value_sum, time_sum = reading_stats(database_client, 3)
    assert rows == count
    assert value_sum == pytest.approx(float(values.sum()), rel=1e-9, abs=1e-9)
    assert time_sum == int(times.sum())
    assert database_client.stored_messages(3) == 4000
    assert database_client.update_session_availability(3) is True


def test_bulk_readings_from_lists_keep_exact_values(database_client: DatabaseClient) -> None:
    database_client.update_session_list([[1, 0, 10, 2]])
    assert database_client.add_readings_bulk(1, [5, 6], [2, 3], [0.1, -2.5e300], messages=1) == 2
    readings = database_client.get_session_readings(1)
    assert [(r.session_id, r.time_logged, r.category_id, r.value) for r in readings] == [
        (1, 5, 2, 0.1), (1, 6, 3, -2.5e300)
    ]
    assert database_client.stored_messages(1) == 1


def test_bulk_resume_counts_messages_across_chunks(database_client: DatabaseClient) -> None:
    database_client.update_session_list([[2, 0, 10, 12]])
    for chunk in range(3):
        base = chunk * 4
        database_client.add_readings_bulk(2, [base, base + 1], [1, 1], [0.0, 1.0], messages=4)
        assert database_client.stored_messages(2) == base + 4
    # Messages that decoded to no readings still count.
    assert database_client.add_readings_bulk(2, [], [], [], messages=0) == 0
    assert database_client.update_session_availability(2) is True


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        (([1, 2], [1], [0.0, 1.0]), "equal length, got time_logged=2, category_id=1, value=2"),
        (([1, 2], [1, 2], [0.0, float("nan")]), r"value\[1\]: expected a finite number"),
        (([1, 2.5], [1, 2], [0.0, 1.0]), r"time_logged\[1\]: expected a whole number, got 2.5"),
        (([1, 2], [1, None], [0.0, 1.0]), r"category_id\[1\]: expected a number, got None"),
        (([1, 2], [1, 2], [0.0, "x"]), r"value\[1\]: expected a number, got 'x'"),
        (([1], [2**31], [0.0]), r"category_id\[0\]: expected an integer in \[-2147483648, 2147483647\]"),
        ((np.array([2**64 - 1], dtype=np.uint64), [1], [0.0]), r"time_logged\[0\]: expected an integer in"),
        (([[1, 2]], [1], [0.0]), r"time_logged: expected a 1-D sequence of numbers, got shape \(1, 2\)"),
    ],
)
def test_bulk_readings_reject_bad_columns(columns: tuple[Any, Any, Any], message: str) -> None:
    with DatabaseClient() as db:
        db.update_session_list([[1, 0, 10, 5]])
        with pytest.raises(ValueError, match=message):
            db.add_readings_bulk(1, *columns, messages=1)
        assert db.all(Reading) == [] and db.stored_messages(1) == 0


def test_bulk_is_atomic_when_the_counter_update_fails(database_client: DatabaseClient) -> None:
    database_client.update_session_list([[4, 0, 10, 10]])
    database_client.add_readings_bulk(4, [1], [1], [1.0], messages=1)
    with failing_statement(database_client.engine, "UPDATE SESSION"):
        with pytest.raises(RuntimeError, match="injected failure"):
            database_client.add_readings_bulk(4, list(range(100)), [1] * 100, [2.0] * 100, messages=5)
    assert reading_stats(database_client, 4)[0] == 1
    assert database_client.stored_messages(4) == 1
    # The same chunk goes in once the failure is gone: the download can resume.
    database_client.add_readings_bulk(4, list(range(100)), [1] * 100, [2.0] * 100, messages=5)
    assert reading_stats(database_client, 4)[0] == 101
    assert database_client.stored_messages(4) == 6


def test_bulk_for_unknown_session_stores_nothing(database_client: DatabaseClient) -> None:
    with pytest.raises(StorageError, match="session 9 is not in the local session list"):
        database_client.add_readings_bulk(9, [1, 2, 3], [1, 1, 1], [0.0, 0.0, 0.0], messages=1)
    assert database_client.all(Reading) == []
    # Without a message count there is nothing to keep in step: rows alone are fine.
    assert database_client.add_readings_bulk(9, [1], [1], [0.0]) == 1


def test_bulk_rejects_bad_scalars(database_client: DatabaseClient) -> None:
    with pytest.raises(ValueError, match="messages: expected an integer >= 0, got -1"):
        database_client.add_readings_bulk(1, [1], [1], [1.0], messages=-1)
    with pytest.raises(ValueError, match="session_id: expected an integer, got '1'"):
        database_client.add_readings_bulk("1", [1], [1], [1.0])  # type: ignore[arg-type]


def test_cache_bulk_and_get_cache_keeps_newest_fifty_per_variable(database_client: DatabaseClient) -> None:
    ids = database_client.get_or_create_categories(["adc_channel_one", "adc_channel_two"])
    one, two = ids["adc_channel_one"], ids["adc_channel_two"]
    times = np.concatenate([np.arange(60), np.arange(10)]).astype(np.int64) + 1_000
    categories = np.array([one] * 60 + [two] * 10, dtype=np.int64)
    values = np.arange(70, dtype=np.float64)
    assert database_client.add_cache_bulk(times, categories, values) == 70
    cache = database_client.get_cache()
    by_variable: dict[int, list[Cache]] = {}
    for row in cache:
        by_variable.setdefault(row.category_id, []).append(row)
    assert [row.time_logged for row in by_variable[one]] == list(range(1_059, 1_009, -1))
    assert [row.time_logged for row in by_variable[two]] == list(range(1_009, 999, -1))
    assert len(cache) == 60
    since = database_client.get_cache(since=1_055)
    expected = [(one, t) for t in range(1_055, 1_060)]
    assert sorted((row.category_id, row.time_logged) for row in since) == expected
    assert database_client.get_cache(since=5_000) == []
    with pytest.raises(ValueError, match="since: expected an integer >= 0"):
        database_client.get_cache(since=-1)


def test_cache_variables_and_clear_cache(database_client: DatabaseClient) -> None:
    ids = database_client.get_or_create_categories(["set_point", "raw_adc", "motor_value"])
    database_client.add_cache(1, ids["set_point"], 1.0)
    database_client.add_cache_bulk([2, 3], [ids["raw_adc"], ids["raw_adc"]], [2.0, 3.0])
    assert [c.variable_name for c in database_client.get_cache_variables()] == ["raw_adc", "set_point"]
    assert database_client.clear_cache() == 3
    assert database_client.get_cache() == [] and database_client.get_cache_variables() == []


def test_get_or_create_category_and_categories(database_client: DatabaseClient) -> None:
    first = database_client.get_or_create_category("adc_channel_one")
    assert database_client.get_or_create_category("adc_channel_one") == first
    mapping = database_client.get_or_create_categories(["raw_adc", "adc_channel_one", "raw_adc", "set_point"])
    assert list(mapping) == ["raw_adc", "adc_channel_one", "set_point"]
    assert mapping["adc_channel_one"] == first
    assert len(set(mapping.values())) == 3
    assert {c.variable_name: c.id for c in database_client.all(Category)} == mapping
    assert database_client.get_or_create_categories([]) == {}
    with pytest.raises(ValueError, match="category name at position 1: expected a non-empty string, got ''"):
        database_client.get_or_create_categories(["ok", ""])
    with pytest.raises(ValueError, match="got the single string 'raw_adc'"):
        database_client.get_or_create_categories("raw_adc")


def race(workers: int, work: Any) -> list[Any]:
    """Run `work(i)` in `workers` threads released together; return results, re-raising errors."""
    barrier = threading.Barrier(workers)
    results: list[Any] = [None] * workers
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = work(index)
        except BaseException as exc:  # collected and re-raised in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        raise errors[0]
    return results


NAMES = [f"Channel_{i}" for i in range(1, 17)]


def test_concurrent_get_or_create_category_makes_one_row(database_client: DatabaseClient) -> None:
    def work(index: int) -> list[int]:
        return [database_client.get_or_create_category(name) for name in NAMES[index % 3:] + NAMES]

    results = race(8, work)
    rows = database_client.all(Category)
    assert sorted(c.variable_name for c in rows) == sorted(NAMES)
    ids = {c.variable_name: c.id for c in rows}
    for index, result in enumerate(results):
        assert result == [ids[name] for name in NAMES[index % 3:] + NAMES]


@pytest.mark.integration
def test_concurrent_clients_on_one_file_share_categories(sqlite_file_path: Path) -> None:
    clients = [DatabaseClient(path=sqlite_file_path) for _ in range(4)]
    try:
        results = race(4, lambda i: clients[i].get_or_create_categories(NAMES))
        assert all(result == results[0] for result in results)
        assert len(clients[0].all(Category)) == len(NAMES)
    finally:
        for client in clients:
            client.close()


@pytest.mark.postgres
@pytest.mark.integration
def test_concurrent_clients_on_postgres_share_categories(postgres_engine: Engine) -> None:
    clients = [DatabaseClient(engine=postgres_engine) for _ in range(4)]
    results = race(4, lambda i: clients[i].get_or_create_categories(NAMES))
    assert all(result == results[0] for result in results)
    assert len(clients[0].all(Category)) == len(NAMES)


def test_bulk_readings_spanning_several_insert_statements_keep_every_row(database_client: DatabaseClient) -> None:
    # SQLite inserts SQLITE_ROWS_PER_INSERT rows per statement: check full statements and the short tail row by row.
    from blitz.data.sql_bulk import SQLITE_ROWS_PER_INSERT

    count = 2 * SQLITE_ROWS_PER_INSERT + 7
    database_client.update_session_list([[6, 0, 10, count]])
    times = np.arange(count, dtype=np.int64) + 2**40
    categories = np.arange(count, dtype=np.int64) % 3 + 1
    values = np.arange(count, dtype=np.float64) / 7
    assert database_client.add_readings_bulk(6, times, categories, values, messages=count) == count
    stored = [(r.time_logged, r.category_id, r.value) for r in database_client.get_session_readings(6)]
    assert stored == list(zip(times.tolist(), categories.tolist(), values.tolist()))
