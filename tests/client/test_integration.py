"""The client and CLI against the REAL server: simulated boards, redis-server, subprocesses.

A day with Blitz, as a user runs it: start, live, stop, sessions, download,
delete, with every number checked against what Redis holds; a download killed
mid-way and run again; and the CLI's one-line errors.
"""

from __future__ import annotations

import shutil
import signal
import socket
import sqlite3
import tempfile
import uuid
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest
import redis

from blitz.boards import load_boards
from blitz.data.database import DatabaseClient
from blitz.data.models import Cache, Category
from blitz.data.redis_buffer import DatabaseServer
from blitz.data.redis_process import EmbeddedRedis

from tests.client.stack import Stack, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(240)]

BOARDS = load_boards(entry_points=False)
TOKEN = "integration-token"
BIG_SESSION_MESSAGES = 200_000


@pytest.fixture(scope="module")
def redis_instance() -> Iterator[EmbeddedRedis]:
    data_dir = tempfile.mkdtemp(prefix="blitz-cli-")  # short: unix socket paths are limited
    server = EmbeddedRedis(data_dir, appendonly=False)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def store(redis_instance: EmbeddedRedis) -> Iterator[DatabaseServer]:
    client = redis.Redis.from_url(redis_instance.url)
    client.flushdb()
    yield DatabaseServer(redis=client)
    client.close()


