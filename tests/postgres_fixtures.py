"""Pytest plugin: SQL engines for every client backend, PostgreSQL isolated in a schema per test.

`database_client` is parametrized over ":memory:", a real SQLite file and
PostgreSQL.  The PostgreSQL case runs when BLITZ_TEST_POSTGRES_URL is set (for
example `postgresql+psycopg://root@127.0.0.1:5432/test`) and is skipped, saying
so, otherwise.  Each PostgreSQL test gets a fresh schema (search_path points at
it) that is dropped with CASCADE afterwards: cheaper than a database per test,
and parallel runs never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

from blitz.data.client_database import DatabaseClient

POSTGRES_URL_ENV = "BLITZ_TEST_POSTGRES_URL"

BACKENDS = [
    pytest.param("memory", id="memory"),
    pytest.param("sqlite_file", id="sqlite_file", marks=pytest.mark.integration),
    pytest.param("postgres", id="postgres", marks=[pytest.mark.postgres, pytest.mark.integration]),
]


def postgres_url() -> URL:
    """The test server's URL with the psycopg (3) driver, or skip the test when unset."""
    raw = os.environ.get(POSTGRES_URL_ENV)
    if not raw:
        pytest.skip(
            f"{POSTGRES_URL_ENV} is not set; set it to a PostgreSQL URL "
            f"(e.g. postgresql+psycopg://user@127.0.0.1:5432/test) to run PostgreSQL tests"
        )
    url = make_url(raw)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url


@pytest.fixture
def postgres_engine() -> Iterator[Engine]:
    """An engine whose connections all use a new, empty schema; the schema is dropped afterwards."""
    url = postgres_url()
    schema = f"blitz_test_{uuid.uuid4().hex[:16]}"
    admin = create_engine(url, poolclass=NullPool)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def sqlite_file_path(tmp_path: Path) -> Path:
    """Where a test's SQLite file database lives (created on first use)."""
    return tmp_path / "blitz-client.db"


@pytest.fixture(params=BACKENDS)
def database_client(request: pytest.FixtureRequest, sqlite_file_path: Path) -> Iterator[DatabaseClient]:
    """A fresh DatabaseClient on each backend: ":memory:", a SQLite file, PostgreSQL."""
    backend = request.param
    if backend == "memory":
        client = DatabaseClient()
    elif backend == "sqlite_file":
        client = DatabaseClient(path=str(sqlite_file_path))
    else:
        client = DatabaseClient(engine=request.getfixturevalue("postgres_engine"))
    try:
        yield client
    finally:
        client.close()
