"""What every benchmark shares: printed figures, timing, peak RSS, generated lines and a logger stack.

A figure is printed as soon as it is measured, one line each:

    download.readings_per_s = 482,311 readings/s  [target >= 400,000] (1,000,000 messages)

so a reader (and the smoke test) sees every number, its unit, the target
it is held to and what it was measured on.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, TextIO

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parent.parent
BASIC_BOARD_ID = 0x08
BASIC_VARIABLES = 5
_DATA_META = 0xA0  # type DATA (5) << 5, no flags
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_FIGURE_LINE = re.compile(r"^(?P<benchmark>[a-z_]+)\.(?P<name>[a-z0-9_]+) = ", re.MULTILINE)


# -- figures -------------------------------------------------------------------------


@dataclass
class Figure:
    """One measured number of one benchmark."""

    benchmark: str
    name: str
    value: float
    unit: str
    target: str = ""
    note: str = ""

    def line(self) -> str:
        """The printed form (see the module docstring)."""
        text = f"{self.benchmark}.{self.name} = {format_value(self.value)} {self.unit}"
        if self.target:
            text += f"  [target {self.target}]"
        if self.note:
            text += f" ({self.note})"
        return text


def format_value(value: float) -> str:
    """Thousands separators for big numbers, three significant decimals for small ones."""
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if value == int(value):
        return str(int(value))
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.1f}" if abs(value) >= 100 else f"{value:.2f}"


@dataclass
class Recorder:
    """Collects the figures of one benchmark and prints each as it comes."""

    benchmark: str
    out: TextIO = field(default_factory=lambda: sys.stdout)
    figures: list[Figure] = field(default_factory=list)

    def add(self, name: str, value: float, unit: str, target: str = "", note: str = "") -> Figure:
        """Record and print one figure."""
        figure = Figure(self.benchmark, name, float(value), unit, target, note)
        self.figures.append(figure)
        print(figure.line(), file=self.out, flush=True)
        return figure

    def say(self, text: str) -> None:
        """Print a line of context (not a figure) to stderr."""
        print(f"# {self.benchmark}: {text}", file=sys.stderr, flush=True)


def printed_figures(text: str) -> set[str]:
    """`benchmark.name` of every figure line in a benchmark run's output."""
    return {f"{m['benchmark']}.{m['name']}" for m in _FIGURE_LINE.finditer(text)}


# -- options -------------------------------------------------------------------------


def base_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """The options every benchmark understands."""
    # "resolve": a benchmark may declare a shared option again with its own help text
    parser = argparse.ArgumentParser(prog=prog, description=description, conflict_handler="resolve")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes and one repetition: checks that everything runs (CI)")
    parser.add_argument("--messages", type=int, default=None, metavar="N",
                        help="Blitz Basic messages in the session (5 readings each); each benchmark has a default")
    parser.add_argument("--repeat", type=int, default=None, metavar="R",
                        help="repetitions of each timed step (the median is reported)")
    parser.add_argument("--postgres-url", default=os.environ.get("BLITZ_BENCH_POSTGRES_URL",
                                                                 os.environ.get("BLITZ_TEST_POSTGRES_URL")),
                        metavar="URL", help="PostgreSQL for the benchmarks that also run there "
                        "(default: $BLITZ_BENCH_POSTGRES_URL or $BLITZ_TEST_POSTGRES_URL; skipped when unset)")
    parser.add_argument("--workdir", type=Path, default=None, metavar="DIR",
                        help="where databases and Redis live during the run (default: a temporary folder)")
    return parser


def size(options: argparse.Namespace, default: int, smoke: int) -> int:
    """The message count to use: --messages, else the smoke or the default size."""
    if options.messages is not None:
        return int(options.messages)
    return smoke if options.smoke else default


def repeats(options: argparse.Namespace, default: int = 5) -> int:
    """How often to repeat a timed step: --repeat, else 1 for smoke runs, else `default`."""
    if options.repeat is not None:
        return max(1, int(options.repeat))
    return 1 if options.smoke else default


# -- timing and memory ---------------------------------------------------------------


