"""The download pipeline into every SQL backend, over loopback TCP to the scripted server."""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterator

import pytest

from blitz.boards import BlitzBasicBoard, MotorBoard, load_boards
from blitz.client.blocking import Client
from blitz.client.download import Downloader, DownloadProgress
from blitz.client.errors import UnknownSession
from blitz.data.database import DatabaseClient
from blitz.data.models import Notification, Session

from tests.client.conftest import basic_lines, mixed_lines
from tests.client.scripted_server import ScriptedServer

BOARDS = load_boards(entry_points=False)


@pytest.fixture
def database(database_client: DatabaseClient) -> DatabaseClient:
    """Every backend: ":memory:", a SQLite file, and PostgreSQL when BLITZ_TEST_POSTGRES_URL is set."""
    return database_client


@pytest.fixture
def client(server: ScriptedServer) -> Iterator[Client]:
    with Client("127.0.0.1", server.port, timeout=5, backoff_s=0.01) as blocking:
        yield blocking


def expected_rows(lines: list[str]) -> Counter[tuple[int, str, float]]:
    """(time, variable, value) of every reading, decoded one line at a time."""
    boards = {0x08: BlitzBasicBoard(), 0x09: MotorBoard()}
    rows: Counter[tuple[int, str, float]] = Counter()
    for line in lines:
        board = boards[int(line[:2], 16)]
        for name, value in board.decode(line).items():
            rows[(int(line[4:12], 16), name, float(value))] += 1
    return rows


def stored_rows(db: DatabaseClient, session_id: int) -> Counter[tuple[int, str, float]]:
    names = {c.id: c.variable_name for c in db.get_session_variables(session_id)}
    return Counter((r.time_logged, names[r.category_id], r.value) for r in db.get_session_readings(session_id))


def test_a_session_is_stored_exactly(server: ScriptedServer, client: Client, database: DatabaseClient) -> None:
    lines = mixed_lines(1001)
    session = server.add_session(lines)
    seen: list[DownloadProgress] = []
    report = Downloader(client, database, BOARDS, chunk_messages=100).download(session, seen.append)
    assert report.messages == 1001 and report.offset == 0 and report.available
    assert report.readings == 501 * 5 + 500 * 3
    assert stored_rows(database, session) == expected_rows(lines)
    assert database.stored_messages(session) == 1001
    assert [p.done for p in seen] == [*range(100, 1001, 100), 1001]
    assert seen[-1].total == 1001 and seen[-1].eta_s == 0 and seen[-1].rate_per_s > 0


def test_an_interrupted_download_resumes_without_duplicates(
        server: ScriptedServer, client: Client, database: DatabaseClient) -> None:
    lines = basic_lines(950)
    session = server.add_session(lines)
    real_bulk = database.add_readings_bulk
    calls = {"n": 0}

    def failing_bulk(*args: Any, **kwargs: Any) -> int:
        calls["n"] += 1
        if calls["n"] == 4:
            raise OSError("disk unplugged")
        return real_bulk(*args, **kwargs)

    database.add_readings_bulk = failing_bulk  # type: ignore[method-assign]
    with pytest.raises(OSError, match="disk unplugged"):
        Downloader(client, database, BOARDS, chunk_messages=100).download(session)
    assert database.stored_messages(session) == 300
    assert len(database.get_session_readings(session)) == 300 * 5
    assert not database.find(Session, {"ref_id": session})[0].available

    database.add_readings_bulk = real_bulk  # type: ignore[method-assign]
    report = Downloader(client, database, BOARDS, chunk_messages=100).download(session)
    assert report.offset == 300 and report.messages == 650 and report.available
    assert stored_rows(database, session) == expected_rows(lines)
    assert [c for c in server.received if c.startswith("DOWNLOAD")] == ["DOWNLOAD 1 0", "DOWNLOAD 1 300"]


def test_broken_connections_do_not_duplicate(server: ScriptedServer, client: Client,
                                             database: DatabaseClient) -> None:
    lines = basic_lines(700)
    session = server.add_session(lines)
    server.break_download_after = [123, 456]
    report = Downloader(client, database, BOARDS, chunk_messages=100).download(session)
    assert report.messages == 700 and report.available
    assert stored_rows(database, session) == expected_rows(lines)


def test_a_complete_session_is_not_downloaded_again(server: ScriptedServer, client: Client,
                                                    database: DatabaseClient) -> None:
    session = server.add_session(basic_lines(10))
    downloader = Downloader(client, database, BOARDS)
    downloader.download(session)
    again = downloader.download(session)
    assert again.skipped and again.available and again.messages == 0
    assert sum(c.startswith("DOWNLOAD") for c in server.received) == 1
    assert len(database.get_session_readings(session)) == 50


def test_a_running_session_continues_where_it_stopped(server: ScriptedServer, client: Client,
                                                      database: DatabaseClient) -> None:
    lines = basic_lines(40)
    session = server.add_session(lines[:25], running=True)
    downloader = Downloader(client, database, BOARDS, chunk_messages=10)
    first = downloader.download(session)
    assert first.messages == 25
    for line in lines[25:]:
        server.push(line)
    server.answer("STOP")
    downloader.sync_sessions()
    assert not database.find(Session, {"ref_id": session})[0].available
    second = downloader.download(session)
    assert second.offset == 25 and second.messages == 15 and second.available
    assert stored_rows(database, session) == expected_rows(lines)


def test_download_all_skips_the_running_session(server: ScriptedServer, client: Client,
                                                database: DatabaseClient) -> None:
    done = [server.add_session(basic_lines(5)), server.add_session(mixed_lines(6))]
    running = server.add_session(basic_lines(3), running=True)
    reports = Downloader(client, database, BOARDS).download_all()
    assert [r.session_id for r in reports] == done
    assert database.stored_messages(running) == 0
    assert all(r.available for r in reports)


def test_bad_lines_and_unknown_boards_are_counted_and_reported(
        server: ScriptedServer, client: Client, database: DatabaseClient) -> None:
    lines = basic_lines(10)
    lines[3] = "08zz" + lines[3][4:]
    lines[6] = "7f" + lines[6][2:]
    session = server.add_session(lines)
    report = Downloader(client, database, BOARDS).download(session)
    assert report.messages == 10 and report.readings == 8 * 5 and report.available
    assert report.bad_lines == 1 and "position 2" in report.first_error
    assert report.unknown == {0x7F: 1}
    notes = [n.description for n in database.all(Notification)]
    assert any("1 malformed line" in n for n in notes)
    assert any("unknown boards" in n and "7f (1 lines)" in n for n in notes)


def test_an_unknown_session_is_an_error(client: Client, database: DatabaseClient) -> None:
    with pytest.raises(UnknownSession, match="no session 42"):
        Downloader(client, database, BOARDS).download(42)


def test_chunk_size_must_be_positive(client: Client, database: DatabaseClient) -> None:
    with pytest.raises(ValueError, match="chunk_messages"):
        Downloader(client, database, BOARDS, chunk_messages=0)
