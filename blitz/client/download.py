"""The download pipeline: logger session lines to SQL readings, chunk by chunk, resumable.

SESSIONS refreshes the local session list; DOWNLOAD then streams the lines
from the count already stored onwards.  Each chunk of about 5,000 messages is
decoded with numpy and written with its message count in one transaction, so
an interrupted download continues exactly where it stopped and never stores a
message twice.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Protocol, Sequence

import numpy as np

from blitz.boards.chunk import decode_chunk
from blitz.boards.definition import Board
from blitz.client.errors import UnknownSession
from blitz.client.reply_parser import DownloadResult, SessionInfo

DEFAULT_CHUNK_MESSAGES = 5000


class SessionSource(Protocol):
    """What the pipeline needs from a client (the blocking `Client` fits)."""

    def sessions(self) -> list[SessionInfo]: ...

    def download(self, session_id: int, offset: int = 0,
                 on_lines: Optional[Callable[[list[str]], None]] = None,
                 chunk_messages: int = DEFAULT_CHUNK_MESSAGES) -> DownloadResult: ...


class SessionStore(Protocol):
    """What the pipeline needs from the SQL store (`DatabaseClient` fits)."""

    def update_session_list(self, sessions_list: Any) -> None: ...

    def stored_messages(self, session_id: int) -> int: ...

    def get_or_create_categories(self, names: Any) -> dict[str, int]: ...

    def add_readings_bulk(self, session_id: int, time_logged: Any, category_id: Any, value: Any,
                          messages: int = 0, stored_before: Optional[int] = None) -> int: ...

    def update_session_availability(self, session_id: int) -> bool: ...

    def log_error(self, description: str, severity: int = 1) -> Any: ...


@dataclass(frozen=True)
class DownloadProgress:
    """Where a running download is: messages stored of the logger's total."""

    session_id: int
    done: int
    total: int
    rate_per_s: float
    eta_s: Optional[float]


@dataclass
class DownloadReport:
    """What one session's download did."""

    session_id: int
    offset: int
    total: int
    messages: int = 0
    readings: int = 0
    bad_lines: int = 0
    first_error: str = ""
    unknown: dict[int, int] = field(default_factory=dict)
    available: bool = False
    seconds: float = 0.0
    skipped: bool = False

    @property
    def rate_per_s(self) -> float:
        """Messages stored per second in this run."""
        return self.messages / self.seconds if self.seconds > 0 else 0.0


ProgressCallback = Callable[[DownloadProgress], None]


class Downloader:
    """Download logger sessions into the SQL store with the given boards."""

    def __init__(self, client: SessionSource, database: SessionStore, boards: Mapping[int, Board],
                 chunk_messages: int = DEFAULT_CHUNK_MESSAGES, clock: Callable[[], float] = time.monotonic) -> None:
        if chunk_messages < 1:
            raise ValueError(f"expected chunk_messages >= 1, got {chunk_messages}")
        self.client = client
        self.database = database
        self.boards = boards
        self.chunk_messages = chunk_messages
        self._clock = clock
        self._category_ids: dict[str, int] = {}

    def sync_sessions(self) -> list[SessionInfo]:
        """Fetch SESSIONS and make it the local session list; returns it (newest first)."""
        sessions = self.client.sessions()
        self.database.update_session_list([[s.id, s.start_ms, s.end_ms, s.messages] for s in sessions])
        return sessions

    def download(self, session_id: int, progress: Optional[ProgressCallback] = None,
                 sessions: Optional[Sequence[SessionInfo]] = None) -> DownloadReport:
        """Store every message of the session not stored yet; returns a report.

        `sessions` is a list just fetched by `sync_sessions` (else it is fetched).
        """
        known = {s.id: s for s in (sessions if sessions is not None else self.sync_sessions())}
        info = known.get(int(session_id))
        if info is None:
            raise UnknownSession(f"DOWNLOAD {session_id}", 404, f"no session {session_id} on the logger")
        offset = self.database.stored_messages(info.id)
        report = DownloadReport(info.id, offset, info.messages)
        if info.end_ms is not None and offset >= info.messages:
            report.skipped = True
            report.available = self.database.update_session_availability(info.id)
            return report
        started = self._clock()
        last_timestamps: dict[int, int] = {}

        def store(lines: list[str]) -> None:
            self._store_chunk(info.id, lines, report, last_timestamps)
            if progress is not None:
                elapsed = max(self._clock() - started, 1e-9)
                rate = report.messages / elapsed
                done = offset + report.messages
                total = max(report.total, done)
                eta = (total - done) / rate if rate > 0 else None
                progress(DownloadProgress(info.id, done, total, rate, eta))

        try:
            self.client.download(info.id, offset, store, chunk_messages=self.chunk_messages)
        finally:
            report.seconds = self._clock() - started
            report.total = max(report.total, offset + report.messages)
            self._report_problems(report)
        report.available = self.database.update_session_availability(info.id)
        return report

    def download_all(self, progress: Optional[ProgressCallback] = None,
                     include_running: bool = False) -> list[DownloadReport]:
        """Download every session the logger holds (oldest first), skipping complete ones."""
        sessions = self.sync_sessions()
        reports = []
        for info in sorted(sessions, key=lambda s: s.id):
            if info.end_ms is None and not include_running:
                continue
            reports.append(self.download(info.id, progress, sessions))
        return reports

    def _category_array(self, names: list[str]) -> np.ndarray:
        missing = [name for name in names if name not in self._category_ids]
        if missing:
            self._category_ids.update(self.database.get_or_create_categories(missing))
        return np.asarray([self._category_ids[name] for name in names], dtype=np.int64)

    def _store_chunk(self, session_id: int, lines: list[str], report: DownloadReport,
                     last_timestamps: dict[int, int]) -> None:
        chunk = decode_chunk(lines, self.boards, last_timestamps)
        ids = self._category_array(chunk.names)
        category = ids[chunk.name_index] if len(chunk) else np.zeros(0, dtype=np.int64)
        # stored_before: a second download of the session running meanwhile makes this fail, not duplicate.
        report.readings += self.database.add_readings_bulk(
            session_id, chunk.time_logged, category, chunk.value, messages=len(lines),
            stored_before=report.offset + report.messages)
        report.messages += len(lines)
        if chunk.errors:
            report.bad_lines += len(chunk.errors)
            report.first_error = report.first_error or chunk.errors[0][1]
        for sender, count in chunk.unknown.items():
            report.unknown[sender] = report.unknown.get(sender, 0) + count

    def _report_problems(self, report: DownloadReport) -> None:
        """Record skipped lines as one notification per session download."""
        if report.bad_lines:
            self.database.log_error(
                f"session {report.session_id}: {report.bad_lines} malformed line(s) skipped "
                f"during download (first: {report.first_error})", severity=2)
        if report.unknown:
            boards = ", ".join(f"{sender:02x} ({count} lines)" for sender, count in sorted(report.unknown.items()))
            self.database.log_error(
                f"session {report.session_id}: lines of unknown boards skipped during download: {boards}; "
                f"add a board definition file and download again after 'blitz delete --local'", severity=2)


__all__ = [
    "DEFAULT_CHUNK_MESSAGES",
    "DownloadProgress",
    "DownloadReport",
    "Downloader",
    "ProgressCallback",
    "SessionSource",
    "SessionStore",
]
