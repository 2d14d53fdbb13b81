"""RedisWriter: ordering, coalescing, exactly-once retries, the bound, Redis going away."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import fakeredis
import pytest
import redis
from redis.exceptions import ConnectionError as RedisConnectionError

from blitz.data.redis_buffer import DatabaseServer
from blitz.data.redis_process import EmbeddedRedis
from blitz.errors import StorageError
from blitz.server.redis_writer import RedisWriter


def lines(prefix: str, count: int) -> list[str]:
    return [f"{prefix}a0{i:08x}0000000000000000" for i in range(count)]


class Notes:
    def __init__(self) -> None:
        self.items: list[tuple[int, str]] = []

    def __call__(self, severity: int, text: str) -> None:
        self.items.append((severity, text))


def now(function: Any, *args: Any) -> None:
    """call_from_thread for tests that run the writer on this thread."""
    function(*args)


class FlakyStore:
    """A DatabaseServer whose writes can fail before or after they land."""

    def __init__(self, store: DatabaseServer) -> None:
        self.store = store
        self.fail_before = 0
        self.fail_after = 0
        self.calls = 0

    def queue_many(self, messages: Any, session_id: int | None = None) -> int | None:
        self.calls += 1
        if self.fail_before:
            self.fail_before -= 1
            raise RedisConnectionError("connection refused")
        result = self.store.queue_many(messages, session_id=session_id)
        if self.fail_after:
            self.fail_after -= 1
            raise RedisConnectionError("reply lost")
        return result

    def session_length(self, session_id: int) -> int:
        if self.fail_before:
            self.fail_before -= 1
            raise RedisConnectionError("connection refused")
        return self.store.session_length(session_id)


@pytest.fixture
def store() -> DatabaseServer:
    return DatabaseServer(redis=fakeredis.FakeRedis(server=fakeredis.FakeServer()))


def test_batches_of_one_session_are_written_in_one_round_trip(store: DatabaseServer) -> None:
    flaky = FlakyStore(store)
    writer = RedisWriter(flaky, now, Notes())
    writer.submit(1, lines("08", 3))
    writer.submit(1, lines("09", 2))
    writer.submit(2, lines("08", 1))
    assert writer.buffered == 6
    assert writer.write_once() and writer.write_once()
    assert flaky.calls == 2
    assert store.get_all_from_session(1) == lines("08", 3) + lines("09", 2)
    assert store.get_all_from_session(2) == lines("08", 1)
    assert writer.buffered == 0 and writer.written == 6


def test_calls_run_in_order_with_lines(store: DatabaseServer) -> None:
    writer = RedisWriter(store, now, Notes())
    results: list[Any] = []
    started = writer.call(store.start_session)
    started.addCallback(results.append)
    writer.submit(1, lines("08", 2))
    writer.call(store.stop_session).addCallback(results.append)
    while writer.buffered or len(results) < 2:
        writer.write_once()
    assert results == [1, 1]
    info = store.session_info(1)
    assert info.count == 2 and info.end_ms is not None


def test_failed_write_that_landed_is_not_repeated(store: DatabaseServer) -> None:
    flaky = FlakyStore(store)
    notes = Notes()
    writer = RedisWriter(flaky, now, notes)
    writer.submit(1, lines("08", 5))
    assert writer.write_once()
    flaky.fail_after = 1  # the next write lands but its reply is lost
    writer.submit(1, lines("09", 4))
    assert not writer.write_once()
    assert not writer.ok and writer.buffered == 4
    assert writer.write_once()
    assert store.get_all_from_session(1) == lines("08", 5) + lines("09", 4)  # not doubled
    assert writer.ok and writer.buffered == 0
    assert [s for s, _ in notes.items] == [3, 1]  # down, then back


def test_failed_write_that_did_not_land_is_retried(store: DatabaseServer) -> None:
    flaky = FlakyStore(store)
    writer = RedisWriter(flaky, now, Notes())
    flaky.fail_before = 2
    writer.submit(1, lines("08", 3))
    assert not writer.write_once()
    assert not writer.write_once()
    assert writer.write_once()
    assert store.get_all_from_session(1) == lines("08", 3)


def test_the_bound_counts_and_reports_dropped_lines(store: DatabaseServer) -> None:
    notes = Notes()
    writer = RedisWriter(store, now, notes, max_buffered_lines=10)
    assert writer.submit(1, lines("08", 6)) == 6
    assert writer.submit(1, lines("09", 6)) == 4
    assert writer.submit(1, lines("0a", 3)) == 0
    assert writer.dropped == 5 and writer.buffered == 10
    assert len(notes.items) == 1 and "dropping" in notes.items[0][1]
    while writer.buffered:
        writer.write_once()
    assert store.get_all_from_session(1) == lines("08", 6) + lines("09", 4)


def test_call_fails_fast_when_redis_is_down(store: DatabaseServer) -> None:
    flaky = FlakyStore(store)
    writer = RedisWriter(flaky, now, Notes())
    flaky.fail_before = 1
    writer.submit(1, lines("08", 1))
    writer.write_once()
    failures: list[Any] = []
    writer.call(store.start_session).addErrback(failures.append)
    assert failures and failures[0].check(StorageError)


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_real_redis_stopped_and_started_loses_nothing() -> None:
    with tempfile.TemporaryDirectory(prefix="blitz-w-") as data_dir:
        server = EmbeddedRedis(Path(data_dir), appendonly=True, appendfsync="always")
        url = server.start()
        client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=0.5)
        store = DatabaseServer(redis=client)
        notes = Notes()
        writer = RedisWriter(store, now, notes, retry_s=0.05)
        writer.start()
        try:
            session_id = store.start_session()
            writer.submit(session_id, lines("08", 100))
            _wait(lambda: writer.buffered == 0)
            server.stop()
            for i in range(5):  # lines keep coming while Redis is down
                writer.submit(session_id, lines(f"1{i}", 50))
            _wait(lambda: not writer.ok)
            assert writer.buffered > 0
            server.start()
            _wait(lambda: writer.buffered == 0 and writer.ok, timeout_s=20)
            expected = lines("08", 100) + [line for i in range(5) for line in lines(f"1{i}", 50)]
            assert store.get_all_from_session(session_id) == expected
            assert writer.dropped == 0
            assert any("unavailable" in text for _, text in notes.items)
            assert any("back" in text for _, text in notes.items)
        finally:
            assert writer.stop(2.0)
            client.close()
            server.stop()


def _wait(predicate: Any, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.01)