def time_call(function: Callable[[], Any], repeat: int = 1) -> tuple[float, list[float], Any]:
    """Run `function` `repeat` times; returns the median seconds, every duration and the last result."""
    durations: list[float] = []
    result: Any = None
    for _ in range(max(1, repeat)):
        began = time.perf_counter()
        result = function()
        durations.append(time.perf_counter() - began)
    return statistics.median(durations), durations, result


def peak_rss_mb(pid: Optional[int] = None) -> float:
    """Peak resident memory (VmHWM) of a running process, or of this one, in MB (10^6 bytes)."""
    if pid is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6  # kB on Linux
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError(f"/proc/{pid}/status has no VmHWM line")


def machine() -> str:
    """CPU model, cores, Python and SQLite versions, and the load average right now."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"SQLite {sqlite3.sqlite_version}, numpy {np.__version__}; {load()}")


def load() -> str:
    """The 1/5/15-minute load averages (the machine is shared: figures move with it)."""
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f}"


# -- data ----------------------------------------------------------------------------


def basic_values(first: int, count: int) -> npt.NDArray[np.int64]:
    """(count, 5) 12-bit ADC values of messages `first`..: slow sine waves plus hashed noise.

    Each value depends only on its message number, so any slice of a session
    can be generated on its own.
    """
    index = np.arange(first, first + count, dtype=np.int64)[:, None]
    periods = np.array([500.0, 1300.0, 2900.0, 7100.0, 15000.0])
    wave = 2048 + 1500 * np.sin(2 * np.pi * index / periods)
    mixers = np.array([2654435761, 2246822519, 3266489917, 668265263, 374761393], dtype=np.int64)
    noise = ((index * mixers) >> 7) % 81 - 40  # deterministic, roughly uniform in [-40, 40]
    values: npt.NDArray[np.int64] = np.clip(np.rint(wave + noise), 0, 4095).astype(np.int64)
    return values


def basic_lines(count: int, first: int = 0, step_ms: int = 10) -> list[bytes]:
    """`count` Blitz Basic data lines (28 hex chars) for messages `first` .. `first + count - 1`.

    Message k is stamped k * `step_ms` ms (wrapping at 2^32 like the board's
    clock) and carries `basic_values` row k, so any slice of a session can be
    made on its own, in the same way the board would have sent it.
    """
    index = np.arange(first, first + count, dtype=np.int64)
    stamps = (index * step_ms) & 0xFFFFFFFF
    values = basic_values(first, count).astype(np.uint64)
    payload = np.zeros(count, dtype=np.uint64)
    for channel in range(BASIC_VARIABLES):
        payload |= values[:, channel] << np.uint64(64 - 12 * (channel + 1))
    header = (np.uint64(BASIC_BOARD_ID) << np.uint64(40)) | (np.uint64(_DATA_META) << np.uint64(32)) \
        | stamps.astype(np.uint64)
    nibbles = np.empty((count, 28), dtype=np.uint8)
    for k in range(12):
        nibbles[:, k] = (header >> np.uint64(4 * (11 - k))) & np.uint64(0xF)
    for k in range(16):
        nibbles[:, 12 + k] = (payload >> np.uint64(4 * (15 - k))) & np.uint64(0xF)
    text = np.ascontiguousarray(_HEX[nibbles]).view("S28").ravel()
    lines: list[bytes] = text.tolist()
    return lines


def basic_lines_chunks(count: int, chunk: int = 100_000) -> Iterator[list[bytes]]:
    """The lines of a `count`-message session in lists of at most `chunk` (bounded memory)."""
    for first in range(0, count, chunk):
        yield basic_lines(min(chunk, count - first), first=first)


# -- processes -----------------------------------------------------------------------


def python_env() -> dict[str, str]:
    """This environment with the repository root importable (for `-m blitz` and `-m benchmarks`)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    return env


