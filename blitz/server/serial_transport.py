"""Opening a serial port as a Twisted transport, by device path or pyserial URL.

Device paths (`/dev/ttyACM0`, a pty) have a file descriptor, so the reactor
watches them directly (`FastSerialPort`, reading 64 KiB at a time so a busy
board costs few wake-ups).  pyserial URLs (`socket://`, `rfc2217://`,
`loop://`, ...) may have no descriptor the reactor can select on, so each gets
one reader thread doing blocking reads with a short timeout and handing the
bytes to the protocol on the reactor thread with `callFromThread`
(`ThreadedSerialTransport`).  Writes are a few bytes per command and are made
directly, under a lock.
"""

from __future__ import annotations

import errno
import os
import threading
from typing import Any, Callable

import serial
from twisted.internet import main
from twisted.internet.interfaces import IReactorThreads
from twisted.internet.protocol import Protocol
from twisted.internet.serialport import SerialPort
from twisted.python.failure import Failure

READ_SIZE = 65536


def is_url(port: str) -> bool:
    """True for a pyserial URL such as `socket://host:port` or `loop://`."""
    return "://" in port


class FastSerialPort(SerialPort):  # type: ignore[misc]  # Twisted's class is untyped
    """Twisted's serial port, reading up to 64 KiB per wake-up instead of 8 KiB."""

    def doRead(self) -> Any:
        try:
            data = os.read(self.fileno(), READ_SIZE)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EINTR):
                return None
            return main.CONNECTION_LOST
        if not data:
            return main.CONNECTION_DONE
        self.protocol.dataReceived(data)
        return None


class ThreadedSerialTransport:
    """A transport over any pyserial port, read by one background thread."""

    disconnecting = False

    def __init__(self, port: Any, protocol: Protocol, reactor: IReactorThreads, read_timeout_s: float = 0.05) -> None:
        self.serial = port
        self.protocol = protocol
        self.reactor = reactor
        self.serial.timeout = read_timeout_s
        self._lock = threading.Lock()
        self._lost = False
        self._thread = threading.Thread(target=self._read_loop, name=f"blitz-serial {port.port}", daemon=True)
        protocol.makeConnection(self)  # type: ignore[arg-type]
        self._thread.start()

    def write(self, data: bytes) -> None:
        """Write to the port now; a failure closes the transport."""
        if self.disconnecting:
            return
        try:
            with self._lock:
                self.serial.write(data)
        except (serial.SerialException, OSError) as exc:
            self.disconnecting = True
            self.reactor.callFromThread(self._connection_lost, Failure(exc))

    def writeSequence(self, data: list[bytes]) -> None:
        """Write several byte strings as one."""
        self.write(b"".join(data))

    def loseConnection(self) -> None:
        """Stop the reader; the protocol hears connectionLost on the reactor thread."""
        self.disconnecting = True
        cancel = getattr(self.serial, "cancel_read", None)
        if cancel is not None:
            try:
                cancel()
            except Exception:  # cancel is best effort: the read times out anyway
                pass

    def _read_loop(self) -> None:
        reason = Failure(main.CONNECTION_DONE)
        try:
            while not self.disconnecting:
                data = self.serial.read(self.serial.in_waiting or 1)
                if data:
                    self.reactor.callFromThread(self._deliver, data)
        except Exception as exc:  # every I/O failure ends up in connectionLost
            reason = Failure(exc)
        finally:
            try:
                self.serial.close()
            finally:
                self.reactor.callFromThread(self._connection_lost, reason)

    def _deliver(self, data: bytes) -> None:
        if not self._lost:
            self.protocol.dataReceived(data)

    def _connection_lost(self, reason: Failure) -> None:
        if self._lost:
            return
        self._lost = True
        self.disconnecting = True
        self.protocol.connectionLost(reason)


def make_opener(reactor: Any, baudrate: int = 57600, serial_for_url: Callable[..., Any] = serial.serial_for_url) -> Callable[[str, Protocol], Any]:
    """Return a `PortOpener` that opens paths on the reactor and URLs in a thread."""

    def open_port(port: str, protocol: Protocol) -> Any:
        if is_url(port):
            handle = serial_for_url(port, baudrate=baudrate, timeout=0.05)
            return ThreadedSerialTransport(handle, protocol, reactor)
        return FastSerialPort(protocol, port, reactor, baudrate=baudrate)

    return open_port
