"""The console against a REAL logger: `blitz server` with simulated boards, start/stop, live, sync, download, delete."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from blitz.boards import load_boards
from blitz.client.blocking import Client
from blitz.data.client_database import DatabaseClient
from blitz.data.models import Reading, Session
from blitz.data.redis_process import EmbeddedRedis
from blitz.web.app import LoggerAddress

from tests.client.stack import Stack, wait_for
from tests.web.conftest import ConsoleFactory, RunningConsole
from tests.web.harness import EventStream

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

TOKEN = "web-logger-token"
BOARDS = load_boards(entry_points=False)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A private redis-server, `blitz simulate` (Basic + Motor) and `blitz server`, for this module."""
    redis_dir = tempfile.mkdtemp(prefix="blitz-web-")  # short: unix socket paths are limited
    redis = EmbeddedRedis(redis_dir, appendonly=False)
    url = redis.start()
    running = Stack(tmp_path_factory.mktemp("stack"), url, TOKEN)
    try:
        running.start(rate_hz=100.0)
        yield running
    finally:
        running.stop()
        redis.stop()
        shutil.rmtree(redis_dir, ignore_errors=True)


@pytest.fixture
def online(make_console: ConsoleFactory, stack: Stack) -> RunningConsole:
    """A console connected to the real logger (STATUS every 0.3 s)."""
    running = make_console(logger=LoggerAddress("127.0.0.1", stack.port, TOKEN), poll_s=0.3, retry_s=0.3)
    wait_for(lambda: running.client.get("/api/status").json()["logger"]["connected"], "the console to connect")
    return running


def logger_client(stack: Stack) -> Client:
    return Client("127.0.0.1", stack.port, token=TOKEN, timeout=10)


def finished_job(running: RunningConsole, session: int) -> dict:
    """Poll the download job of `session` until it is no longer running."""

    def finished() -> dict | None:
        job = running.client.get(f"/api/downloads/{session}").json()
        return job if job["state"] != "running" else None

    return wait_for(finished, f"the download of session {session} to end")


def test_status_shows_the_logger_and_its_boards_with_rates(online: RunningConsole) -> None:
    def rated() -> dict | None:
        logger = online.client.get("/api/status").json()["logger"]
        boards = logger["boards"]
        return logger if len(boards) == 2 and all(b["rate_per_s"] is not None for b in boards) else None

    logger = wait_for(rated, "two polls' worth of board rates")
    assert logger["connected"] is True and logger["error"] is None
    assert sorted(b["id"] for b in logger["boards"]) == [8, 9]
    assert all(b["state"] == "ok" for b in logger["boards"])
    assert logger["status"]["redis"]["ok"] is True


def test_start_live_and_stop_from_the_api(online: RunningConsole, stack: Stack) -> None:
    stream = EventStream(online.client.port)
    try:
        started = online.client.post("/api/logger/start")
        assert started.status == 200, started.text
        session = started.json()["session"]
        assert started.json()["new"] is True
        again = online.client.post("/api/logger/start").json()
        assert again == {"session": session, "new": False}
        with logger_client(stack) as client:
            assert client.logging() == session
        batches = wait_for(lambda: len(stream.of("live")) >= 3 and stream.of("live"), "live batches")
        names = set().union(*(batch["variables"] for batch in batches))
        assert {"adc_channel_one", "raw_adc", "set_point"} <= names
        assert all(batch["session"] == session for batch in batches)
        logging = wait_for(lambda: [s for s in stream.of("logger") if s["status"] and s["status"]["logging"]],
                           "a logger event while logging")
        assert logging[-1]["status"]["session"] == session
        stopped = online.client.post("/api/logger/stop")
        assert stopped.status == 200 and stopped.json() == {"session": session}
        with logger_client(stack) as client:
            assert client.logging() is None
        refused = online.client.post("/api/logger/stop")
        assert refused.status == 409 and "no session is running" in refused.json()["error"]
        notes = wait_for(lambda: [n for n in online.client.get("/api/notifications").json()["logger"]
                                  if f"session {session}" in n["text"]], "the logger's notifications")
        assert notes and all({"time_ms", "severity", "text"} <= set(n) for n in notes)
        assert any(f"session {session}" in note["text"] for note in stream.of("note"))  # pushed as they came
    finally:
        stream.close()


def test_sync_download_and_delete_a_real_session(online: RunningConsole, stack: Stack,
                                                 web_database: DatabaseClient) -> None:
    session = online.client.post("/api/logger/start").json()["session"]
    wait_for(lambda: online.client.get("/api/status").json()["logger"]["status"]["session_messages"] > 150,
             "some messages")
    online.client.post("/api/logger/stop")
    with logger_client(stack) as client:
        raw = [line for chunk in client.iter_download(session) for line in chunk]
        messages = {s.id: s.messages for s in client.sessions()}[session]
    assert len(raw) == messages
    expected_readings = sum(len(BOARDS[int(line[:2], 16)].variables) for line in raw)

    synced = online.client.post("/api/sessions/sync")
    assert synced.status == 200, synced.text
    listed = {s["id"]: s for s in synced.json()["sessions"]}
    assert listed[session]["messages"] == messages and listed[session]["downloaded"] is False

    started = online.client.post(f"/api/sessions/{session}/download")
    assert started.status == 202 and started.json()["started"] is True
    job = finished_job(online, session)
    assert job["state"] == "done", job
    assert (job["done"], job["total"], job["percent"]) == (messages, messages, 100.0)
    assert job["readings"] == expected_readings and job["available"] is True
    assert len(web_database.find(Reading, {"session_id": session})) == expected_readings
    row = web_database.get(Session, {"ref_id": session})
    assert row.available and row.downloaded_messages == messages
    again = online.client.post(f"/api/sessions/{session}/download")
    assert again.status == 202
    done_again = finished_job(online, session)
    assert done_again["state"] == "done" and done_again["percent"] == 100.0
    assert len(web_database.find(Reading, {"session_id": session})) == expected_readings  # nothing twice

    deleted = online.client.post(f"/api/sessions/{session}/delete", {"scope": "everywhere"})
    assert deleted.status == 200, deleted.text
    assert deleted.json() == {"deleted": session, "scope": "everywhere", "deleted_on_logger": True}
    with logger_client(stack) as client:
        assert session not in {s.id for s in client.sessions()}
    assert web_database.get(Session, {"ref_id": session}) is None
    assert web_database.find(Reading, {"session_id": session}) == []
    missing = online.client.post(f"/api/sessions/{session}/download")
    assert missing.status == 202
    failed = finished_job(online, session)
    assert failed["state"] == "failed" and f"no session {session}" in failed["error"]


def test_a_wrong_logger_token_is_reported(make_console: ConsoleFactory, stack: Stack) -> None:
    running = make_console(logger=LoggerAddress("127.0.0.1", stack.port, "wrong"), retry_s=0.3)
    def refused() -> dict | None:
        logger = running.client.get("/api/status").json()["logger"]
        return logger if "token" in (logger["error"] or "") else None

    logger = wait_for(refused, "the AUTH refusal")
    assert logger["connected"] is False
    assert running.client.post("/api/logger/start").status == 503
    time.sleep(1.5)  # several more attempts, 0.3 s apart
    assert established_to(stack.port) <= 1, "each refused attempt must close its connection"


def established_to(port: int) -> int:
    """Established loopback TCP connections whose server side is `port` (from /proc/net/tcp)."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].split(":")[1], 16)
        if local_port == port and fields[3] == "01":
            count += 1
    return count
