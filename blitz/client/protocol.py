"""The Twisted side of the Blitz control protocol client: one Deferred per command.

Commands may be pipelined; replies come back in order, so each terminal line
fires the oldest waiting Deferred.  DOWNLOAD data lines can be streamed to a
callback instead of being collected, and `!` push lines go to a listener.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, TypeVar

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTCP
from twisted.protocols.basic import LineOnlyReceiver
from twisted.python.failure import Failure
from twisted.python import log

from blitz.client import reply_parser as rp
from blitz.client.errors import BadReply, ClientError, ConnectionFailed

T = TypeVar("T")

PushListener = Callable[[rp.Push], None]


class _Waiter:
    """One sent command: its Deferred and an optional data-line callback."""

    def __init__(self, on_data: Optional[Callable[[str], None]]) -> None:
        self.deferred: Deferred[rp.Reply] = Deferred()
        self.on_data = on_data
        self.failure: Optional[Failure] = None

    def data(self, line: str) -> None:
        if self.failure is not None or self.on_data is None:
            return
        try:
            self.on_data(line)
        except Exception:  # the caller's callback failed: report it with the reply
            self.failure = Failure()


class BlitzClientProtocol(LineOnlyReceiver):
    """Send control commands and fire a Deferred with each one's result."""

    delimiter = b"\n"
    MAX_LENGTH = 1 << 20  # STATUS may be long; commands are short

    def __init__(self, on_push: Optional[PushListener] = None) -> None:
        self.on_push = on_push
        self._waiters: list[_Waiter] = []
        self._assembler = rp.ReplyAssembler(self._push)
        self._closed: Optional[Failure] = None

    # -- plumbing ------------------------------------------------------------------

    def _push(self, push: rp.Push) -> None:
        if self.on_push is None:
            return
        try:
            self.on_push(push)
        except Exception:
            log.err(Failure(), "Blitz push listener failed")

    def send_command(self, command: str, on_data: Optional[Callable[[str], None]] = None) -> Deferred[rp.Reply]:
        """Send one command line; the Deferred fires with its raw Reply."""
        waiter = _Waiter(on_data)
        if self._closed is not None:
            waiter.deferred.errback(ConnectionFailed(f"{rp.describe_command(command)}: connection is closed"))
            return waiter.deferred
        self._assembler.expect(command, waiter.data if on_data is not None else None)
        self._waiters.append(waiter)
        self.sendLine(command.encode("utf-8"))
        return waiter.deferred

    def _call(self, command: str, convert: Callable[[rp.Reply], T],
              on_data: Optional[Callable[[str], None]] = None) -> Deferred[T]:
        return self.send_command(command, on_data).addCallback(convert)

    def lineReceived(self, line: bytes) -> None:
        try:
            reply = self._assembler.feed(line.decode("utf-8", "replace"))
        except BadReply:
            self._fail_all(Failure())
            self._disconnect()
            return
        if reply is None:
            return
        waiter = self._waiters.pop(0)
        if waiter.failure is not None:
            waiter.deferred.errback(waiter.failure)
        else:
            waiter.deferred.callback(reply)

    def lineLengthExceeded(self, line: bytes) -> None:
        self._fail_all(Failure(BadReply(f"expected lines under {self.MAX_LENGTH} bytes, got a longer one")))
        self._disconnect()

    def _disconnect(self) -> None:
        transport: Any = self.transport
        if transport is not None:
            transport.loseConnection()

    def connectionLost(self, reason: Failure = Failure(ConnectionFailed("connection lost"))) -> None:
        self._closed = reason
        message = reason.getErrorMessage() if reason is not None else "connection lost"
        self._fail_all(Failure(ConnectionFailed(f"connection lost before the reply: {message}")))

    def _fail_all(self, failure: Failure) -> None:
        self._assembler.clear()
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.deferred.errback(failure)

    # -- one method per command -----------------------------------------------------

    def auth(self, token: str) -> Deferred[None]:
        """AUTH with the server's token."""
        return self._call(f"AUTH {token}", rp.to_none)

    def ping(self) -> Deferred[str]:
        """PING; fires with `PONG`."""
        return self._call("PING", rp.to_pong)

    def logging(self) -> Deferred[Optional[int]]:
        """The running session's number, or None."""
        return self._call("LOGGING", rp.to_logging)

    def start(self) -> Deferred[rp.StartResult]:
        """Start a session (or report the one running)."""
        return self._call("START", rp.to_start)

    def stop(self) -> Deferred[int]:
        """Stop the running session; fails with NoSession when none runs."""
        return self._call("STOP", rp.to_session_id)

    def update(self) -> Deferred[list[str]]:
        """The newest line of each board in the running session."""
        return self._call("UPDATE", rp.to_lines)

    def sessions(self) -> Deferred[list[rp.SessionInfo]]:
        """Every session the logger holds, newest first."""
        return self._call("SESSIONS", rp.to_sessions)

    def download(self, session_id: int, offset: int = 0,
                 on_line: Optional[Callable[[str], None]] = None) -> Deferred[rp.DownloadResult]:
        """Stream a session's lines from `offset` to `on_line` (or drop them)."""
        return self._call(f"DOWNLOAD {int(session_id)} {int(offset)}", rp.to_download,
                          on_line if on_line is not None else _ignore)

    def delete(self, session_id: int) -> Deferred[None]:
        """Delete a stored session on the logger."""
        return self._call(f"DELETE {int(session_id)}", rp.to_none)

    def boards(self) -> Deferred[list[rp.BoardInfo]]:
        """Every board the server has seen."""
        return self._call("BOARDS", rp.to_boards)

    def board(self, board_id: int, hex_command: str) -> Deferred[list[str]]:
        """Send a raw hex command line to one board; fires with its answer lines."""
        return self._call(f"BOARD {int(board_id):02x} {hex_command}", rp.to_lines)

    def reset(self) -> Deferred[None]:
        """Stop logging and delete every session on the logger."""
        return self._call("RESET", rp.to_none)

    def status(self) -> Deferred[dict[str, Any]]:
        """The server's STATUS object."""
        return self._call("STATUS", rp.to_status)

    def live(self, on: bool = True) -> Deferred[None]:
        """Turn pushing of new session lines (`!LIVE`) on or off."""
        return self._call("LIVE ON" if on else "LIVE OFF", rp.to_none)

    def notifications(self) -> Deferred[list[rp.NoteInfo]]:
        """The server's recent notifications, oldest first."""
        return self._call("NOTIFICATIONS", rp.to_notifications)

    def quit(self) -> Deferred[None]:
        """Say goodbye; the server closes the connection after its ACK."""
        return self._call("QUIT", rp.to_none)


