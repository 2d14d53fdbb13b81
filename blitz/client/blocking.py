"""A plain blocking Blitz client for scripts and the CLI: one method per command.

It connects lazily, authenticates with the token, reconnects with backoff when
the connection breaks (repeating only commands that are safe to repeat), and
raises the `blitz.client.errors` exception that each refusal stands for.

    with Client("logger.local", token="secret") as client:
        session = client.start().session_id
        for pushes in client.live(seconds=10):
            ...
"""

from __future__ import annotations

import ssl
import time
from typing import Any, Callable, Generator, Iterator, Optional, TypeVar, Union

from blitz.client import reply_parser as rp
from blitz.client.connection import LineConnection, SocketFactory, open_socket
from blitz.client.errors import BadReply, ConnectionFailed

T = TypeVar("T")
DEFAULT_PORT = 8999
DEFAULT_CHUNK_MESSAGES = 5000


class Client:
    """Blocking connection to a Blitz server; `timeout` is in seconds."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        token: Optional[str] = None,
        timeout: float = 10.0,
        tls: Union[bool, ssl.SSLContext] = False,
        retries: int = 3,
        backoff_s: float = 0.25,
        socket_factory: Optional[SocketFactory] = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.host = host
        self.port = int(port)
        self.token = token
        self.timeout = timeout
        self.tls = tls
        self.retries = retries
        self.backoff_s = backoff_s
        self._socket_factory = socket_factory
        self._sleep = sleep
        self._clock = clock
        self._conn: Optional[LineConnection] = None
        self._pushes = rp.PushBuffer()

    # -- connection ------------------------------------------------------------------

    @property
    def address(self) -> str:
        """`host:port` as shown in messages."""
        return f"{self.host}:{self.port}"

    @property
    def connected(self) -> bool:
        """True while a connection is open."""
        return self._conn is not None and not self._conn.closed

    def connect(self) -> "Client":
        """Open the connection now (commands also open it on demand)."""
        self._connection()
        return self

    def _connection(self) -> LineConnection:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        options: dict[str, Any] = {"retries": self.retries, "backoff_s": self.backoff_s, "sleep": self._sleep}
        if self._socket_factory is not None:
            options["factory"] = self._socket_factory
        sock = open_socket(self.host, self.port, self.timeout, self.tls, **options)
        self._conn = LineConnection(sock, self.address, self.timeout)
        if self.token:
            try:
                self._exchange(self._conn, f"AUTH {self.token}", rp.to_none)
            except BaseException:
                self._drop()
                raise
        return self._conn

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None

    def close(self) -> None:
        """Close the connection (a later command reconnects)."""
        self._drop()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the request/reply cycle -----------------------------------------------------

    def _exchange(self, conn: LineConnection, command: str, convert: Callable[[rp.Reply], T],
                  on_data: Optional[Callable[[str], None]] = None) -> T:
        """Send one command on `conn` and read lines until its terminal line."""
        assembler = rp.ReplyAssembler(self._pushes)
        assembler.expect(command, on_data)
        conn.send(command)
        try:
            while True:
                lines = conn.read_lines()
                for index, raw in enumerate(lines):
                    reply = assembler.feed(raw.decode("utf-8", "replace"))
                    if reply is not None:
                        conn.unread(lines[index + 1:])
                        return convert(reply)
        except (ConnectionFailed, BadReply):
            self._drop()
            raise
        except BaseException:  # a callback failed mid-reply: the stream is out of step
            if assembler.pending:
                self._drop()
            raise

    def _call(self, command: str, convert: Callable[[rp.Reply], T], repeatable: bool = True) -> T:
        """Run one command, reconnecting once if the connection had broken.

        A command that changes the logger (START, STOP, DELETE ...) is not
        sent twice: if the connection breaks after sending it, the error is raised.
        """
        attempts = 2
        for attempt in range(attempts):
            conn = self._connection()
            try:
                return self._exchange(conn, command, convert)
            except ConnectionFailed:
                if attempt == attempts - 1 or not repeatable:
                    raise
        raise AssertionError("unreachable")

    # -- commands --------------------------------------------------------------------

    def ping(self) -> str:
        """PING the server; returns `PONG`."""
        return self._call("PING", rp.to_pong)

    def logging(self) -> Optional[int]:
        """The running session's number, or None when not logging."""
        return self._call("LOGGING", rp.to_logging)

    def start(self) -> rp.StartResult:
        """Start a session; `.new` is False when one was already running."""
        return self._call("START", rp.to_start, repeatable=False)

    def stop(self) -> int:
        """Stop the running session and return its number (NoSession if none)."""
        return self._call("STOP", rp.to_session_id, repeatable=False)

    def update(self) -> list[str]:
        """The newest raw line of each board in the running session."""
        return self._call("UPDATE", rp.to_lines)

    def sessions(self) -> list[rp.SessionInfo]:
        """Every session the logger holds, newest first."""
        return self._call("SESSIONS", rp.to_sessions)

    def delete(self, session_id: int) -> None:
        """Delete a session on the logger (UnknownSession, Refused if running)."""
        self._call(f"DELETE {int(session_id)}", rp.to_none, repeatable=False)

    def boards(self) -> list[rp.BoardInfo]:
        """Every board the server has seen."""
        return self._call("BOARDS", rp.to_boards)

    def board(self, board_id: int, hex_command: str) -> list[str]:
        """Send a raw hex command line to a board; returns its answer lines."""
        hex_command = hex_command.strip()
        if not hex_command or any(c not in "0123456789abcdefABCDEF" for c in hex_command):
            raise ValueError(f"expected the board command as hex digits, got {hex_command!r}")
        if not 0 <= int(board_id) <= 0xFF:
            raise ValueError(f"expected a board id 0-255, got {board_id!r}")
        return self._call(f"BOARD {int(board_id):02x} {hex_command}", rp.to_lines, repeatable=False)

    def reset(self) -> None:
        """Stop logging and delete every session on the logger."""
        self._call("RESET", rp.to_none, repeatable=False)

    def status(self) -> dict[str, Any]:
        """The server's STATUS object (see docs/protocol.md)."""
        return self._call("STATUS", rp.to_status)

    def notifications(self) -> list[rp.NoteInfo]:
        """The server's recent notifications, oldest first."""
        return self._call("NOTIFICATIONS", rp.to_notifications)

    def help(self) -> list[str]:
        """The server's command synopses."""
        return self._call("HELP", rp.to_lines)

    def take_pushes(self) -> list[rp.Push]:
        """Pushes received so far and not yet taken (only while LIVE is on)."""
        return self._pushes.take()

    # -- DOWNLOAD ---------------------------------------------------------------------

    def download(self, session_id: int, offset: int = 0,
                 on_lines: Optional[Callable[[list[str]], None]] = None,
                 chunk_messages: int = DEFAULT_CHUNK_MESSAGES) -> rp.DownloadResult:
        """Stream a session's lines from `offset` to `on_lines` in chunks.

        A broken connection is resumed where it stopped.  If `on_lines`
        raises, the download stops there and every chunk before was delivered.
        """
        chunks = self._download_chunks(session_id, offset, chunk_messages)
        try:
            while True:
                try:
                    chunk = next(chunks)
                except StopIteration as done:
                    result: rp.DownloadResult = done.value
                    return result
                if on_lines is not None:
                    on_lines(chunk)
        finally:
            chunks.close()

    def iter_download(self, session_id: int, offset: int = 0,
                      chunk_messages: int = DEFAULT_CHUNK_MESSAGES) -> Iterator[list[str]]:
        """Yield a session's lines from `offset` as lists of up to `chunk_messages`."""
        return self._download_chunks(session_id, offset, chunk_messages)

    def _download_chunks(self, session_id: int, offset: int,
                         chunk_messages: int) -> Generator[list[str], None, rp.DownloadResult]:
        if chunk_messages < 1:
            raise ValueError(f"expected chunk_messages >= 1, got {chunk_messages}")
        position = int(offset)
        delivered = 0
        failures = 0
        while True:
            command = f"DOWNLOAD {int(session_id)} {position}"
            conn = self._connection()
            batch: list[str] = []
            received = 0
            finished = False
            final: Optional[rp.Reply] = None
            try:
                conn.send(command)
                while final is None:
                    lines = conn.read_lines()
                    data = _data_lines(lines)
                    if data is not None:  # mid-stream every line is a data line: take them at once
                        batch.extend(data)
                        while len(batch) >= chunk_messages:
                            chunk, batch = batch[:chunk_messages], batch[chunk_messages:]
                            received += len(chunk)
                            position += len(chunk)
                            delivered += len(chunk)
                            yield chunk
                        continue
                    for index, raw in enumerate(lines):
                        first = raw[:1]
                        if first == b"+":
                            batch.append(raw[1:].decode("utf-8", "replace").rstrip("\r"))
                            if len(batch) >= chunk_messages:
                                received += len(batch)
                                chunk, batch = batch, []
                                position += len(chunk)
                                delivered += len(chunk)
                                yield chunk
                            continue
                        text = raw.decode("utf-8", "replace").rstrip("\r")
                        if first == b"!":
                            self._pushes(rp.parse_push(text[1:]))
                            continue
                        status, rest = rp.split_terminal(text)
                        final = rp.Reply(command, status, rest)
                        conn.unread(lines[index + 1:])
                        break
                received += len(batch)
                if final.status == "ERROR" and final.text.split(" ")[0] == "503":
                    # Redis failed mid-stream: the lines sent are valid; continue after them.
                    failures += 1
                    if batch:
                        position += len(batch)
                        delivered += len(batch)
                        yield batch
                    if failures > self.retries:
                        raise rp.error_for(final)
                    if self.backoff_s:
                        self._sleep(self.backoff_s)
                    continue
                result = rp.to_download(final)
                if result.sent != received:
                    self._drop()
                    raise BadReply(f"{command}: the server reported {result.sent} lines sent, {received} arrived")
                finished = True
            except ConnectionFailed:
                self._drop()
                failures += 1
                if failures > self.retries:
                    raise
                if batch:  # whole lines that arrived before the break are good
                    position += len(batch)
                    delivered += len(batch)
                    yield batch
                if self.backoff_s:
                    self._sleep(self.backoff_s)
                continue
            finally:
                if not finished and final is None and self._conn is conn:
                    self._drop()  # stopped mid-reply (caller error or close): out of step
            if batch:
                position += len(batch)
                delivered += len(batch)
                yield batch
            return rp.DownloadResult(delivered, result.next_offset)

    # -- LIVE -----------------------------------------------------------------------

    def live(self, seconds: Optional[float] = None, idle_s: float = 0.5) -> Iterator[list[rp.Push]]:
        """Turn LIVE on and yield the pushes as they arrive, in lists.

        An empty list is yielded after `idle_s` without pushes, so a display
        can refresh; iteration ends after `seconds` (never if None), and LIVE
        is turned off again when it ends or the loop is left.
        """
        return self._live(seconds, idle_s)

    def run_live(self, on_pushes: Callable[[list[rp.Push]], None], seconds: Optional[float] = None,
                 idle_s: float = 0.5) -> int:
        """Callback form of `live`: call `on_pushes` with each list; returns the push count."""
        count = 0
        for pushes in self.live(seconds, idle_s):
            count += len(pushes)
            on_pushes(pushes)
        return count

    def _live(self, seconds: Optional[float], idle_s: float) -> Generator[list[rp.Push], None, None]:
        deadline = None if seconds is None else self._clock() + seconds
        self._call("LIVE ON", rp.to_none)
        live_on = True
        try:
            while True:
                pushes = self._pushes.take()
                if pushes:
                    yield pushes
                remaining = None if deadline is None else deadline - self._clock()
                if remaining is not None and remaining <= 0:
                    self._call("LIVE OFF", rp.to_none)
                    live_on = False
                    rest = self._pushes.take()  # sent before the server saw LIVE OFF
                    if rest:
                        yield rest
                    return
                wait = idle_s if remaining is None else max(0.0, min(idle_s, remaining))
                try:
                    lines = self._connection().read_lines(timeout=wait)
                except ConnectionFailed:
                    self._drop()
                    self._call("LIVE ON", rp.to_none)
                    continue
                if not lines:
                    yield []
                    continue
                for raw in lines:
                    if raw.startswith(b"!LIVE "):  # nearly every line: skip the general parser
                        session, _, line = raw[6:].partition(b" ")
                        if session.isdigit():
                            self._pushes(rp.LivePush(int(session), line.decode("utf-8", "replace").strip()))
                            continue
                    text = raw.decode("utf-8", "replace").rstrip("\r")
                    if not text.startswith("!"):
                        self._drop()
                        raise BadReply(f"expected only push lines while LIVE is on, got {text[:80]!r}")
                    self._pushes(rp.parse_push(text[1:]))
        finally:
            if live_on and self.connected:
                try:
                    self._call("LIVE OFF", rp.to_none)
                except ConnectionFailed:
                    self._drop()
                self._pushes.take()  # pushes racing LIVE OFF belong to no one


def _data_lines(lines: list[bytes]) -> Optional[list[str]]:
    """The texts of `lines` without their `+` when every one is a data line, else None.

    One join, replace, decode and split in C instead of four Python steps per
    line: a download receives millions of lines.
    """
    if not lines:
        return []
    block = b"\n".join(lines)
    if block[:1] != b"+" or block.count(b"\n+") != len(lines) - 1:
        return None
    text = block[1:].replace(b"\n+", b"\n").decode("utf-8", "replace")
    if "\r" in text:
        return [line.rstrip("\r") for line in text.split("\n")]
    return text.split("\n")


__all__ = ["Client", "DEFAULT_CHUNK_MESSAGES", "DEFAULT_PORT"]
