"""Archiving: old sessions go to verified JSON files and leave the database; nothing else is touched."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from blitz.data.archive import ArchiveError, archive_old_sessions, archive_path, find_old_sessions
from blitz.data.browse import SessionNotDownloaded, SessionNotFound, load_session, session_stats
from blitz.data.database import DatabaseClient
from blitz.data.export import export_session
from blitz.data.importer import import_session, scan_session_file
from blitz.data.models import Session
from tests.client.browse_fixtures import DAY_MS, START_MS, StoredSession, filled, sessions, store  # noqa: F401

NOW_MS = START_MS + 10 * DAY_MS  # session 1 is 10 days old, session 2 is 7 days old


def _json(client: DatabaseClient, ref_id: int) -> str:
    out = io.StringIO()
    with client.engine.connect() as conn:
        export_session(conn, ref_id, out, "json")
    return out.getvalue()


def test_only_finished_sessions_with_readings_older_than_the_limit_qualify(filled: DatabaseClient) -> None:
    with filled.engine.connect() as conn:
        assert find_old_sessions(conn, 8, NOW_MS) == [(1, START_MS)]
        assert [ref for ref, _ in find_old_sessions(conn, 0, NOW_MS)] == [1, 2]  # 3 has nothing stored
        with pytest.raises(ArchiveError, match=">= 0"):
            find_old_sessions(conn, -1, NOW_MS)


def test_archive_writes_a_verified_file_and_removes_only_that_session(
    filled: DatabaseClient, sessions: list[StoredSession], tmp_path: Path
) -> None:
    expected_file = _json(filled, 1)
    with filled.engine.connect() as conn:
        stats_two = session_stats(conn, load_session(conn, 2))
    progress: list[str] = []
    report = archive_old_sessions(filled.engine, 8, tmp_path / "old", NOW_MS, progress=progress.append)
    assert report.failed == []
    (done,) = report.archived
    assert done.path == tmp_path / "old" / "session-1-20231114T221320Z.json"
    assert done.readings == sessions[0].readings
    assert done.path.read_text(encoding="utf-8") == expected_file
    assert scan_session_file(done.path)[0].readings_count == 1500
    assert list((tmp_path / "old").iterdir()) == [done.path]  # no partial file left behind
    assert progress == [f"session 1: 1500 readings -> {done.path}"]
    with filled.engine.connect() as conn:
        with pytest.raises(SessionNotFound):
            load_session(conn, 1)
        assert session_stats(conn, load_session(conn, 2)) == stats_two
        with pytest.raises(SessionNotDownloaded):
            load_session(conn, 3)
    assert filled.get(Session, {"ref_id": 1}) is None


def test_an_archived_session_imports_back_unchanged(filled: DatabaseClient, tmp_path: Path) -> None:
    before = _json(filled, 2)
    report = archive_old_sessions(filled.engine, 0, tmp_path, NOW_MS)
    assert [a.ref_id for a in report.archived] == [1, 2]
    import_session(filled.engine, report.archived[1].path)
    assert _json(filled, 2) == before


def test_a_clashing_file_keeps_the_session_and_a_matching_one_is_reused(
    filled: DatabaseClient, tmp_path: Path
) -> None:
    target = archive_path(tmp_path, 1, START_MS)
    target.write_text('{"other": "data"}', encoding="utf-8")
    report = archive_old_sessions(filled.engine, 8, tmp_path, NOW_MS)
    assert report.archived == [] and report.failed and report.failed[0][0] == 1
    assert "already exists and holds other data" in report.failed[0][1]
    assert target.read_text(encoding="utf-8") == '{"other": "data"}'
    with filled.engine.connect() as conn:
        assert load_session(conn, 1).ref_id == 1  # still there
    target.write_text(_json(filled, 1), encoding="utf-8")  # as if a run died between rename and delete
    report = archive_old_sessions(filled.engine, 8, tmp_path, NOW_MS)
    assert [a.path for a in report.archived] == [target]
    with filled.engine.connect() as conn, pytest.raises(SessionNotFound):
        load_session(conn, 1)


def test_running_sessions_are_never_archived(store: DatabaseClient) -> None:
    store.update_session_list([[6, START_MS, None, 1]])
    store.add_readings_bulk(6, [1, 2], [store.get_or_create_category("x")] * 2, [1.0, 2.0], messages=1)
    with store.engine.connect() as conn:
        assert find_old_sessions(conn, 0, NOW_MS) == []


def test_an_unwritable_folder_archives_nothing_and_deletes_nothing(filled: DatabaseClient, tmp_path: Path) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the folder should be", encoding="utf-8")
    report = archive_old_sessions(filled.engine, 0, blocked, NOW_MS)
    assert report.archived == [] and [ref for ref, _ in report.failed] == [1, 2]
    assert "cannot create the archive folder" in report.failed[0][1]
    with filled.engine.connect() as conn:
        assert [load_session(conn, ref).ref_id for ref in (1, 2)] == [1, 2]
