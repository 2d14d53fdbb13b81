"""Fixtures of the reliability suite: a logger holding a big finished session, and a SQL store for it."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from blitz.boards import load_boards
from blitz.data.redis_buffer import DatabaseServer
from blitz.data.redis_process import EmbeddedRedis
from tests.reliability.harness import BLITZ, ServerProcess

BOARDS = load_boards(entry_points=False)
BIG_MESSAGES = 60_000
VARIABLES = len(BOARDS[8].variables)


@dataclass
class Logger:
    """A `blitz server` (no boards) whose Redis holds one big finished session."""

    port: int
    session: int
    sums: dict[str, float]
    workdir: Path

    def env(self, db: str | Path) -> dict[str, str]:
        return {**os.environ, "BLITZ_HOST": "127.0.0.1", "BLITZ_PORT": str(self.port), "BLITZ_DB": str(db)}

    def spawn(self, *args: str, db: str | Path) -> subprocess.Popen[str]:
        return subprocess.Popen([*BLITZ, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=self.env(db), cwd=self.workdir)

    def run(self, *args: str, db: str | Path, timeout_s: float = 60.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*BLITZ, *args], capture_output=True, text=True, timeout=timeout_s,
                              env=self.env(db), cwd=self.workdir)


def big_lines(count: int) -> tuple[list[str], dict[str, float]]:
    """Blitz Basic lines with known channel values (time = index ms), and each channel's sum."""
    index = np.arange(count, dtype=np.int64)
    channels = [(index * k + 7 * k) % 4096 for k in range(1, 6)]
    lines = [
        f"08a0{i:08x}{(a << 52) | (b << 40) | (c << 28) | (d << 16) | (e << 4):016x}"
        for i, a, b, c, d, e in zip(index.tolist(), *(ch.tolist() for ch in channels))
    ]
    return lines, {name: float(ch.sum()) for name, ch in zip(BOARDS[8].variable_names, channels)}


@pytest.fixture(scope="module")
def logger() -> Iterator[Logger]:
    tmp = Path(tempfile.mkdtemp(prefix="blitz-rel-"))  # short: unix socket paths are limited
    redis_server = EmbeddedRedis(tmp / "redis", appendonly=False)
    url = redis_server.start()
    server: ServerProcess | None = None
    try:
        client = redis.Redis.from_url(url)
        store = DatabaseServer(redis=client)
        lines, sums = big_lines(BIG_MESSAGES)
        session = store.start_session()
        for start in range(0, len(lines), 20_000):
            store.queue_many(lines[start:start + 20_000], session)
        store.stop_session()
        client.close()
        server = ServerProcess("--port", "0", "--no-scan", "--redis-url", url)
        yield Logger(server.port(), session, sums, tmp)
    finally:
        if server is not None:
            server.stop()
        redis_server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh local store: a SQLite file, or a PostgreSQL schema of its own (dropped afterwards)."""
    if request.param == "sqlite":
        yield str(tmp_path / "blitz.db")
        return
    from tests.postgres_fixtures import postgres_url

    base = postgres_url()  # skips, saying why, without BLITZ_TEST_POSTGRES_URL
    schema = f"blitz_rel_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, poolclass=NullPool)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


class Peek:
    """Reads a store with its own connection, no Blitz code involved (SQLite file or PostgreSQL URL)."""

    def __init__(self, store: str) -> None:
        self.store = store
        self._sqlite = sqlite3.connect(store, timeout=30) if "://" not in store else None
        self._engine = create_engine(store, poolclass=NullPool) if "://" in store else None

    def query(self, statement: str, *params: Any) -> list[tuple[Any, ...]]:
        if self._sqlite is not None:
            return [tuple(row) for row in self._sqlite.execute(statement, params).fetchall()]
        assert self._engine is not None
        marks = {}
        for i, value in enumerate(params):
            statement = statement.replace("?", f":p{i}", 1)
            marks[f"p{i}"] = value
        with self._engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(statement), marks).all()]

    def one(self, statement: str, *params: Any) -> Any:
        rows = self.query(statement, *params)
        return rows[0][0] if rows else None

    def stored(self, session: int) -> int:
        """The session's stored-message count (0 before the session list is synced)."""
        return int(self.one("SELECT downloaded_messages FROM session WHERE ref_id = ?", session) or 0)

    def readings(self, session: int) -> int:
        return int(self.one("SELECT count(*) FROM reading WHERE session_id = ?", session) or 0)

    def tables_exist(self) -> bool:
        """True once the client has created every table these tests read.

        The tables appear one by one while a client starts, so checking one of
        them (it used to be `session`) races with a read of another (`cache`).
        """
        try:
            for table in ("session", "reading", "category", "cache"):
                self.one(f"SELECT count(*) FROM {table}")
        except Exception:
            return False
        return True

    def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
        if self._engine is not None:
            self._engine.dispose()
