"""The console's one control connection to the logger: reconnects, polls STATUS, relays pushes.

While connected, LIVE is on; every `poll_s` a STATUS answer becomes a
`logger` event (with per-board message rates computed from consecutive
polls).  When the logger is unreachable the console keeps serving the local
database and the `logger` event says why; a new attempt follows every
`retry_s`.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any, Callable, Optional

from twisted.internet.defer import Deferred
from twisted.internet.base import DelayedCall
from twisted.python.failure import Failure

from blitz.client import reply_parser as rp
from blitz.client.errors import ClientError, ConnectionFailed
from blitz.client.protocol import BlitzClientProtocol, connect
from blitz.web.http import HttpError

__all__ = ["TOLERATED", "LoggerLink"]

Connector = Callable[..., "Deferred[BlitzClientProtocol]"]
NOTES_KEPT = 50
#: What `LoggerLink.command` fires with when a tolerated failure happened.
TOLERATED = object()


class LoggerLink:
    """Keep a connection to the logger at `host:port` and report its state through `publish`."""

    def __init__(
        self,
        reactor: Any,
        host: str,
        port: int,
        token: Optional[str],
        publish: Callable[[str, Any], None],
        on_live: Callable[[int, str], None],
        poll_s: float = 1.0,
        retry_s: float = 2.0,
        stale_s: float = 5.0,
        connector: Connector = connect,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._reactor: Any = reactor
        self._tcp: Any = reactor
        self.host = host
        self.port = int(port)
        self._token = token
        self._publish = publish
        self._on_live = on_live
        self._poll_s = poll_s
        self._retry_s = retry_s
        self._stale_s = stale_s
        self._connector = connector
        self._wall_clock = wall_clock
        self._proto: Optional[BlitzClientProtocol] = None
        self._timer: Optional[DelayedCall] = None
        self._connecting = False
        self._polling_since: Optional[float] = None
        self._running = False
        self.error: Optional[str] = "not connected yet"
        self.status: Optional[dict[str, Any]] = None
        self._rates: dict[int, float] = {}
        self._previous: Optional[tuple[float, dict[int, int]]] = None
        self.notes: deque[dict[str, Any]] = deque(maxlen=NOTES_KEPT)

    @property
    def address(self) -> str:
        """`host:port` of the logger."""
        return f"{self.host}:{self.port}"

    @property
    def connected(self) -> bool:
        """True while the control connection is up."""
        return self._proto is not None

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        """Connect now and keep reconnecting until `stop`."""
        self._running = True
        self._attempt()

    def stop(self) -> None:
        """Close the connection and stop retrying."""
        self._running = False
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        proto, self._proto = self._proto, None
        if proto is not None:
            _close(proto)

    def _schedule(self, delay_s: float, action: Callable[[], None]) -> None:
        if not self._running:
            return
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = self._reactor.callLater(delay_s, action)

    def _attempt(self) -> None:
        if not self._running or self._connecting or self._proto is not None:
            return
        self._connecting = True
        connected = self._connector(self._tcp, self.host, self.port, on_push=self._on_push)
        if self._token:
            connected.addCallback(self._authenticate, self._token)
        connected.addCallbacks(self._connected, self._failed_to_connect)

    @staticmethod
    def _authenticate(proto: BlitzClientProtocol, token: str) -> "Deferred[BlitzClientProtocol]":
        """AUTH on the new connection; a refused token closes it (the next attempt opens another)."""

        def refused(failure: Failure) -> Failure:
            _close(proto)
            return failure

        return proto.auth(token).addCallbacks(lambda _: proto, refused)

    def _connected(self, proto: BlitzClientProtocol) -> None:
        self._connecting = False
        if not self._running:
            _close(proto)
            return
        self._proto = proto
        self.error = None
        self._previous = None
        proto.live(True).addErrback(self._lost)
        proto.notifications().addCallbacks(self._initial_notes, self._lost)
        self._poll()

    def _failed_to_connect(self, failure: Failure) -> None:
        self._connecting = False
        self.error = failure.getErrorMessage()
        self.status = None
        self._publish("logger", self.snapshot())
        self._schedule(self._retry_s, self._attempt)

    def _lost(self, failure: Failure) -> None:
        """Any failed command: a broken connection means reconnecting; a refusal is only reported."""
        if not failure.check(ConnectionFailed) and self._proto is not None:
            self.error = failure.getErrorMessage()
            return
        proto, self._proto = self._proto, None
        self._polling_since = None
        if proto is not None:
            _close(proto)
        self.error = f"lost the connection to the logger at {self.address}: {failure.getErrorMessage()}"
        self.status = None
        self._publish("logger", self.snapshot())
        self._schedule(self._retry_s, self._attempt)

    # -- polling and pushes -----------------------------------------------------------

    def _poll(self) -> None:
        proto = self._proto
        if proto is None:
            self._attempt()
            return
        now = self._reactor.seconds()
        if self._polling_since is not None:
            if now - self._polling_since > self._stale_s:
                self._lost(Failure(ConnectionFailed(f"no STATUS answer for {self._stale_s:g} s")))
                return
        else:
            self._polling_since = now
            proto.status().addCallbacks(self._got_status, self._status_failed)
        self._schedule(self._poll_s, self._poll)

    def _got_status(self, status: dict[str, Any]) -> None:
        self._polling_since = None
        now = self._reactor.seconds()
        counts = {int(b.get("id", -1)): int(b.get("messages", 0)) for b in status.get("boards", [])}
        if self._previous is not None:
            then, before = self._previous
            elapsed = now - then
            if elapsed > 0:
                self._rates = {
                    board: max(0.0, (count - before.get(board, count)) / elapsed) for board, count in counts.items()
                }
        self._previous = (now, counts)
        self.status = status
        self.error = None
        self._publish("logger", self.snapshot())

    def _status_failed(self, failure: Failure) -> None:
        self._polling_since = None
        self._lost(failure)

    def _initial_notes(self, notes: list[rp.NoteInfo]) -> None:
        self.notes.clear()
        for note in notes:
            self.notes.append(_note_json(note))

    def _on_push(self, push: rp.Push) -> None:
        if isinstance(push, rp.LivePush):
            self._on_live(push.session_id, push.line)
        elif isinstance(push, rp.NoteInfo):
            note = _note_json(push)
            self.notes.append(note)
            self._publish("note", note)

    def snapshot(self) -> dict[str, Any]:
        """The logger's state for pages: reachable or not, STATUS, board rates, when checked."""
        status = self.status
        boards = []
        if status is not None:
            for board in status.get("boards", []):
                rate = self._rates.get(int(board.get("id", -1)))
                boards.append({**board, "rate_per_s": rate})
        return {
            "address": self.address,
            "connected": self.connected and status is not None,
            "error": self.error,
            "status": status,
            "boards": boards,
            "checked_ms": int(self._wall_clock() * 1000),
        }

    # -- commands for the API ---------------------------------------------------------

    def require(self) -> BlitzClientProtocol:
        """The live connection, or a 503 saying the logger is unreachable."""
        if self._proto is None:
            reason = f" ({self.error})" if self.error else ""
            raise HttpError(503, f"the logger at {self.address} is not reachable{reason}")
        return self._proto

    def command(self, name: str, *args: Any, tolerate: tuple[type[Exception], ...] = ()) -> "Deferred[Any]":
        """Run one client command; refusals become 409, a broken link 503.

        A failure of a `tolerate`d type fires the Deferred with `TOLERATED` instead.
        """
        proto = self.require()
        result: Deferred[Any] = getattr(proto, name)(*args)

        def failed(failure: Failure) -> Any:
            if tolerate and failure.check(*tolerate):
                return TOLERATED
            if failure.check(ConnectionFailed):
                self._lost(failure)
                return Failure(HttpError(503, f"the logger at {self.address} went away: {failure.getErrorMessage()}"))
            if failure.check(ClientError):
                return Failure(HttpError(409, failure.getErrorMessage()))
            return failure

        result.addErrback(failed)
        if name in ("start", "stop"):
            result.addCallback(self._refresh_after)
        return result

    def _refresh_after(self, value: Any) -> Any:
        """Poll STATUS right away so pages see a start or stop at once."""
        if self._proto is not None and self._polling_since is None:
            self._polling_since = self._reactor.seconds()
            self._proto.status().addCallbacks(self._got_status, self._status_failed)
        return value


def _note_json(note: rp.NoteInfo) -> dict[str, Any]:
    return {"time_ms": note.time_ms, "severity": note.severity, "text": note.text}


def _close(proto: BlitzClientProtocol) -> None:
    """Drop the protocol's connection, if it still has one."""
    transport: Any = proto.transport
    if transport is not None:
        transport.loseConnection()
