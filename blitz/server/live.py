"""Push one connection's LIVE subscription as `!` lines, with a bounded backlog.

While the connection's transport accepts data, every line of every LiveBatch
is written at once as `!LIVE <session id> <raw line>`, and every notification
as `!NOTE <ms epoch> <severity> <text>`.  When the transport asks us to pause
(its write buffer is full: the client reads too slowly), push lines go to a
queue of at most `max_queued_lines`; when it is full, the oldest queued line
is dropped and counted.  On resume the server first writes
`!DROPPED <count>` (the number of push lines lost at that point of the
stream) and then the queue.  Memory per connection is thus bounded by the
transport buffer plus `max_queued_lines` lines.
"""

from __future__ import annotations

from collections import deque
from typing import Callable

from twisted.logger import Logger as EventLogger

from blitz.server.interfaces import LiveBatch, Logger, Notification

#: About 2 s of four fast boards; ~100 bytes each in memory, so ~200 KiB worst case.
DEFAULT_MAX_QUEUED_LINES = 2048


def live_line(session_id: int, line: str) -> bytes:
    """The push line for one logged line."""
    return _one_line(f"!LIVE {session_id} {line}")


def note_line(note: Notification) -> bytes:
    """The push line for one notification."""
    return _one_line(f"!NOTE {note.time_ms} {note.severity} {note.text}")


def _one_line(text: str) -> bytes:
    return text.replace("\r", " ").replace("\n", " ").encode("utf-8", "replace")


class LiveFeed:
    """One connection's LIVE ON/OFF state and its bounded push queue."""

    def __init__(
        self,
        logger: Logger,
        write_line: Callable[[bytes], None],
        max_queued_lines: int = DEFAULT_MAX_QUEUED_LINES,
    ) -> None:
        """`write_line` sends one line (without LF) to the client."""
        if max_queued_lines < 1:
            raise ValueError(f"max_queued_lines must be at least 1, got {max_queued_lines}")
        self._logger = logger
        self._write_line = write_line
        self._queue: deque[bytes] = deque()
        self._max_queued_lines = max_queued_lines
        self._unsubscribe: Callable[[], None] | None = None
        self._paused = False
        self._dropped_unreported = 0
        self._log = EventLogger(namespace="blitz.server.live")
        self.dropped_total = 0

    @property
    def active(self) -> bool:
        """Whether LIVE is on."""
        return self._unsubscribe is not None

    @property
    def queued(self) -> int:
        """Push lines waiting for the client to catch up."""
        return len(self._queue)

    def turn_on(self) -> None:
        """Subscribe to the Logger (again calling it while on changes nothing)."""
        if self._unsubscribe is None:
            self._unsubscribe = self._logger.subscribe(self._on_batch, self._on_note)

    def turn_off(self) -> None:
        """Unsubscribe and forget anything not sent yet."""
        unsubscribe, self._unsubscribe = self._unsubscribe, None
        self._queue.clear()
        self._dropped_unreported = 0
        if unsubscribe is not None:
            unsubscribe()

    def pause(self) -> None:
        """The transport is full: queue push lines from now on."""
        self._paused = True

    def resume(self) -> None:
        """The transport drained: report drops, then flush the queue until paused again."""
        self._paused = False
        if self._dropped_unreported:
            count, self._dropped_unreported = self._dropped_unreported, 0
            self._write_line(f"!DROPPED {count}".encode("ascii"))
        while self._queue and not self._paused:
            self._write_line(self._queue.popleft())

    def _on_batch(self, batch: LiveBatch) -> None:
        # Called from the logging path: must never raise into it.
        try:
            for line in batch.lines:
                self._push(live_line(batch.session_id, line))
        except Exception:
            self._log.failure("could not push a live batch")

    def _on_note(self, note: Notification) -> None:
        try:
            self._push(note_line(note))
        except Exception:
            self._log.failure("could not push a notification")

    def _push(self, line: bytes) -> None:
        if self._unsubscribe is None:
            return
        if not self._paused and not self._queue and not self._dropped_unreported:
            self._write_line(line)
            return
        if len(self._queue) >= self._max_queued_lines:
            self._queue.popleft()
            self._dropped_unreported += 1
            self.dropped_total += 1
        self._queue.append(line)
