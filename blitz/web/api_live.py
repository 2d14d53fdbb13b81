"""Server-sent events: the logger's state, decoded LIVE readings and notifications, pushed to pages.

`EventHub` keeps the open `/api/events` streams and writes every published
event to each; `LiveBatcher` collects the `!LIVE` lines the logger pushes and,
every `batch_s`, decodes them in one numpy pass into per-variable time/value
arrays, published as one `live` event (so a fast board costs a few events
per second, not one per line).
"""

from __future__ import annotations

import json
from typing import Any, Callable, Mapping, Optional

from twisted.internet.base import DelayedCall
from twisted.python import log
from twisted.web.server import Request

from blitz.boards.chunk import decode_chunk
from blitz.boards.definition import Board
from blitz.web.http import STREAMING, Call, Route

__all__ = ["EventHub", "LiveBatcher", "live_routes"]

Replay = Callable[[], list[tuple[str, Any]]]


def format_event(event: str, data: Any) -> bytes:
    """One server-sent event: `event:` and a single-line JSON `data:`."""
    payload = json.dumps(data, separators=(",", ":"), allow_nan=False)
    return f"event: {event}\ndata: {payload}\n\n".encode("utf-8")


class EventHub:
    """The open event streams; `publish` writes an event to all of them."""

    def __init__(self, reactor: Any, heartbeat_s: float = 15.0, replay: Optional[Replay] = None) -> None:
        self._reactor = reactor
        self._heartbeat_s = heartbeat_s
        self._replay = replay
        self._streams: list[Request] = []
        self._heartbeat: Optional[DelayedCall] = None
        self.published = 0

    @property
    def subscribers(self) -> int:
        """How many pages are listening."""
        return len(self._streams)

    def set_replay(self, replay: Replay) -> None:
        """What a new stream receives first (the current state), as (event, data) pairs."""
        self._replay = replay

    def subscribe(self, request: Request) -> None:
        """Turn `request` into an event stream that stays open until the page goes."""
        request.setHeader(b"content-type", b"text/event-stream; charset=utf-8")
        request.setHeader(b"cache-control", b"no-store")
        request.setHeader(b"x-accel-buffering", b"no")
        request.write(b"retry: 2000\n\n")
        if self._replay is not None:
            for event, data in self._replay():
                request.write(format_event(event, data))
        self._streams.append(request)
        request.notifyFinish().addBoth(lambda _: self._forget(request))
        self._schedule_heartbeat()

    def _forget(self, request: Request) -> None:
        if request in self._streams:
            self._streams.remove(request)

    def publish(self, event: str, data: Any) -> None:
        """Send one event to every open stream."""
        if not self._streams:
            return
        chunk = format_event(event, data)
        self.published += 1
        for request in list(self._streams):
            try:
                request.write(chunk)
            except Exception:  # the stream broke between its last write and this one
                self._forget(request)

    def _schedule_heartbeat(self) -> None:
        if self._heartbeat is None or not self._heartbeat.active():
            self._heartbeat = self._reactor.callLater(self._heartbeat_s, self._beat)

    def _beat(self) -> None:
        """A comment line keeps idle proxies and browsers from closing the stream."""
        self._heartbeat = None
        for request in list(self._streams):
            try:
                request.write(b": keep-alive\n\n")
            except Exception:
                self._forget(request)
        if self._streams:
            self._schedule_heartbeat()

    def close(self) -> None:
        """End every stream (the console is shutting down)."""
        if self._heartbeat is not None and self._heartbeat.active():
            self._heartbeat.cancel()
        self._heartbeat = None
        streams, self._streams = self._streams, []
        for request in streams:
            try:
                request.finish()
            except Exception:
                pass


class LiveBatcher:
    """Collect pushed session lines and publish them decoded, once per `batch_s`."""

    def __init__(
        self,
        reactor: Any,
        boards: Mapping[int, Board],
        publish: Callable[[str, Any], None],
        batch_s: float = 0.05,
    ) -> None:
        self._reactor = reactor
        self._boards = boards
        self._publish = publish
        self._batch_s = batch_s
        self._lines: list[str] = []
        self._session: Optional[int] = None
        self._last_timestamps: dict[int, int] = {}
        self._pending: Optional[DelayedCall] = None
        self._units = {
            var.name: (board_id, var.unit) for board_id, board in boards.items() for var in board.variables
        }
        self.lines = 0
        self.bad_lines = 0

    def add(self, session_id: int, line: str) -> None:
        """Queue one `!LIVE` line; a new session number restarts the board clocks."""
        if session_id != self._session:
            self.flush()
            self._session = session_id
            self._last_timestamps.clear()
        self._lines.append(line)
        if self._pending is None:
            self._pending = self._reactor.callLater(self._batch_s, self.flush)

    def flush(self) -> None:
        """Decode and publish what is queued."""
        if self._pending is not None and self._pending.active():
            self._pending.cancel()
        self._pending = None
        lines, self._lines = self._lines, []
        if not lines or self._session is None:
            return
        try:
            chunk = decode_chunk(lines, self._boards, self._last_timestamps)
        except Exception:  # never let one bad batch stop the live view
            log.err(None, "blitz ui: cannot decode live lines")
            return
        self.lines += len(lines)
        self.bad_lines += len(chunk.errors)
        variables: dict[str, Any] = {}
        for index, name in enumerate(chunk.names):
            mask = chunk.name_index == index
            board_id, unit = self._units.get(name, (None, ""))
            variables[name] = {
                "board": board_id,
                "unit": unit,
                "t": chunk.time_logged[mask].tolist(),
                "v": chunk.value[mask].tolist(),
            }
        if variables:
            self._publish("live", {"session": self._session, "variables": variables})

    def stop(self) -> None:
        """Drop the pending timer."""
        if self._pending is not None and self._pending.active():
            self._pending.cancel()
        self._pending = None


def live_routes(hub: EventHub) -> list[Route]:
    """GET /api/events: the event stream every page listens to."""

    def events(call: Call) -> Any:
        call.allow_only()
        hub.subscribe(call.request)
        return STREAMING

    return [Route("GET", "/api/events", events)]
