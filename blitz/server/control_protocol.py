"""Serve the line-based control protocol (docs/protocol.md) to one TCP client.

Commands run strictly one at a time per connection: received lines wait in a
bounded queue while a command's answer is pending (START, STOP, RESET and
BOARD return Deferreds, DOWNLOAD streams, a wrong AUTH is delayed), so replies
always come in command order.  The protocol is registered on its transport as
a streaming producer for its whole life; when the transport's write buffer is
full it stops running commands, pauses DOWNLOAD and queues LIVE pushes (see
download.py and live.py).  Any failure becomes a terminal line; nothing a
client sends closes the connection except QUIT.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import asdict
from typing import Any, Callable, Protocol, Union

from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.internet.interfaces import IAddress, IPushProducer
from twisted.internet.protocol import Factory
from twisted.logger import Logger as EventLogger
from twisted.protocols.basic import LineOnlyReceiver
from twisted.python.failure import Failure
from zope.interface import implementer  # type: ignore[import-untyped]

from blitz.server import commands as c
from blitz.server.auth import AddressThrottle, TokenGate
from blitz.server.download import DEFAULT_CHUNK_LINES, Clock, DownloadStream
from blitz.server.interfaces import (
    AlreadyLogging, BoardCommandError, CommandDisabled, Logger, NoSuchBoard,
    NoSuchSession, NotLogging, SessionRunning, StorageUnavailable,
)
from blitz.server.live import DEFAULT_MAX_QUEUED_LINES, LiveFeed

#: Received lines held while a command runs; above it the transport stops reading.
DEFAULT_MAX_PENDING_LINES = 100

#: Longest a command waits for the Logger before it is answered ERROR 504.
DEFAULT_REPLY_DEADLINE_S = 60.0



class ReplyDeadlinePassed(Exception):
    """START, STOP, RESET or BOARD waited longer than the deadline for the Logger.

    (AUTH waits on purpose and DOWNLOAD as long as the client reads slowly:
    they have no deadline.)
    """

    def __init__(self, verb: str, seconds: float) -> None:
        super().__init__(f"{verb} timed out after {seconds:g} s")
        self.verb = verb
        self.seconds = seconds

Terminal = Union[str, Deferred[str]]


class ControlConfig(Protocol):
    """The ServerConfig fields the control protocol reads."""

    @property
    def token(self) -> str | None: ...

    @property
    def allow_delete(self) -> bool: ...

    @property
    def allow_reset(self) -> bool: ...

    @property
    def max_line_bytes(self) -> int: ...


class _LineTooLong:
    """Queue marker for a received line longer than the limit."""


_TOO_LONG = _LineTooLong()


def error_line(error: BaseException, command: c.Command | None) -> str | None:
    """The terminal line for an expected Logger error, or None for a bug."""
    verb = command.verb if command is not None else "command"
    if isinstance(error, AlreadyLogging):
        if error.session_id < 0:  # another client's START has no session number yet
            return "NACK a session is starting"
        return f"INSESSION {error.session_id}"
    if isinstance(error, NotLogging):
        return "NOSESSION"
    if isinstance(error, NoSuchSession):
        return f"ERROR 404 no session {error.session_id}"
    if isinstance(error, SessionRunning):
        if isinstance(command, c.Delete):
            return f"NACK session {command.session_id} is running"
        return f"NACK {error}"
    if isinstance(error, NoSuchBoard):
        return f"NOBOARD {error.board_id:02x}"
    if isinstance(error, BoardCommandError):
        return f"BOARDERROR {error.board_id:02x} {error.reason}"
    if isinstance(error, CommandDisabled):
        return f"ERROR 403 {verb} is disabled"
    if isinstance(error, StorageUnavailable):
        detail = str(error)
        return "ERROR 503 Redis is unavailable" + (f" ({detail})" if detail else "")
    return None


@implementer(IPushProducer)
class ControlProtocol(LineOnlyReceiver):
    """One client connection of the control port."""

    delimiter = b"\n"
    transport: Any  # ITransport + IConsumer + IPushProducer; zope types are opaque to mypy

    def __init__(
        self,
        logger: Logger,
        config: ControlConfig,
        clock: Clock,
        *,
        chunk_lines: int = DEFAULT_CHUNK_LINES,
        live_queue_lines: int = DEFAULT_MAX_QUEUED_LINES,
        max_pending_lines: int = DEFAULT_MAX_PENDING_LINES,
        auth_delay_s: float = 1.0,
        auth_max_delay_s: float = 30.0,
        throttle: AddressThrottle | None = None,
        peer: str | None = None,
        reply_deadline_s: float = DEFAULT_REPLY_DEADLINE_S,
    ) -> None:
        self._logger = logger
        self._config = config
        self._clock = clock
        self._chunk_lines = chunk_lines
        self._max_pending_lines = max_pending_lines
        self._reply_deadline_s = reply_deadline_s
        self._deadline: Any = None  # the timer of the command waiting for the Logger
        self.MAX_LENGTH = config.max_line_bytes
        self.gate = TokenGate(config.token, clock, auth_delay_s, auth_max_delay_s, throttle, peer)
        self.live = LiveFeed(logger, self.sendLine, live_queue_lines)
        self.download: DownloadStream | None = None
        self._pending: deque[bytes | _LineTooLong] = deque()
        self._discarding = False
        self._busy = False
        self._pumping = False
        self._write_paused = False
        self._reading_paused = False
        self._closing = False
        self._closed = False
        self._log = EventLogger(namespace="blitz.server.control", source=self)

    # -- connection life -------------------------------------------------

    def connectionMade(self) -> None:
        self.transport.registerProducer(self, True)
        # Replies and LIVE pushes are small writes: without TCP_NODELAY, Nagle's
        # algorithm holds them back for tens of ms (the live p99 tail).
        set_no_delay = getattr(self.transport, "setTcpNoDelay", None)
        if set_no_delay is not None:
            set_no_delay(True)

    def connectionLost(self, reason: Failure | None = None) -> None:
        self._shut_down()

    def _shut_down(self) -> None:
        """Stop everything this connection started; safe to call twice."""
        self._closed = self._closing = True
        self._pending.clear()
        self.gate.cancel()
        if self._deadline is not None and self._deadline.active():
            self._deadline.cancel()
        self._deadline = None
        self.live.turn_off()
        if self.download is not None:
            self.download.stop()
            self.download = None

    # -- IPushProducer: the transport tells us whether it can take more ---

    def pauseProducing(self) -> None:
        self._write_paused = True
        self.live.pause()
        if self.download is not None:
            self.download.pause()

    def resumeProducing(self) -> None:
        self._write_paused = False
        self.live.resume()
        if self._write_paused:  # flushing the LIVE backlog filled the buffer again
            return
        if self.download is not None:
            self.download.resume()
        self._pump()

    def stopProducing(self) -> None:
        self._shut_down()

    # -- framing ----------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        """Split lines like LineOnlyReceiver, but survive over-long lines."""
        if self._discarding:
            end = data.find(self.delimiter)
            if end < 0:
                return
            data = data[end + 1:]
            self._discarding = False
        lines = (self._buffer + data).split(self.delimiter)
        self._buffer = lines.pop()
        for line in lines:
            if self._closing or self.transport.disconnecting:
                return
            if line.endswith(b"\r"):
                line = line[:-1]
            if len(line) > self.MAX_LENGTH:
                self.lineLengthExceeded(line)
            else:
                self.lineReceived(line)
        # One byte of slack for the CR of a CRLF still to come.
        if len(self._buffer) > self.MAX_LENGTH + 1:
            self._buffer = b""
            self._discarding = True
            self.lineLengthExceeded(b"")

    def lineLengthExceeded(self, line: bytes) -> None:
        """Answer ERROR 413 in turn and keep the connection (Twisted would drop it)."""
        self._enqueue(_TOO_LONG)

    def lineReceived(self, line: bytes) -> None:
        if not c.is_blank(line):
            self._enqueue(line)

    def _enqueue(self, item: bytes | _LineTooLong) -> None:
        if self._closing:
            return
        self._pending.append(item)
        self._pump()
        if len(self._pending) >= self._max_pending_lines and not self._reading_paused:
            self._reading_paused = True
            self.transport.pauseProducing()

    # -- running commands one at a time -----------------------------------

    def _pump(self) -> None:
        if self._pumping:
            return  # the loop below is already running further up the stack
        self._pumping = True
        try:
            while self._pending and not (self._busy or self._write_paused or self._closing):
                self._execute(self._pending.popleft())
        finally:
            self._pumping = False
        if (self._reading_paused and len(self._pending) <= self._max_pending_lines // 2
                and not self._closing):
            self._reading_paused = False
            self.transport.resumeProducing()

    def _execute(self, item: bytes | _LineTooLong) -> None:
        self._busy = True
        parsed: list[c.Command] = []  # filled once the line parses, for error messages
        result = maybeDeferred(self._run, item, parsed)
        result.addErrback(lambda failure: self._failure_line(failure, parsed))
        result.addCallback(self._finish)
        result.addErrback(self._log_bug)

    def _run(self, item: bytes | _LineTooLong, parsed: list[c.Command]) -> Deferred[str]:
        if isinstance(item, _LineTooLong):
            return succeed(f"ERROR 413 line too long (max {self.MAX_LENGTH} bytes)")
        command = c.parse_command(item)
        parsed.append(command)
        if command.verb not in c.PRE_AUTH_VERBS and not self.gate.authenticated:
            return succeed("ERROR 401 authentication required")
        handler: Callable[[Any], Terminal] = getattr(self, "_do_" + command.verb.lower())
        terminal = handler(command)
        return terminal if isinstance(terminal, Deferred) else succeed(terminal)

    def _wait(self, waiting: Deferred[Any], verb: str) -> Deferred[Any]:
        """The Logger's `waiting` outcome, or ReplyDeadlinePassed once the deadline passes.

        Handlers add their callbacks (which may write data lines) after this,
        so a late outcome writes nothing: it is dropped, a failure only logged.
        """
        if waiting.called:
            return waiting
        answer: Deferred[Any] = Deferred()

        def expire() -> None:
            self._deadline = None
            self._log.warn("{verb} got no answer from the logger within {deadline} s",
                           verb=verb, deadline=self._reply_deadline_s)
            answer.errback(ReplyDeadlinePassed(verb, self._reply_deadline_s))

        def done(outcome: Any) -> None:
            if not answer.called:
                if self._deadline is not None and self._deadline.active():
                    self._deadline.cancel()
                self._deadline = None
                answer.callback(outcome) if not isinstance(outcome, Failure) else answer.errback(outcome)
            elif isinstance(outcome, Failure):
                self._log.info("{verb} failed after its deadline: {why}", verb=verb,
                               why=outcome.getErrorMessage())

        self._deadline = self._clock.callLater(self._reply_deadline_s, expire)
        waiting.addBoth(done)
        return answer

    def _failure_line(self, failure: Failure, parsed: list[c.Command]) -> str:
        error = failure.value
        assert error is not None
        if isinstance(error, ReplyDeadlinePassed):
            return f"ERROR 504 {error.verb} timed out after {error.seconds:g} s"
        if isinstance(error, c.CommandSyntaxError):
            if error.verb and error.verb not in c.PRE_AUTH_VERBS and not self.gate.authenticated:
                return "ERROR 401 authentication required"
            return f"ERROR 400 {error}"
        command = parsed[0] if parsed else None
        line = error_line(error, command)
        if line is None:
            verb = command.verb if command is not None else "?"
            self._log.failure("{verb} failed unexpectedly", failure=failure, verb=verb)
            return "ERROR 500 internal error"
        return line

    def _log_bug(self, failure: Failure) -> None:
        self._log.failure("could not finish a command", failure=failure)

    def _finish(self, terminal: str) -> None:
        self._busy = False
        self.download = None
        if self._closed:
            return
        self.sendLine(_encode(terminal))
        if self._closing:
            self.transport.unregisterProducer()
            self.transport.loseConnection()
            return
        self._pump()

    def sendLine(self, line: bytes) -> None:
        """Write one line; nothing is written once the connection is gone."""
        if not self._closed:
            self.transport.writeSequence((line, self.delimiter))

    def _data(self, text: str) -> None:
        self.sendLine(_encode("+" + text))

    # -- the commands ------------------------------------------------------

    def _do_auth(self, command: c.Auth) -> Terminal:
        verdict = self.gate.check(command.token)
        return verdict.addCallback(lambda ok: "ACK" if ok else "ERROR 401 wrong token")

    def _do_ping(self, command: c.Ping) -> Terminal:
        return "ACK PONG"

    def _do_help(self, command: c.Help) -> Terminal:
        for synopsis in c.SYNOPSES.values():
            self._data(synopsis)
        return "ACK"

    def _do_quit(self, command: c.Quit) -> Terminal:
        self._closing = True
        self._pending.clear()
        self.live.turn_off()  # no pushes pile up while the last replies drain
        return "ACK bye"

    def _do_logging(self, command: c.Logging) -> Terminal:
        session_id = self._logger.session_id
        return f"INSESSION {session_id}" if session_id >= 0 else "NOSESSION"

    def _do_start(self, command: c.Start) -> Terminal:
        return self._wait(self._logger.start(), "START").addCallback(lambda session_id: f"ACK {session_id}")

    def _do_stop(self, command: c.Stop) -> Terminal:
        return self._wait(self._logger.stop(), "STOP").addCallback(lambda session_id: f"ACK {session_id}")

    def _do_update(self, command: c.Update) -> Terminal:
        lines = self._logger.latest_lines()
        for line in lines:
            self._data(line)
        return "ACK"

    def _do_sessions(self, command: c.Sessions) -> Terminal:
        rows = self._logger.sessions()
        for row in rows:
            self._data(f"{row.id} {row.start_ms} {row.end_ms} {row.messages}")
        return f"ACK {len(rows)}"

    def _do_download(self, command: c.Download) -> Terminal:
        stream = DownloadStream(self._logger, command.session_id, command.offset,
                                self.transport.write, self._clock, self._chunk_lines)
        self.download = stream
        if self._write_paused:
            stream.pause()
        done = stream.start()
        return done.addCallback(lambda counts: f"ACK {counts[0]} {counts[1]}")

    def _do_delete(self, command: c.Delete) -> Terminal:
        if not self._config.allow_delete:
            return "ERROR 403 DELETE is disabled"
        self._logger.delete_session(command.session_id)
        return "ACK"

    def _do_reset(self, command: c.Reset) -> Terminal:
        if not self._config.allow_reset:
            return "ERROR 403 RESET is disabled"
        return self._wait(self._logger.reset(), "RESET").addCallback(lambda _: "ACK")

    def _do_boards(self, command: c.Boards) -> Terminal:
        boards = self._logger.boards()
        for board in boards:
            self._data(f"{board.id:02x} {board.state} {board.port} {board.description}")
        return f"ACK {len(boards)}"

    def _do_board(self, command: c.Board) -> Terminal:
        def answered(lines: list[str]) -> str:
            for line in lines:
                self._data(line)
            return "ACK"

        return self._wait(self._logger.board_command(command.board_id, command.line), "BOARD").addCallback(answered)

    def _do_status(self, command: c.Status) -> Terminal:
        report = json.dumps(asdict(self._logger.status()), default=str)
        self._data(report)
        return "ACK"

    def _do_live(self, command: c.Live) -> Terminal:
        if command.on:
            self.live.turn_on()
        else:
            self.live.turn_off()
        return "ACK"

    def _do_notifications(self, command: c.Notifications) -> Terminal:
        notes = self._logger.notifications()
        for note in notes:
            self._data(f"{note.time_ms} {note.severity} {note.text}")
        return f"ACK {len(notes)}"


def _encode(text: str) -> bytes:
    """A reply line as bytes; a CR or LF inside it would break framing, so it becomes a space."""
    return text.replace("\r", " ").replace("\n", " ").encode("utf-8", "replace")


class ControlFactory(Factory):
    """Builds a ControlProtocol per connection, all sharing one Logger and config."""

    def __init__(
        self,
        logger: Logger,
        config: ControlConfig,
        clock: Clock | None = None,
        **protocol_options: Any,
    ) -> None:
        """`clock` defaults to the global reactor; `protocol_options` tune ControlProtocol."""
        if clock is None:
            from twisted.internet import reactor as default_reactor
            clock = default_reactor
        self.logger = logger
        self.config = config
        self.clock: Clock = clock
        self.protocol_options = protocol_options
        # Wrong tokens are slowed per client address too, across its connections.
        self.throttle = AddressThrottle(protocol_options.get("auth_delay_s", 1.0),
                                        protocol_options.get("auth_max_delay_s", 30.0))

    def buildProtocol(self, addr: IAddress | None) -> ControlProtocol:
        peer = getattr(addr, "host", None)
        protocol = ControlProtocol(self.logger, self.config, self.clock, throttle=self.throttle,
                                   peer=peer if isinstance(peer, str) else None, **self.protocol_options)
        protocol.factory = self
        return protocol
