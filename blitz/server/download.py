"""Stream one stored session to one connection in bounded chunks (DOWNLOAD).

Flow control: the connection's protocol is registered on its transport as a
streaming producer (IPushProducer) for the connection's whole life, and
forwards the transport's pauseProducing/resumeProducing/stopProducing to the
`DownloadStream` it is running.  The stream reads one chunk of `chunk_lines`
lines from `Logger.read_session`, writes it as one buffer, and only reads the
next chunk on a later reactor turn while not paused.  So the server holds at
most one chunk plus the transport's write buffer (about 64 KiB before it
pauses us) per download, however slow the client, and several downloads and
connections share the reactor fairly.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

from twisted.internet.defer import Deferred

from blitz.server.interfaces import Logger


class Clock(Protocol):
    """What this module needs of a reactor: IReactorTime.callLater (task.Clock in tests)."""

    def callLater(self, delay: float, callable: Callable[..., object], *args: object,
                  **kw: object) -> Any: ...

    def seconds(self) -> float: ...

#: Lines read from the Logger per step; ~30 bytes each, so ~15 KiB per chunk.
DEFAULT_CHUNK_LINES = 500


def data_block(lines: list[bytes]) -> bytes:
    """One `+<line>\\n` per raw line; a stray CR or LF inside a line becomes a space."""
    out = []
    for line in lines:
        if b"\n" in line or b"\r" in line:
            line = line.replace(b"\r", b" ").replace(b"\n", b" ")
        out.append(b"+" + line + b"\n")
    return b"".join(out)


class DownloadStream:
    """Send the lines of one session from an offset, chunk by chunk.

    `start()` reads the first chunk at once, so an unknown session fails
    before any data line is written.  The returned Deferred fires with
    `(messages sent, next offset)` when a chunk comes back short, or fails
    with the Logger's exception (e.g. StorageUnavailable mid-stream).
    """

    def __init__(
        self,
        logger: Logger,
        session_id: int,
        offset: int,
        write: Callable[[bytes], None],
        clock: Clock,
        chunk_lines: int = DEFAULT_CHUNK_LINES,
    ) -> None:
        if chunk_lines < 1:
            raise ValueError(f"chunk_lines must be at least 1, got {chunk_lines}")
        self._logger = logger
        self._session_id = session_id
        self._offset = offset
        self._write = write
        self._clock = clock
        self._chunk_lines = chunk_lines
        self._paused = False
        self._stopped = False
        self._next_step: Any = None
        self._done: Deferred[tuple[int, int]] = Deferred()
        self.sent = 0
        self.chunks_read = 0

    @property
    def next_offset(self) -> int:
        """The offset of the first line not sent yet."""
        return self._offset + self.sent

    def start(self) -> Deferred[tuple[int, int]]:
        """Send the first chunk now and the rest as the client reads them."""
        self._step()
        return self._done

    def pause(self) -> None:
        """The client is behind: read nothing more until `resume`."""
        self._paused = True
        self._cancel_step()

    def resume(self) -> None:
        """The client caught up: carry on with the next chunk on a later turn."""
        self._paused = False
        self._schedule()

    def stop(self) -> None:
        """The connection is gone: stop for good; the Deferred never fires."""
        self._stopped = True
        self._cancel_step()

    def _schedule(self) -> None:
        if self._stopped or self._paused or self._done.called or self._next_step is not None:
            return
        self._next_step = self._clock.callLater(0, self._step)

    def _cancel_step(self) -> None:
        if self._next_step is not None and self._next_step.active():
            self._next_step.cancel()
        self._next_step = None

    def _step(self) -> None:
        self._next_step = None
        if self._stopped or self._paused or self._done.called:
            return
        try:
            lines = self._logger.read_session(self._session_id, self.next_offset, self._chunk_lines)
        except Exception as error:  # handed to the protocol, which maps or logs it
            self._done.errback(error)
            return
        self.chunks_read += 1
        if lines:
            self.sent += len(lines)
            self._write(data_block(lines))
        if len(lines) < self._chunk_lines:
            self._done.callback((self.sent, self.next_offset))
            return
        self._schedule()
