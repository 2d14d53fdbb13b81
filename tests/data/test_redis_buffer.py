"""DatabaseServer on fakeredis and on a real redis-server, with str and bytes clients."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import fakeredis
import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.backoff import NoBackoff
from redis.retry import Retry

from blitz.data.database import DatabaseServer as PublicDatabaseServer
from blitz.data.redis_buffer import DatabaseServer, SessionInfo, SessionNotFound, SessionStateError
from blitz.errors import ConfigError, StorageError


class FakeClock:
    """Seconds since the epoch, moved by hand."""

    def __init__(self, now_s: float = 1_700_000_000.0) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["bytes", "str"])
def client(request: pytest.FixtureRequest, any_redis: redis.Redis) -> Iterator[redis.Redis]:
    """any_redis as is (bytes replies) or a decode_responses twin on the same data."""
    if request.param == "bytes":
        yield any_redis
        return
    if isinstance(any_redis, fakeredis.FakeRedis):
        server = any_redis.connection_pool.connection_kwargs["server"]
        twin: redis.Redis = fakeredis.FakeRedis(server=server, decode_responses=True)
    else:
        twin = redis.Redis.from_url(request.getfixturevalue("redis_url"), decode_responses=True)
    yield twin
    twin.close()


@pytest.fixture
def db(client: redis.Redis, clock: FakeClock) -> DatabaseServer:
    return DatabaseServer(redis=client, clock=clock)


def test_public_module_exports_this_class() -> None:
    assert PublicDatabaseServer is DatabaseServer


def test_sessions_are_numbered_from_one_and_record_start_and_end(db: DatabaseServer, clock: FakeClock) -> None:
    assert db.session_id == -1
    assert db.start_session() == 1
    assert db.session_id == 1
    clock.now_s += 2.5
    assert db.stop_session() == 1
    assert db.session_id == -1
    clock.now_s += 1
    assert db.start_session() == 2
    assert db.session_info(1) == SessionInfo(1, 1_700_000_000_000, 1_700_000_002_500, 0)
    assert db.session_info(2) == SessionInfo(2, 1_700_000_003_500, None, 0)


def test_starting_while_running_raises_naming_the_running_session(db: DatabaseServer) -> None:
    db.start_session()
    with pytest.raises(SessionStateError, match="session 1 is already running") as caught:
        db.start_session()
    assert caught.value.session_id == 1
    assert isinstance(caught.value, StorageError)
    assert db.available_sessions() == [1]


def test_stop_without_session_returns_none_and_warns(db: DatabaseServer, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="blitz.data.redis_buffer"):
        assert db.stop_session() is None
    assert "no session is running" in caplog.text


def test_queue_appends_to_running_session_and_returns_message(db: DatabaseServer) -> None:
    session = db.start_session()
    assert db.queue("0a01") == "0a01"
    assert db.queue("0a02") == "0a02"
    assert db.get_all_from_session(session) == ["0a01", "0a02"]
    assert db.session_length(session) == 2


def test_queue_without_session_returns_none_and_warns(db: DatabaseServer, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="blitz.data.redis_buffer"):
        assert db.queue("0a01") is None
    assert "no session is running" in caplog.text
    assert "0a01" in caplog.text
    db.start_session()
    db.stop_session()
    assert db.queue("0a02") is None
    assert db.get_all_from_session(1) == []


def test_get_ten_returns_last_ten_of_running_session_oldest_first(db: DatabaseServer) -> None:
    assert db.get_ten_from_session() == []
    db.start_session()
    db.queue_many([f"line{i:02d}" for i in range(25)])
    expected = [f"line{i:02d}" for i in range(15, 25)]
    assert db.get_ten_from_session() == expected
    db.stop_session()
    assert db.get_ten_from_session() == []
    assert db.get_ten_from_session(1) == expected


def test_get_latest_returns_empty_string_until_something_new(db: DatabaseServer, client: redis.Redis) -> None:
    session = db.start_session()
    assert db.get_latest_from_session(session) == ""
    db.queue("first")
    db.queue("second")
    assert db.get_latest_from_session(session) == "second"
    assert db.get_latest_from_session(session) == ""
    db.queue("third")
    assert db.get_latest_from_session(session) == "third"
    assert db.get_latest_from_session(session) == ""
    other = DatabaseServer(redis=client)  # the "since last call" state is per instance
    assert other.get_latest_from_session(session) == "third"
    assert db.get_latest_from_session(99) == ""


def test_available_sessions_and_client_list_are_newest_first(db: DatabaseServer, clock: FakeClock) -> None:
    assert db.available_sessions() == []
    assert db.build_client_session_list() == []
    for count in (2, 0, 1):
        db.start_session()
        db.queue_many(["x"] * count)
        clock.now_s += 1
        db.stop_session()
    db.start_session()
    db.queue("y")
    assert db.available_sessions() == [4, 3, 2, 1]
    assert all(isinstance(number, int) for number in db.available_sessions())
    start = 1_700_000_000_000
    assert db.build_client_session_list() == [
        f"4 {start + 3000} None 1",
        f"3 {start + 2000} {start + 3000} 1",
        f"2 {start + 1000} {start + 2000} 0",
        f"1 {start} {start + 1000} 2",
    ]
    assert [info.id for info in db.list_sessions()] == [4, 3, 2, 1]


def test_delete_session_removes_it_and_its_number_is_never_reused(db: DatabaseServer, client: redis.Redis) -> None:
    for _ in range(3):
        db.start_session()
        db.queue("x")
        db.stop_session()
    assert db.delete_session(3) is True
    assert db.delete_session(1) is True
    assert db.delete_session(1) is False
    assert db.available_sessions() == [2]
    assert not db.session_exists(3)
    assert db.get_all_from_session(3) == []
    with pytest.raises(SessionNotFound, match="no session 3"):
        db.session_info(3)
    assert db.start_session() == 4
    db.stop_session()
    assert DatabaseServer(redis=client).start_session() == 5


def test_deleting_the_running_session_raises(db: DatabaseServer) -> None:
    db.start_session()
    with pytest.raises(SessionStateError, match="session 1 is running"):
        db.delete_session(1)
    assert db.session_exists(1)


def test_new_instance_resumes_a_session_left_running(db: DatabaseServer, client: redis.Redis) -> None:
    session = db.start_session()
    db.queue("before crash")
    del db  # the server "crashes": nothing is stopped
    resumed = DatabaseServer(redis=client)
    assert resumed.session_id == session
    resumed.queue("after restart")
    assert resumed.get_all_from_session(session) == ["before crash", "after restart"]
    with pytest.raises(SessionStateError):
        resumed.start_session()
    assert resumed.stop_session() == session
    assert resumed.session_info(session).end_ms is not None


def test_resume_rereads_state_changed_by_another_instance(db: DatabaseServer, client: redis.Redis) -> None:
    assert db.session_id == -1
    DatabaseServer(redis=client).start_session()
    assert db.session_id == -1  # cached until resume()
    assert db.resume() == 1
    assert db.session_id == 1


def test_flush_drops_only_this_prefix_and_keeps_the_counter(client: redis.Redis, clock: FakeClock) -> None:
    mine = DatabaseServer(redis=client, prefix="blitz:", clock=clock)
    nested = DatabaseServer(redis=client, prefix="blitz:a:", clock=clock)
    client.set("unrelated", "1")
    client.set("blitz:session_notes", "not ours either")
    for server in (mine, nested):
        server.start_session()
        server.queue("x")
        server.stop_session()
    mine.start_session()
    mine.queue("y")
    # session, sessions, session_1, session_1_start, session_1_end, session_2, session_2_start
    assert mine.flush() == 7
    assert mine.session_id == -1
    assert mine.available_sessions() == []
    assert mine.queue("z") is None
    assert nested.available_sessions() == [1]
    assert nested.get_all_from_session(1) == ["x"]
    assert client.get("unrelated") in (b"1", "1")
    assert client.exists("blitz:session_notes") == 1
    assert mine.start_session() == 3  # numbers survive flush


def test_flush_escapes_glob_characters_in_the_prefix(client: redis.Redis) -> None:
    odd = DatabaseServer(redis=client, prefix="b[1]*?:")
    plain = DatabaseServer(redis=client, prefix="b1x:")
    for server in (odd, plain):
        server.start_session()
        server.queue("x")
    odd.flush()
    assert odd.available_sessions() == []
    assert plain.available_sessions() == [1]
    assert plain.get_all_from_session(1) == ["x"]


def test_prefixes_isolate_loggers_sharing_one_redis(client: redis.Redis) -> None:
    left = DatabaseServer(redis=client, prefix="left:")
    right = DatabaseServer(redis=client, prefix="right:")
    assert left.start_session() == 1
    assert right.session_id == -1
    assert right.start_session() == 1
    left.queue("L")
    right.queue_many(["R1", "R2"])
    assert left.get_all_from_session(1) == ["L"]
    assert right.get_all_from_session(1) == ["R1", "R2"]
    left.stop_session()
    assert right.session_id == 1
    assert right.resume() == 1
    assert all(key.startswith((b"left:", b"right:")) for key in _raw_keys(client))


def test_queue_many_appends_to_running_or_given_session(db: DatabaseServer) -> None:
    assert db.queue_many(["a", "b"]) is None
    first = db.start_session()
    assert db.queue_many(["a", b"b"]) == 2
    assert db.queue_many([]) == 2
    db.stop_session()
    assert db.queue_many(["late"], session_id=first) == 3  # a buffer flushed after STOP
    second = db.start_session()
    assert db.queue_many(["c"]) == 1
    assert db.get_all_from_session(first) == ["a", "b", "late"]
    assert db.get_all_from_session(second) == ["c"]


@pytest.mark.integration
def test_queue_many_is_one_redis_command(real_redis: redis.Redis) -> None:
    db = DatabaseServer(redis=real_redis)
    db.start_session()
    before = _command_calls(real_redis)
    assert db.queue_many([f"{i:04x}" for i in range(1000)]) == 1000
    after = _command_calls(real_redis)
    delta = {name: after[name] - before.get(name, 0) for name in after if after[name] != before.get(name, 0)}
    delta.pop("info", None)  # the first INFO is counted in the second
    assert delta == {"rpush": 1}


def test_read_session_pages_by_offset_and_count(db: DatabaseServer) -> None:
    session = db.start_session()
    lines = [f"{i:04x}" for i in range(12)]
    db.queue_many(lines)
    assert db.read_session(session, 0, 5) == lines[:5]
    assert db.read_session(session, 10, 5) == lines[10:]
    assert db.read_session(session, 12, 5) == []
    assert db.read_session(session, 3, 0) == []
    assert db.read_session(session, 3, 2, raw=True) == [b"0003", b"0004"]
    assert db.read_session(77, 0, 5) == []
    with pytest.raises(ValueError, match="offset must be >= 0, got -1"):
        db.read_session(session, -1, 5)
    with pytest.raises(ValueError, match="count must be >= 0, got -2"):
        db.read_session(session, 0, -2)


def test_raw_reads_return_the_exact_bytes_stored(db: DatabaseServer) -> None:
    session = db.start_session()
    odd = b"\xff\x00\r garbage"
    db.queue_many([odd, "0a01"])
    assert db.read_session(session, 0, 2, raw=True) == [odd, b"0a01"]
    assert list(db.iter_session(session, raw=True)) == [[odd, b"0a01"]]
    assert db.read_session(session, 1, 1) == ["0a01"]


def test_iter_session_yields_bounded_chunks_from_offset(db: DatabaseServer) -> None:
    session = db.start_session()
    lines = [f"{i:04x}" for i in range(12)]
    db.queue_many(lines)
    assert list(db.iter_session(session, chunk_size=5)) == [lines[0:5], lines[5:10], lines[10:12]]
    assert list(db.iter_session(session, offset=3, chunk_size=3)) == [lines[3:6], lines[6:9], lines[9:12]]
    assert list(db.iter_session(session, offset=12)) == []
    assert list(db.iter_session(99)) == []
    chunks = list(db.iter_session(session, 2, 4, raw=True))
    assert chunks[0] == [line.encode() for line in lines[2:6]]
    with pytest.raises(ValueError, match="chunk_size must be > 0"):
        db.iter_session(session, chunk_size=0)


def test_iter_session_reads_lazily_one_chunk_at_a_time(db: DatabaseServer) -> None:
    session = db.start_session()
    db.queue_many(["a", "b"])
    chunks = db.iter_session(session, chunk_size=2)
    assert next(chunks) == ["a", "b"]
    db.queue_many(["c"])  # arrives while the download runs
    assert next(chunks) == ["c"]
    assert list(chunks) == []


def test_session_exists_and_length(db: DatabaseServer) -> None:
    assert not db.session_exists(1)
    assert db.session_length(1) == 0
    db.start_session()
    assert db.session_exists(1)
    db.queue_many(["a", "b", "c"])
    assert db.session_length(1) == 3
    assert db.session_info(1).count == 3


def test_counter_recovers_from_a_lost_counter_key(db: DatabaseServer, client: redis.Redis) -> None:
    db.start_session()
    db.stop_session()
    db.start_session()
    db.stop_session()
    client.delete("blitz:session_counter")
    assert db.start_session() == 3


def test_concurrent_starts_create_exactly_one_session(any_redis: redis.Redis) -> None:
    servers = [DatabaseServer(redis=any_redis) for _ in range(8)]
    barrier = threading.Barrier(len(servers))
    results: list[object] = []

    def start(server: DatabaseServer) -> None:
        barrier.wait()
        try:
            results.append(server.start_session())
        except SessionStateError as error:
            results.append(error)

    threads = [threading.Thread(target=start, args=(server,)) for server in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [result for result in results if isinstance(result, int)] == [1]
    assert DatabaseServer(redis=any_redis).available_sessions() == [1]


def test_corrupt_values_raise_storage_error_naming_the_key(db: DatabaseServer, client: redis.Redis) -> None:
    client.set("blitz:session", "banana")
    with pytest.raises(StorageError, match="'blitz:session' holds .*banana.*expected an integer"):
        db.start_session()


def test_ping_is_true_when_redis_answers(db: DatabaseServer) -> None:
    assert db.ping() is True


def test_ping_is_false_instead_of_raising_when_redis_is_down() -> None:
    dead = redis.Redis(unix_socket_path="/nonexistent/blitz-test.sock", retry=Retry(NoBackoff(), 0))
    assert DatabaseServer(redis=dead).ping() is False
    assert DatabaseServer(url="unix:///nonexistent/blitz-test.sock").ping() is False


def test_constructor_needs_exactly_one_of_client_or_url(fake_redis: fakeredis.FakeRedis) -> None:
    with pytest.raises(ConfigError, match="got neither"):
        DatabaseServer()
    with pytest.raises(ConfigError, match="got both"):
        DatabaseServer(redis=fake_redis, url="redis://127.0.0.1:1")
    with pytest.raises(ConfigError, match=r"must start with redis://.*got 'http://x'"):
        DatabaseServer(url="http://x")


@pytest.mark.integration
def test_url_builds_its_own_client_and_close_releases_it(redis_url: str, real_redis: redis.Redis) -> None:
    db = DatabaseServer(url=redis_url, prefix="url:")
    assert db.ping()
    assert db.start_session() == 1
    db.queue("from url")
    assert real_redis.lrange("url:session_1", 0, -1) == [b"from url"]
    assert db.read_session(1, 0, 1, raw=True) == [b"from url"]
    db.close()
    assert db.prefix == "url:"


def _raw_keys(client: redis.Redis) -> list[bytes]:
    return [key if isinstance(key, bytes) else key.encode() for key in client.scan_iter()]


def _command_calls(client: redis.Redis) -> dict[str, int]:
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(entry["calls"]) for name, entry in stats.items()}


@settings(max_examples=60, deadline=None)
@given(
    lines=st.lists(st.text(alphabet="0123456789abcdef", min_size=1, max_size=8), max_size=40),
    offset=st.integers(min_value=0, max_value=45),
    chunk_size=st.integers(min_value=1, max_value=12),
)
def test_chunks_concatenate_to_the_session_from_offset(lines: list[str], offset: int, chunk_size: int) -> None:
    db = DatabaseServer(redis=fakeredis.FakeRedis(server=fakeredis.FakeServer()))
    session = db.start_session()
    db.queue_many(lines)
    chunks = list(db.iter_session(session, offset, chunk_size))
    assert [line for chunk in chunks for line in chunk] == lines[offset:]
    assert all(0 < len(chunk) <= chunk_size for chunk in chunks)
    assert db.read_session(session, offset, chunk_size) == lines[offset:offset + chunk_size]
