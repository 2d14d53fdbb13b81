"""Helpers of the web console tests: a private reactor in a thread, a loopback HTTP client, sample data.

The console under test is real: a `Console` on its own PollReactor (the
global reactor can run only once per process) serving 127.0.0.1:0, or a
`blitz ui` subprocess.  Requests go over loopback TCP with http.client.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
from twisted.internet.pollreactor import PollReactor
from twisted.internet.threads import blockingCallFromThread

from blitz.data.client_database import DatabaseClient

BLITZ = [sys.executable, "-m", "blitz"]
CONSOLE_URL = re.compile(r"Blitz web console on (http://[^ ]+/)")


class ReactorThread:
    """A PollReactor running in a daemon thread; `call` runs a function on it and waits."""

    def __init__(self) -> None:
        self.reactor = PollReactor()
        self._thread = threading.Thread(
            target=self.reactor.run, kwargs={"installSignalHandlers": False}, name="web-test-reactor", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 5
        while not self.reactor.running and time.monotonic() < deadline:
            time.sleep(0.005)

    def call(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run `function` in the reactor thread; return its (Deferred's) result."""
        return blockingCallFromThread(self.reactor, function, *args, **kwargs)

    def stop(self) -> None:
        """Stop the reactor and wait for its thread."""
        if self.reactor.running:
            self.reactor.callFromThread(self.reactor.stop)
        self._thread.join(10)


@dataclass
class Reply:
    """One HTTP answer."""

    status: int
    headers: dict[str, str]
    body: bytes
    header_list: list[tuple[str, str]] = field(default_factory=list)

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


class WebClient:
    """Plain HTTP requests to a console on 127.0.0.1; POSTs carry a same-origin Origin unless told not to."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.port = port
        self.host = host
        self.origin = f"http://{host}:{port}"

    def request(self, method: str, path: str, body: Any = None, headers: Optional[dict[str, str]] = None,
                origin: Optional[str] = "same", timeout_s: float = 30.0) -> Reply:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout_s)
        sent = dict(headers or {})
        if origin == "same" and method != "GET":
            sent.setdefault("Origin", self.origin)
        elif origin not in (None, "same"):
            sent["Origin"] = origin
        payload: Optional[bytes] = None
        if isinstance(body, (dict, list)):
            payload = json.dumps(body).encode("utf-8")
            sent.setdefault("Content-Type", "application/json")
        elif isinstance(body, (bytes, str)):
            payload = body.encode("utf-8") if isinstance(body, str) else body
        try:
            conn.request(method, path, body=payload, headers=sent)
            response = conn.getresponse()
            data = response.read()
            pairs = [(name.lower(), value) for name, value in response.getheaders()]
            return Reply(response.status, dict(pairs), data, pairs)
        finally:
            conn.close()

    def get(self, path: str, **kwargs: Any) -> Reply:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Reply:
        return self.request("POST", path, body if body is not None else {}, **kwargs)


@dataclass
class SampleSession:
    """The readings stored for one session: per variable, times and values."""

    session_id: int
    variables: dict[str, tuple[np.ndarray, np.ndarray]]
    messages: int


def fill_sample(database: DatabaseClient, seed: int = 7) -> dict[int, SampleSession]:
    """Three sessions: 1 (3 variables, 6000 readings each, a spike), 2 (2 variables), 3 (listed only).

    Values are random but seeded, so the tests compute what to expect from the
    same arrays with numpy, independently of the SQL under test.
    """
    rng = np.random.default_rng(seed)
    database.update_session_list([
        [1, 1_700_000_000_000, 1_700_000_012_000, 6000],
        [2, 1_700_000_100_000, 1_700_000_104_000, 2000],
        [3, 1_700_000_200_000, None, 500],
    ])
    ids = database.get_or_create_categories(["alpha", "beta", "gamma"])
    sessions: dict[int, SampleSession] = {}
    one: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    t = 1000 + 2 * np.arange(6000, dtype=np.int64)
    one["alpha"] = (t, np.round(np.sin(t / 500.0) * 100 + rng.normal(0, 1, t.size), 6))
    beta = rng.normal(50, 5, t.size)
    beta[4321] = 900.0  # a one-sample spike the overview must not lose
    one["beta"] = (t, beta)
    one["gamma"] = (t[::3], rng.integers(0, 4096, t[::3].size).astype(np.float64))
    _store(database, ids, 1, one, messages=6000)
    sessions[1] = SampleSession(1, one, 6000)
    two: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    t2 = 500 + 2 * np.arange(2000, dtype=np.int64)
    two["alpha"] = (t2, np.cos(t2 / 300.0) * 80)
    two["beta"] = (t2, rng.normal(60, 2, t2.size))
    _store(database, ids, 2, two, messages=2000)
    sessions[2] = SampleSession(2, two, 2000)
    return sessions


def _store(database: DatabaseClient, ids: dict[str, int], session_id: int,
           variables: dict[str, tuple[np.ndarray, np.ndarray]], messages: int) -> None:
    times = np.concatenate([t for t, _ in variables.values()])
    values = np.concatenate([v for _, v in variables.values()])
    categories = np.concatenate([np.full(t.size, ids[name]) for name, (t, _) in variables.items()])
    database.add_readings_bulk(session_id, times, categories, values, messages=messages)


def start_ui(args: list[str], log_path: Path, env: Optional[dict[str, str]] = None,
             cwd: Optional[Path] = None, timeout_s: float = 20.0,
             open_browser: bool = False) -> tuple[subprocess.Popen[bytes], str]:
    """Start `blitz ui` with `args` (and `--no-browser` unless `open_browser`); return it and its URL."""
    log = open(log_path, "wb")
    flags = [] if open_browser else ["--no-browser"]
    process = subprocess.Popen([*BLITZ, "ui", *flags, *args], stdout=log, stderr=subprocess.STDOUT,
                               env=env, cwd=cwd)
    log.close()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace")
        match = CONSOLE_URL.search(text)
        if match:
            return process, match.group(1)
        if process.poll() is not None:
            raise AssertionError(f"blitz ui exited with {process.returncode}:\n{text}")
        time.sleep(0.05)
    process.kill()
    raise AssertionError(f"blitz ui did not start in {timeout_s} s:\n{log_path.read_text(errors='replace')}")


class EventStream:
    """Read `/api/events` in a thread and collect the parsed server-sent events."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.events: list[tuple[str, Any]] = []
        self.headers: dict[str, str] = {}
        self._conn = http.client.HTTPConnection(host, port, timeout=30)
        self._conn.request("GET", "/api/events")
        self._response = self._conn.getresponse()
        self.status = self._response.status
        self.headers = {name.lower(): value for name, value in self._response.getheaders()}
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        event, data = "message", []
        try:
            for raw in self._response:
                line = raw.decode("utf-8").rstrip("\r\n")
                if not line:
                    if data:
                        self.events.append((event, json.loads("\n".join(data))))
                    event, data = "message", []
                elif line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
        except Exception:  # the stream was shut down by close(), or broke
            return

    def of(self, kind: str) -> list[Any]:
        """The data of every event of `kind` so far."""
        return [data for event, data in list(self.events) if event == kind]

    def close(self) -> None:
        """Shut the socket down (which wakes the reader), then close."""
        sock = self._conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(5)
        self._conn.close()
