"""Move old sessions out of the local database into JSON files: export, verify the file, then delete.

A session's readings are deleted only after its file is fully written,
synced to disk, parsed back and found to hold exactly the readings that
were read from the database (same count per variable, same digest).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from sqlalchemy import Connection, Engine, delete, exists, select

from blitz.data.browse import load_session
from blitz.data.export import snapshot, write_json
from blitz.data.importer import ImportFileError, scan_session_file
from blitz.data.models import Reading, Session
from blitz.errors import BlitzError

__all__ = [
    "ArchiveError",
    "ArchiveReport",
    "ArchivedSession",
    "archive_old_sessions",
    "archive_path",
    "archive_session",
    "find_old_sessions",
]

DAY_MS = 86_400_000


class ArchiveError(BlitzError):
    """A session could not be archived; it stays in the database untouched."""


@dataclass(frozen=True)
class ArchivedSession:
    """One session moved to `path`."""

    ref_id: int
    path: Path
    readings: int


@dataclass
class ArchiveReport:
    """Sessions archived, and those that failed with the reason (they were not deleted)."""

    archived: list[ArchivedSession] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)


def find_old_sessions(conn: Connection, older_than_days: float, now_ms: int) -> list[tuple[int, int]]:
    """(ref_id, time_started) of finished sessions with stored readings that started before now - days."""
    if older_than_days < 0:
        raise ArchiveError(f"--older-than: expected a number of days >= 0, got {older_than_days}")
    cutoff = now_ms - int(older_than_days * DAY_MS)
    statement = (
        select(Session.ref_id, Session.time_started)
        .where(
            Session.time_started.is_not(None),
            Session.time_started < cutoff,
            Session.time_stopped.is_not(None),
            exists().where(Reading.session_id == Session.ref_id),
        )
        .order_by(Session.ref_id)
    )
    return [(int(ref), int(started or 0)) for ref, started in conn.execute(statement)]


def archive_path(folder: Path, ref_id: int, time_started: Optional[int]) -> Path:
    """`session-<ref_id>-<start, UTC>.json` in `folder` (numbers repeat across loggers; start times rarely)."""
    if time_started is None:
        return folder / f"session-{ref_id}.json"
    moment = datetime.fromtimestamp(time_started / 1000, tz=timezone.utc)
    return folder / f"session-{ref_id}-{moment:%Y%m%dT%H%M%SZ}.json"


def archive_session(engine: Engine, ref_id: int, folder: str | Path) -> ArchivedSession:
    """Export session `ref_id` to a JSON file in `folder`, verify it, then delete the session here."""
    target_folder = Path(folder)
    try:
        target_folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ArchiveError(f"cannot create the archive folder {target_folder} ({exc.strerror})") from exc
    with snapshot(engine) as conn:
        overview = load_session(conn, ref_id)
        path = archive_path(target_folder, ref_id, overview.time_started)
        partial = path.with_name(path.name + ".partial")
        try:
            with open(partial, "w", encoding="utf-8", newline="") as out:
                summary = write_json(conn, overview, out)
                out.flush()
                os.fsync(out.fileno())
            meta, digest = scan_session_file(partial)
            if meta.ref_id != ref_id or meta.counts != summary.counts or digest != summary.digest:
                raise ArchiveError(f"session {ref_id}: {partial} does not read back as written; nothing deleted")
            if path.exists():
                if not _holds(path, digest):
                    raise ArchiveError(
                        f"session {ref_id}: {path} already exists and holds other data; move it away first"
                    )
                partial.unlink()
            else:
                os.replace(partial, path)
                _sync_folder(target_folder)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise ArchiveError(f"session {ref_id}: cannot write {partial} ({exc.strerror}); nothing deleted") from exc
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    with engine.begin() as conn:
        deleted = conn.execute(delete(Reading).where(Reading.session_id == ref_id)).rowcount
        if deleted != summary.readings:
            raise ArchiveError(
                f"session {ref_id} changed while it was archived ({summary.readings} readings written, "
                f"{deleted} stored now); nothing deleted, {path} kept"
            )
        conn.execute(delete(Session).where(Session.ref_id == ref_id))
    return ArchivedSession(ref_id, path, summary.readings)


def _holds(path: Path, digest: str) -> bool:
    """Whether `path` is a readable export whose readings have `digest` (an earlier, interrupted run)."""
    try:
        return scan_session_file(path)[1] == digest
    except ImportFileError:
        return False


def _sync_folder(folder: Path) -> None:
    """Make the rename durable where the platform allows it (POSIX)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def archive_old_sessions(
    engine: Engine,
    older_than_days: float,
    folder: str | Path,
    now_ms: int,
    progress: Callable[[str], None] = lambda line: None,
) -> ArchiveReport:
    """Archive every finished session that started more than `older_than_days` before `now_ms`.

    A failure leaves that session in the database and the others still go.
    """
    with engine.connect() as conn:
        candidates = find_old_sessions(conn, older_than_days, now_ms)
    report = ArchiveReport()
    for ref_id, _started in candidates:
        try:
            done = archive_session(engine, ref_id, folder)
        except BlitzError as exc:
            report.failed.append((ref_id, str(exc)))
            progress(f"session {ref_id}: not archived: {exc}")
            continue
        report.archived.append(done)
        progress(f"session {ref_id}: {done.readings} readings -> {done.path}")
    return report