def _ignore(line: str) -> None:
    """Data sink that drops lines."""


def connect(reactor: IReactorTCP, host: str = "127.0.0.1", port: int = 8999, token: Optional[str] = None,
            on_push: Optional[PushListener] = None, tls: bool = False) -> Deferred[BlitzClientProtocol]:
    """Connect to a Blitz server (and AUTH if a token is given)."""
    from twisted.internet.endpoints import HostnameEndpoint, connectProtocol, wrapClientTLS

    endpoint: Any = HostnameEndpoint(reactor, host, port)
    if tls:
        from twisted.internet.ssl import optionsForClientTLS

        endpoint = wrapClientTLS(optionsForClientTLS(host), endpoint)
    protocol = BlitzClientProtocol(on_push)
    connected: Deferred[Any] = connectProtocol(endpoint, protocol)

    def failed(failure: Failure) -> Failure:
        if failure.check(ClientError):
            return failure
        return Failure(ConnectionFailed(f"cannot connect to {host}:{port}: {failure.getErrorMessage()}"))

    connected.addErrback(failed)
    if token:
        def authenticate(proto: BlitzClientProtocol) -> Deferred[BlitzClientProtocol]:
            def refused(failure: Failure) -> Failure:
                proto._disconnect()
                return failure

            return proto.auth(token).addCallbacks(lambda _: proto, refused)

        connected.addCallback(authenticate)
    return connected


__all__ = ["BlitzClientProtocol", "PushListener", "connect"]
