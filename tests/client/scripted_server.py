"""A tiny threaded loopback server speaking the control protocol, for client tests.

It is a test double, not a logger: sessions are plain lists of lines the test
puts in, and hooks let a test break a connection mid-reply or push live lines.
The real server is exercised by tests/client/test_integration.py.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional


@dataclass
class FakeSession:
    id: int
    start_ms: int
    lines: list[str] = field(default_factory=list)
    end_ms: Optional[int] = None


class ScriptedServer:
    """Answer control commands on 127.0.0.1:<free port> from in-memory state."""

    def __init__(self, token: Optional[str] = None, tls: Optional[ssl.SSLContext] = None) -> None:
        self.token = token
        self.tls = tls
        self.sessions: dict[int, FakeSession] = {}
        self.running: Optional[int] = None
        self.next_id = 1
        self.boards = [(8, "ok", "/dev/pts/3", "Blitz Basic expansion board")]
        self.notes: list[tuple[int, int, str]] = [(1700000000000, 2, "board 09 lost")]
        self.received: list[str] = []
        self.connections = 0
        #: break the DOWNLOAD connection after this many data lines (once per entry)
        self.break_download_after: list[int] = []
        #: answer DOWNLOAD with ERROR 503 after this many data lines (once per entry)
        self.redis_fails_after: list[int] = []
        self.on_command: Optional[Callable[[str], Optional[list[str]]]] = None
        self._live: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stopped = threading.Event()
        self._threads: list[threading.Thread] = []
        self._clients: list[socket.socket] = []

    # -- lifecycle ---------------------------------------------------------------------

    def __enter__(self) -> "ScriptedServer":
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopped.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self._listener.close()
        for sock in list(self._clients):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        for thread in self._threads:
            thread.join(timeout=2)

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            self._clients.append(sock)
            thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, sock: socket.socket) -> None:
        if self.tls is not None:
            try:
                sock = self.tls.wrap_socket(sock, server_side=True)
            except (ssl.SSLError, OSError):
                sock.close()
                return
        authed = self.token is None
        buffer = b""
        with sock:
            while True:
                try:
                    data = sock.recv(65536)
                except OSError:
                    break
                if not data:
                    break
                buffer += data
                while b"\n" in buffer:
                    raw, buffer = buffer.split(b"\n", 1)
                    command = raw.decode().strip()
                    self.received.append(command)
                    word = command.split(" ")[0].upper()
                    if not authed and word not in ("AUTH", "PING", "HELP", "QUIT"):
                        self._send(sock, ["ERROR 401 authentication required"])
                        continue
                    if word == "AUTH":
                        authed = command.split(" ", 1)[1:] == [self.token]
                        self._send(sock, ["ACK" if authed else "ERROR 401 wrong token"])
                        continue
                    if word == "DOWNLOAD" and self._download(sock, command):
                        return  # connection broken on purpose
                    if word == "DOWNLOAD":
                        continue
                    if word == "QUIT":
                        self._send(sock, ["ACK bye"])
                        return
                    if word == "LIVE":
                        with self._lock:
                            if command.upper().endswith("ON"):
                                self._live.append(sock)
                            elif sock in self._live:
                                self._live.remove(sock)
                    self._send(sock, self.answer(command))
        with self._lock:
            if sock in self._live:
                self._live.remove(sock)

    def _send(self, sock: socket.socket, lines: list[str]) -> None:
        with self._lock:
            try:
                sock.sendall("".join(line + "\n" for line in lines).encode())
            except OSError:
                pass

    # -- behaviour ---------------------------------------------------------------------

    def add_session(self, lines: list[str], running: bool = False) -> int:
        """Store a session with these lines; returns its id."""
        session = FakeSession(self.next_id, 1_700_000_000_000 + self.next_id, list(lines))
        if not running:
            session.end_ms = session.start_ms + 1000
        else:
            self.running = session.id
        self.sessions[session.id] = session
        self.next_id += 1
        return session.id

    def push(self, line: str) -> None:
        """Append a line to the running session and push it to LIVE clients."""
        assert self.running is not None
        self.sessions[self.running].lines.append(line)
        with self._lock:
            targets = list(self._live)
        for sock in targets:
            self._send(sock, [f"!LIVE {self.running} {line}"])

    def _download(self, sock: socket.socket, command: str) -> bool:
        parts = command.split()
        session = self.sessions.get(int(parts[1]))
        if session is None:
            self._send(sock, [f"ERROR 404 no session {parts[1]}"])
            return False
        offset = int(parts[2]) if len(parts) > 2 else 0
        lines = session.lines[offset:]
        if self.redis_fails_after:
            limit = self.redis_fails_after.pop(0)
            self._send(sock, ["+" + line for line in lines[:limit]] + ["ERROR 503 Redis is unavailable"])
            return False
        if self.break_download_after:
            limit = self.break_download_after.pop(0)
            self._send(sock, ["+" + line for line in lines[:limit]])
            sock.sendall(b"+" + lines[limit][:5].encode())  # half a line, then gone
            sock.shutdown(socket.SHUT_RDWR)
            return True
        self._send(sock, ["+" + line for line in lines] + [f"ACK {len(lines)} {offset + len(lines)}"])
        return False

    def answer(self, command: str) -> list[str]:
        """The reply lines to one command (everything but DOWNLOAD, AUTH, QUIT)."""
        if self.on_command is not None:
            scripted = self.on_command(command)
            if scripted is not None:
                return scripted
        words = command.split()
        word = words[0].upper() if words else ""
        if word == "PING":
            return ["ACK PONG"]
        if word == "LOGGING":
            return [f"INSESSION {self.running}"] if self.running else ["NOSESSION"]
        if word == "START":
            if self.running:
                return [f"INSESSION {self.running}"]
            return [f"ACK {self.add_session([], running=True)}"]
        if word == "STOP":
            if not self.running:
                return ["NOSESSION"]
            session, self.running = self.sessions[self.running], None
            session.end_ms = int(time.time() * 1000)
            return [f"ACK {session.id}"]
        if word == "SESSIONS":
            rows = [f"+{s.id} {s.start_ms} {s.end_ms} {len(s.lines)}" for s in
                    sorted(self.sessions.values(), key=lambda s: -s.id)]
            return rows + [f"ACK {len(rows)}"]
        if word == "DELETE":
            session_id = int(words[1])
            if session_id not in self.sessions:
                return [f"ERROR 404 no session {session_id}"]
            if session_id == self.running:
                return [f"NACK session {session_id} is running"]
            del self.sessions[session_id]
            return ["ACK"]
        if word == "RESET":
            self.sessions.clear()
            self.running = None
            return ["ACK"]
        if word == "BOARDS":
            return [f"+{b:02x} {state} {port} {text}" for b, state, port, text in self.boards] + [
                f"ACK {len(self.boards)}"]
        if word == "BOARD":
            if int(words[1], 16) not in [b[0] for b in self.boards]:
                return [f"NOBOARD {words[1]}"]
            return [f"+{words[1]}82", "ACK"]
        if word == "STATUS":
            status = {"logging": self.running is not None, "session": self.running or -1, "uptime_s": 12.5,
                      "redis": {"ok": True, "url": "redis://x", "buffered": 0, "dropped": 0},
                      "boards": [{"id": b, "port": p, "state": s, "messages": 3, "errors": 0,
                                  "overwritten": 0, "description": d} for b, s, p, d in self.boards],
                      "session_messages": 3, "notifications": len(self.notes)}
            return ["+" + json.dumps(status), "ACK"]
        if word == "NOTIFICATIONS":
            return [f"+{t} {sev} {text}" for t, sev, text in self.notes] + [f"ACK {len(self.notes)}"]
        if word == "UPDATE":
            if not self.running:
                return ["NOSESSION"]
            lines = self.sessions[self.running].lines
            return ([f"+{lines[-1]}"] if lines else []) + ["ACK"]
        if word == "LIVE":
            return ["ACK"]
        return [f"ERROR 400 unknown command {word!r}"]
