"""Fixtures of the web console tests: a filled store per backend and an in-process console on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

from blitz.boards import load_boards
from blitz.data.client_database import DatabaseClient
from blitz.web.app import Console, LoggerAddress
from blitz.web.security import AccessPolicy

from tests.web.browser import Browser
from tests.web.harness import ReactorThread, SampleSession, WebClient, fill_sample

BACKENDS = [
    pytest.param("sqlite_file", id="sqlite_file"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
def web_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DatabaseClient]:
    """An empty client store: a SQLite file, or PostgreSQL in a private schema when configured."""
    if request.param == "sqlite_file":
        database = DatabaseClient(path=str(tmp_path / "web.db"))
    else:
        database = DatabaseClient(engine=request.getfixturevalue("postgres_engine"))
    try:
        yield database
    finally:
        database.close()


@pytest.fixture
def samples(web_database: DatabaseClient) -> dict[int, SampleSession]:
    """The sample sessions stored in `web_database`."""
    return fill_sample(web_database)


@pytest.fixture
def reactor_thread() -> Iterator[ReactorThread]:
    """A private real reactor in a thread, stopped after the test."""
    thread = ReactorThread()
    try:
        yield thread
    finally:
        thread.stop()


@dataclass
class RunningConsole:
    """An in-process console serving 127.0.0.1 and a client for it."""

    console: Console
    client: WebClient
    reactor_thread: ReactorThread


ConsoleFactory = Callable[..., RunningConsole]


@pytest.fixture
def make_console(reactor_thread: ReactorThread, web_database: DatabaseClient) -> Iterator[ConsoleFactory]:
    """Build and serve consoles on the test's reactor; all are stopped afterwards."""
    started: list[tuple[Console, Any]] = []

    def make(token: Optional[str] = None, logger: Optional[LoggerAddress] = None,
             database: Optional[DatabaseClient] = None, **options: Any) -> RunningConsole:
        policy = AccessPolicy("127.0.0.1", token)
        console = Console(reactor_thread.reactor, database or web_database, load_boards(entry_points=False),
                          policy, logger, **options)
        port = reactor_thread.call(console.listen, 0, "127.0.0.1")
        started.append((console, port))
        return RunningConsole(console, WebClient(port.getHost().port), reactor_thread)

    yield make
    for console, port in started:
        reactor_thread.call(port.stopListening)
        reactor_thread.call(console.stop)


@pytest.fixture
def console(make_console: ConsoleFactory, samples: dict[int, SampleSession]) -> RunningConsole:
    """A console without a logger over the sample sessions."""
    return make_console()


@pytest.fixture
def unused_port() -> int:
    """A loopback TCP port nothing listens on (bound and released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the run (Debian's, through chromedriver, offline)."""
    running = Browser()
    try:
        yield running
    finally:
        running.quit()
