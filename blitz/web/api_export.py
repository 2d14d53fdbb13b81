"""Export downloads that stream: a session as CSV (wide or long) or JSON, written while it is read.

    GET /api/sessions/{id}/export?format=csv|csv-long|json

`blitz.data.export` writes the file into a text stream in a worker thread;
`ResponseStream` is that stream: it hands each block of bytes to the reactor
and, registered as the response's producer, waits while the browser is slower
than the database, so memory stays flat whatever the session's size.
"""

from __future__ import annotations

import threading
from typing import Any, Optional

from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.interfaces import IPushProducer
from twisted.internet.threads import blockingCallFromThread
from twisted.python import log
from twisted.web.server import Request
from zope.interface import implementer  # type: ignore[import-untyped]

from blitz.data.browse import load_session
from blitz.data.export import FORMATS, export_session
from blitz.web.context import ConsoleContext, browse_errors
from blitz.web.http import STREAMING, Call, Route
from blitz.web.params import choice_param, session_id_arg

__all__ = ["ExportCancelled", "ResponseStream", "export_routes"]

BLOCK_BYTES = 64 * 1024
_CONTENT = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "csv-long": ("text/csv; charset=utf-8", "long.csv"),
    "json": ("application/json; charset=utf-8", "json"),
}


class ExportCancelled(Exception):
    """The browser went away; the export stops."""


@implementer(IPushProducer)
class ResponseStream:
    """A write-only text stream from a worker thread into an HTTP response, with flow control."""

    def __init__(self, reactor: Any, request: Request, block_bytes: int = BLOCK_BYTES) -> None:
        self._reactor = reactor
        self._request = request
        self._block_bytes = block_bytes
        self._parts: list[bytes] = []
        self._size = 0
        self._writable = threading.Event()
        self._writable.set()
        self._stopped = False
        self.bytes_sent = 0

    # IPushProducer, called in the reactor thread by the transport.
    def pauseProducing(self) -> None:
        self._writable.clear()

    def resumeProducing(self) -> None:
        self._writable.set()

    def stopProducing(self) -> None:
        self._stopped = True
        self._writable.set()

    # The text stream, called in the worker thread by the exporter.
    def write(self, text: str) -> int:
        """Queue `text`; full blocks go out at once."""
        data = text.encode("utf-8")
        self._parts.append(data)
        self._size += len(data)
        if self._size >= self._block_bytes:
            self.flush()
        return len(text)

    def flush(self) -> None:
        """Send what is queued, after waiting until the browser can take more."""
        if self._stopped:
            raise ExportCancelled("the browser closed the export")
        if not self._parts:
            return
        data, self._parts, self._size = b"".join(self._parts), [], 0
        while not self._writable.wait(timeout=1.0):
            if self._stopped:
                break
        if self._stopped:
            raise ExportCancelled("the browser closed the export")
        write: Any = self._request.write
        for offset in range(0, len(data), self._block_bytes):
            blockingCallFromThread(self._reactor, write, data[offset : offset + self._block_bytes])
        self.bytes_sent += len(data)


def export_routes(ctx: ConsoleContext) -> list[Route]:
    """GET /api/sessions/{id}/export, bound to `ctx`."""

    def check(session_id: int) -> None:
        with ctx.connection() as conn, browse_errors():
            load_session(conn, session_id)

    def write_file(session_id: int, fmt: str, stream: ResponseStream) -> Optional[str]:
        """Run the exporter into `stream`; returns why it failed, or None."""
        try:
            with ctx.connection() as conn:
                export_session(conn, session_id, stream, fmt)  # type: ignore[arg-type]
            stream.flush()
        except ExportCancelled:
            return "cancelled"
        except Exception as exc:
            log.err(None, f"blitz ui: export of session {session_id} failed")
            return str(exc) or type(exc).__name__
        return None

    @inlineCallbacks
    def export(call: Call) -> Any:
        call.allow_only("format")
        session_id = session_id_arg(call)
        fmt = choice_param(call, "format", FORMATS, "csv")
        yield ctx.run(check, session_id)
        request = call.request
        if getattr(request, "_disconnected", False):
            return STREAMING
        content_type, suffix = _CONTENT[fmt]
        request.setHeader(b"content-type", content_type.encode("ascii"))
        request.setHeader(
            b"content-disposition", f'attachment; filename="blitz-session-{session_id}.{suffix}"'.encode("ascii")
        )
        request.setHeader(b"cache-control", b"no-store")
        stream = ResponseStream(ctx.reactor, request)
        request.registerProducer(stream, True)
        finished: Deferred[Optional[str]] = ctx.run(write_file, session_id, fmt, stream)
        problem = yield finished
        request.unregisterProducer()
        if getattr(request, "_disconnected", False):
            return STREAMING
        if problem is None:
            request.finish()
        else:
            request.loseConnection()  # a cut-off chunked body tells the browser the file is incomplete
        return STREAMING

    return [Route("GET", "/api/sessions/{session}/export", export)]