def run_worker(target: str, payload: dict[str, Any], result_path: Path, timeout_s: float = 3600) -> dict[str, Any]:
    """Run `module:function` in a fresh Python process with `payload`; return the dict it saved.

    A separate process gives a measurement its own peak RSS and cold imports, like a user's command.
    The function receives the payload and returns a JSON-able dict.
    """
    module, function = target.split(":")
    code = (
        "import json, sys, importlib\n"
        f"payload = json.loads(sys.argv[1])\n"
        f"result = getattr(importlib.import_module({module!r}), {function!r})(payload)\n"
        f"open(sys.argv[2], 'w').write(json.dumps(result))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code, json.dumps(payload), str(result_path)],
        cwd=ROOT, env=python_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout_s,
    )
    if completed.returncode != 0:
        tail = completed.stderr.decode("utf-8", "replace")[-3000:]
        raise RuntimeError(f"{target} failed with exit code {completed.returncode}:\n{tail}")
    result: dict[str, Any] = json.loads(result_path.read_text())
    return result


class LoggerStack:
    """An embedded redis-server holding one generated session, and a real `blitz server` on loopback TCP.

    The session is written straight into Redis with `DatabaseServer.queue_many`
    before the server starts (much faster than simulated boards, and the
    server finds a stopped session as it would after logging).
    """

    def __init__(self, workdir: Path, messages: int) -> None:
        self.workdir = Path(workdir)
        self.messages = messages
        self.session_id = 0
        self.port = 0
        self.redis_url = ""
        self._redis: Any = None
        self._server: Optional[subprocess.Popen[bytes]] = None
        self.fill_s = 0.0

    def __enter__(self) -> "LoggerStack":
        from blitz.data.redis_buffer import DatabaseServer
        from blitz.data.redis_process import EmbeddedRedis

        try:
            self._redis = EmbeddedRedis(self.workdir / "redis", unix_socket=True, appendonly=False)
            self.redis_url = self._redis.start()
            store = DatabaseServer(url=self.redis_url)
            began = time.perf_counter()
            self.session_id = store.start_session()
            for lines in basic_lines_chunks(self.messages):
                store.queue_many(lines, self.session_id)
            store.stop_session()
            store.close()
            self.fill_s = time.perf_counter() - began
            self._start_server()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start_server(self) -> None:
        log_path = self.workdir / "server.log"
        with open(log_path, "wb") as log:
            self._server = subprocess.Popen(
                [sys.executable, "-m", "blitz", "server", "--redis-url", self.redis_url, "--port", "0",
                 "--no-scan", "--log-level", "info"],
                cwd=self.workdir, env=python_env(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            text = log_path.read_text(errors="replace")
            match = re.search(r"listening on [^:\s]+:(\d+)", text)
            if match:
                self.port = int(match.group(1))
                return
            if self._server.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"blitz server did not start:\n{log_path.read_text(errors='replace')[-3000:]}")

    @property
    def server_pid(self) -> int:
        """The `blitz server` process id."""
        assert self._server is not None
        return self._server.pid

    def __exit__(self, *exc_info: object) -> None:
        if self._server is not None and self._server.poll() is None:
            self._server.send_signal(signal.SIGTERM)
            try:
                self._server.wait(30)
            except subprocess.TimeoutExpired:
                self._server.kill()
                self._server.wait()
        if self._redis is not None:
            self._redis.stop()


@contextmanager
def postgres_schema(url: str, prefix: str = "blitz_bench") -> Iterator[str]:
    """A new, empty PostgreSQL schema; yields the URL whose connections use it, drops it afterwards."""
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(parsed, poolclass=NullPool)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield parsed.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


_SHARED: list[Path] = []


def shared_dir() -> Path:
    """A folder kept for this whole run (every benchmark), removed when the process exits."""
    if not _SHARED:
        import atexit
        import shutil
        import tempfile

        folder = Path(tempfile.mkdtemp(prefix="blitz-bench-shared-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        _SHARED.append(folder)
    return _SHARED[0]


def sqlite_file_size_mb(path: Path) -> float:
    """A SQLite file's size with its WAL, in MB."""
    total = 0
    for suffix in ("", "-wal"):
        candidate = Path(str(path) + suffix)
        if candidate.exists():
            total += candidate.stat().st_size
    return total / 1e6


def readings_of(lines: Sequence[bytes]) -> int:
    """Readings a list of Blitz Basic lines decodes into."""
    return len(lines) * BASIC_VARIABLES
