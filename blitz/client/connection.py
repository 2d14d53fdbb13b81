"""A blocking line-oriented socket: connect with backoff, send lines, read lines.

The blocking `Client` keeps all protocol knowledge; this module only knows
bytes, newlines, timeouts and retries, and turns every socket failure into
`ConnectionFailed` with the address in its text.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections import deque
from typing import Callable, Optional, Union

from blitz.client.errors import BadReply, ConnectionFailed

SocketFactory = Callable[[tuple[str, int], float], socket.socket]
MAX_LINE_BYTES = 1 << 20
RECV_BYTES = 1 << 18


def open_socket(
    host: str,
    port: int,
    timeout: float,
    tls: Union[bool, ssl.SSLContext] = False,
    retries: int = 3,
    backoff_s: float = 0.25,
    max_backoff_s: float = 5.0,
    factory: SocketFactory = socket.create_connection,
    sleep: Callable[[float], None] = time.sleep,
) -> socket.socket:
    """Connect to `host:port`, trying `retries` times with doubling pauses."""
    delay = backoff_s
    last: Optional[BaseException] = None
    attempts = max(1, retries)
    for attempt in range(1, attempts + 1):
        try:
            sock = factory((host, port), timeout)
            if tls:
                context = tls if isinstance(tls, ssl.SSLContext) else ssl.create_default_context()
                sock = context.wrap_socket(sock, server_hostname=host)
            sock.settimeout(timeout)
            return sock
        except OSError as exc:
            last = exc
            if attempt < attempts:
                sleep(delay)
                delay = min(delay * 2, max_backoff_s)
    reason = getattr(last, "strerror", None) or str(last) or type(last).__name__
    tries = f" (after {attempts} attempts)" if attempts > 1 else ""
    raise ConnectionFailed(f"cannot connect to the Blitz server at {host}:{port}: {reason}{tries}")


class LineConnection:
    """Send and receive `\\n`-ended lines over one connected socket."""

    def __init__(self, sock: socket.socket, address: str, timeout: float) -> None:
        self._sock = sock
        self.address = address
        self.timeout = timeout
        self._partial = b""
        self._lines: deque[bytes] = deque()
        self.closed = False

    def send(self, line: str) -> None:
        """Send one line (the newline is added)."""
        self._check_open()
        try:
            self._sock.sendall(line.encode("utf-8") + b"\n")
        except OSError as exc:
            self.close()
            raise ConnectionFailed(f"connection to {self.address} broke while sending: {exc}") from None

    def read_lines(self, timeout: Optional[float] = None) -> list[bytes]:
        """Every complete line received so far, waiting for at least one.

        Raises `socket.timeout`-free `ConnectionFailed` on timeout unless
        `timeout` is given, in which case an empty list means nothing came.
        """
        if self._lines:
            lines = list(self._lines)
            self._lines.clear()
            return lines
        self._check_open()
        while True:
            try:
                self._sock.settimeout(self.timeout if timeout is None else timeout)
                data = self._sock.recv(RECV_BYTES)
            except (socket.timeout, TimeoutError):
                if timeout is not None:
                    return []
                self.close()
                raise ConnectionFailed(f"no reply from {self.address} within {self.timeout:g} s") from None
            except OSError as exc:
                self.close()
                raise ConnectionFailed(f"connection to {self.address} broke: {exc}") from None
            if not data:
                self.close()
                raise ConnectionFailed(f"the server at {self.address} closed the connection")
            parts = (self._partial + data).split(b"\n")
            self._partial = parts.pop()
            if len(self._partial) > MAX_LINE_BYTES:
                self.close()
                raise BadReply(f"expected lines under {MAX_LINE_BYTES} bytes from {self.address}, got a longer one")
            if parts:
                return parts

    def read_line(self) -> bytes:
        """The next complete line."""
        if not self._lines:
            self._lines.extend(self.read_lines())
        return self._lines.popleft()

    def unread(self, lines: list[bytes]) -> None:
        """Put lines back to be read first (they arrived after a reply ended)."""
        self._lines.extendleft(reversed(lines))

    def close(self) -> None:
        """Close the socket; later reads and sends raise ConnectionFailed."""
        if self.closed:
            return
        self.closed = True
        try:
            self._sock.close()
        except OSError:
            pass

    def _check_open(self) -> None:
        if self.closed:
            raise ConnectionFailed(f"the connection to {self.address} is closed")


__all__ = ["LineConnection", "SocketFactory", "open_socket"]
