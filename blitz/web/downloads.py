"""Session downloads started from the console: the real download pipeline in a worker thread.

Each job runs `blitz.client.download.Downloader` with its own blocking client;
its progress callback updates the job, which pages poll for the progress bar.
One job per session at a time; a finished job stays visible until the next.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping, Optional, Protocol

from twisted.internet.defer import Deferred
from twisted.python import log
from twisted.python.failure import Failure

from blitz.boards.definition import Board
from blitz.client.download import Downloader, DownloadProgress, SessionSource, SessionStore

__all__ = ["DownloadJob", "DownloadJobs"]


class ClosableSource(SessionSource, Protocol):
    """A session source that holds a connection (the blocking `Client`)."""

    def close(self) -> None: ...


RunInThread = Callable[..., "Deferred[Any]"]


@dataclass
class DownloadJob:
    """Where one session's download is: `state` is running, done or failed."""

    session: int
    state: str = "running"
    done: int = 0
    total: int = 0
    percent: float = 0.0
    rate_per_s: float = 0.0
    readings: int = 0
    available: bool = False
    error: Optional[str] = None

    def to_json(self) -> dict[str, Any]:
        """The job as the page's JSON."""
        return asdict(self)


class DownloadJobs:
    """Start downloads in threads and report their progress."""

    def __init__(
        self,
        run_in_thread: RunInThread,
        make_client: Callable[[], ClosableSource],
        database: SessionStore,
        boards: Mapping[int, Board],
        on_change: Optional[Callable[[dict[str, Any]], None]] = None,
    ) -> None:
        self._run = run_in_thread
        self._make_client = make_client
        self._database = database
        self._boards = boards
        self._on_change = on_change
        self._lock = threading.Lock()
        self._jobs: dict[int, DownloadJob] = {}

    def jobs(self) -> list[dict[str, Any]]:
        """Every job, newest session first."""
        with self._lock:
            return [job.to_json() for _, job in sorted(self._jobs.items(), reverse=True)]

    def job(self, session_id: int) -> Optional[dict[str, Any]]:
        """The job of one session, or None."""
        with self._lock:
            job = self._jobs.get(session_id)
            return job.to_json() if job is not None else None

    def start(self, session_id: int) -> tuple[dict[str, Any], bool]:
        """Start downloading `session_id` unless it already is; returns (job, started now)."""
        with self._lock:
            current = self._jobs.get(session_id)
            if current is not None and current.state == "running":
                return current.to_json(), False
            job = self._jobs[session_id] = DownloadJob(session_id)
            snapshot = job.to_json()
        finished = self._run(self._download, job)
        finished.addErrback(self._crashed, job)
        return snapshot, True

    def _download(self, job: DownloadJob) -> None:
        """The worker thread's part: one client, the real Downloader, progress into the job."""
        client = self._make_client()
        try:
            downloader = Downloader(client, self._database, self._boards)
            try:
                report = downloader.download(job.session, progress=lambda p: self._progress(job, p))
            except Exception as exc:  # any failure ends the job with its message
                self._update(job, state="failed", error=" ".join(str(exc).split()) or type(exc).__name__)
                return
            done = report.offset + report.messages
            total = max(report.total, done)
            self._update(
                job,
                state="done",
                done=done,
                total=total,
                percent=100.0 if total == 0 or done >= total else round(100.0 * done / total, 1),
                readings=report.readings,
                available=report.available,
            )
        finally:
            client.close()

    def _progress(self, job: DownloadJob, progress: DownloadProgress) -> None:
        percent = 100.0 * progress.done / progress.total if progress.total else 100.0
        self._update(
            job,
            done=progress.done,
            total=progress.total,
            percent=round(min(percent, 100.0), 1),
            rate_per_s=round(progress.rate_per_s, 1),
        )

    def _update(self, job: DownloadJob, **changes: Any) -> None:
        with self._lock:
            for name, value in changes.items():
                setattr(job, name, value)
            snapshot = job.to_json()
        if self._on_change is not None:
            self._on_change(snapshot)

    def _crashed(self, failure: Failure, job: DownloadJob) -> None:
        log.err(failure, f"blitz ui: download of session {job.session} crashed")
        self._update(job, state="failed", error=failure.getErrorMessage())