@pytest.fixture(scope="module")
def stack(redis_instance: EmbeddedRedis, store: DatabaseServer,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack(tmp_path_factory.mktemp("stack"), redis_instance.url, TOKEN)
    try:
        yield running.start()
    finally:
        running.stop()


def decoded(lines: list[str]) -> Counter[tuple[int, str, float]]:
    """(board time, variable, value) of every reading in the lines, one line at a time."""
    rows: Counter[tuple[int, str, float]] = Counter()
    for line in lines:
        for name, value in BOARDS[int(line[:2], 16)].decode(line).items():
            rows[(int(line[4:12], 16), name, float(value))] += 1
    return rows


def variables_of(line: str) -> int:
    return len(BOARDS[int(line[:2], 16)].variables)


def test_a_day_with_the_logger(stack: Stack, store: DatabaseServer, tmp_path: Path) -> None:
    db = tmp_path / "blitz.db"
    started = stack.json("start")
    assert started["new"] is True
    session = started["session"]
    wait_for(lambda: store.session_length(session) > 50, "the first lines in Redis")

    snapshot = stack.json("live", "--seconds", "3", "--refresh", "0.2", db=db)
    assert snapshot["session"] == session and snapshot["lines"] > 300
    assert snapshot["cached"] == snapshot["readings"] > 0
    assert {row["name"] for row in snapshot["values"]} >= {"adc_channel_one", "set_point"}

    stopped = stack.blitz("stop")
    assert (stopped.returncode, stopped.stdout) == (0, f"stopped session {session}\n")
    lines = store.get_all_from_session(session)

    # Every line pushed during `live` reached the cache: per board, the cached readings are
    # exactly the decoded Redis lines between the first and the last cached timestamp.
    with DatabaseClient(path=str(db)) as database:
        names = {c.id: c.variable_name for c in database.all(Category)}
        cached = Counter((c.time_logged, names[c.category_id], c.value) for c in database.all(Cache))
    assert sum(cached.values()) == snapshot["cached"]
    for board_id in (0x08, 0x09):
        board_names = set(BOARDS[board_id].variable_names)
        mine = Counter({k: v for k, v in cached.items() if k[1] in board_names})
        times = [t for t, _, _ in mine]
        window = [line for line in lines if line.startswith(f"{board_id:02x}")
                  and min(times) <= int(line[4:12], 16) <= max(times)]
        assert mine == decoded(window), f"board {board_id:02x}: the cache misses or invents readings"

    listed = {s["id"]: s for s in stack.json("sessions", db=db)}
    assert listed[session]["messages"] == len(lines)
    assert listed[session]["downloaded_messages"] == 0 and listed[session]["time_stopped"] is not None

    reports = stack.json("download", str(session), db=db)
    assert reports[0]["messages"] == len(lines) and reports[0]["available"] is True
    assert reports[0]["readings"] == sum(variables_of(line) for line in lines)
    with DatabaseClient(path=str(db)) as database:
        names = {c.id: c.variable_name for c in database.all(Category)}
        stored = Counter((r.time_logged, names[r.category_id], r.value)
                         for r in database.get_session_readings(session))
        assert stored == decoded(lines)
    again = stack.json("download", str(session), db=db)
    assert [(r["session"], r["skipped"]) for r in again] == [(session, True)]

    text = [row.split() for row in stack.blitz("sessions", db=db).stdout.splitlines()]
    assert [row[-1] for row in text if row[0] == str(session)] == ["yes"]

    deleted = stack.blitz("delete", str(session), "--yes", db=db)
    assert deleted.returncode == 0, deleted.stderr
    assert not store.session_exists(session)
    assert session not in [s["id"] for s in stack.json("sessions", db=db)]


def _big_lines(count: int) -> tuple[list[str], dict[str, float]]:
    """Blitz Basic lines with known channel values, and each channel's sum."""
    index = np.arange(count, dtype=np.int64)
    channels = [(index * k + k) % 4096 for k in range(1, 6)]
    lines = [
        f"08a0{i:08x}{(a << 52) | (b << 40) | (c << 28) | (d << 16) | (e << 4):016x}"
        for i, a, b, c, d, e in zip(index.tolist(), *(ch.tolist() for ch in channels))
    ]
    names = BOARDS[8].variable_names
    return lines, {name: float(ch.sum()) for name, ch in zip(names, channels)}


@pytest.fixture(scope="module")
def big_session(stack: Stack, store: DatabaseServer) -> tuple[int, dict[str, float]]:
    """A finished 200,000-message session written straight into the server's Redis."""
    lines, sums = _big_lines(BIG_SESSION_MESSAGES)
    session = store.start_session()
    for start in range(0, len(lines), 50_000):
        store.queue_many(lines[start:start + 50_000], session)
    store.stop_session()
    return session, sums


def _check_complete(url_or_path: str, session: int, sums: dict[str, float]) -> None:
    with (DatabaseClient(url=url_or_path) if "://" in url_or_path else DatabaseClient(path=url_or_path)) as db:
        from sqlalchemy import func, select

        from blitz.data.models import Reading

        with db.engine.connect() as conn:
            rows = conn.execute(
                select(Category.variable_name, func.count(), func.sum(Reading.value),
                       func.count(func.distinct(Reading.time_logged)))
                .join(Category, Category.id == Reading.category_id)
                .where(Reading.session_id == session)
                .group_by(Category.variable_name)
            ).all()
        assert {name: (count, total, distinct) for name, count, total, distinct in rows} == {
            name: (BIG_SESSION_MESSAGES, total, BIG_SESSION_MESSAGES) for name, total in sums.items()}
        assert db.stored_messages(session) == BIG_SESSION_MESSAGES


def test_a_killed_download_resumes_without_duplicates(stack: Stack, big_session: tuple[int, dict[str, float]],
                                                      tmp_path: Path) -> None:
    session, sums = big_session
    db = tmp_path / "resume.db"
    stack.blitz("sessions", db=db)

    def stored() -> int:
        with sqlite3.connect(db) as conn:
            row = conn.execute("SELECT downloaded_messages FROM session WHERE ref_id = ?", (session,)).fetchone()
        return int(row[0]) if row else 0

    def readings() -> int:
        with sqlite3.connect(db) as conn:
            return int(conn.execute("SELECT count(*) FROM reading WHERE session_id = ?", (session,)).fetchone()[0])

    # Ctrl-C: the command says where it stopped.
    process = stack.spawn("download", str(session), "--chunk", "2000", db=db)
    try:
        wait_for(lambda: stored() >= 20_000, "ten chunks to be stored", interval_s=0.005)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    first = stored()
    assert process.returncode == 1
    assert stderr.splitlines()[-1] == (f"Error: interrupted: session {session} has {first} messages stored; "
                                       f"run the same command to continue")
    assert 0 < first < BIG_SESSION_MESSAGES and first % 2000 == 0 and readings() == first * 5

    # SIGKILL: no clean-up at all; each chunk's readings and count were committed together.
    process = stack.spawn("download", str(session), "--chunk", "2000", db=db)
    try:
        wait_for(lambda: stored() >= first + 20_000, "ten more chunks to be stored", interval_s=0.005)
        process.kill()
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
    interrupted = stored()
    assert first < interrupted < BIG_SESSION_MESSAGES and interrupted % 2000 == 0
    assert readings() == interrupted * 5

    report = stack.json("download", str(session), db=db)[0]
    assert report["offset"] == interrupted and report["messages"] == BIG_SESSION_MESSAGES - interrupted
    assert report["available"] is True
    _check_complete(str(db), session, sums)
    print(f"\nresumed download: {report['messages']} messages at {report['rate_per_s']:.0f} msg/s (SQLite)")


def test_download_into_postgresql(stack: Stack, big_session: tuple[int, dict[str, float]]) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    from tests.postgres_fixtures import postgres_url

    base = postgres_url()  # skips, saying why, without BLITZ_TEST_POSTGRES_URL
    schema = f"blitz_client_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, poolclass=NullPool)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    try:
        session, sums = big_session
        report = stack.json("download", str(session), db=url)[0]
        assert report["messages"] == BIG_SESSION_MESSAGES and report["available"] is True
        _check_complete(url, session, sums)
        print(f"\ndownload: {report['messages']} messages at {report['rate_per_s']:.0f} msg/s (PostgreSQL)")
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _one_line_error(result: Any, fragment: str) -> None:
    assert result.returncode == 1, result.stdout
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("Error: ") and fragment in result.stderr, result.stderr


def test_cli_errors_are_one_line_with_exit_code_1(stack: Stack, tmp_path: Path) -> None:
    db = tmp_path / "errors.db"
    _one_line_error(stack.blitz("download", "9999", db=db), "no session 9999")
    _one_line_error(stack.blitz("status", env=stack.env(BLITZ_TOKEN="wrong")), "wrong token")
    _one_line_error(stack.blitz("sessions", env=stack.env(BLITZ_TOKEN="")), "authentication required")
    _one_line_error(stack.blitz("stop"), "no session is running")
    _one_line_error(stack.blitz("command", "0c", "0881"), "no board 0c")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
        _one_line_error(stack.blitz("status", env=stack.env(BLITZ_PORT=port)), "cannot connect")
    assert stack.blitz("boards").returncode == 0  # the server is fine after all that
