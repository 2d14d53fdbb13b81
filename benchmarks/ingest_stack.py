"""The processes behind the ingest and live benchmarks: boards, a real server, their CPU.

`SimulatorProcess` runs `blitz.simulator.Simulator` in its own process (this
module's `simulator_child`, i.e. `blitz simulate` plus a record of when each
board answered TRANSMIT), `ServerProcess` a `blitz server` subprocess on a
free port; `CpuWindow` reads a process's CPU from /proc, `profile_server`
runs py-spy on the server and `top_functions` sums its samples.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Sequence

from blitz.client.blocking import Client
from blitz.data.redis_buffer import DatabaseServer

LAUNCH = "from blitz.cli.main import main; main()"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
#: Ids of the simulated boards: unknown to Blitz, so they get the Basic layout
#: (0x0a/0x0b are the NetScanner's and cannot be simulated).
FIRST_BOARD_ID = 0x10


# -- processes ------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process and all its threads so far."""
    with open(f"/proc/{pid}/stat", "rb") as handle:
        fields = handle.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime (fields 14, 15)


def rss_mib(pid: int) -> float:
    """Resident memory of a process in MiB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def load_average() -> float:
    """The one-minute load average (the machine is shared)."""
    return os.getloadavg()[0]


class CpuWindow:
    """CPU used by one process between `start()` and `stop()`, as a share of one core."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.cpu_s = 0.0
        self.wall_s = 0.0
        self._cpu0 = 0.0
        self._t0 = 0.0

    def start(self) -> None:
        self._cpu0, self._t0 = cpu_seconds(self.pid), time.monotonic()

    def stop(self) -> float:
        """End the window; returns the percentage of one core."""
        self.cpu_s = cpu_seconds(self.pid) - self._cpu0
        self.wall_s = time.monotonic() - self._t0
        return self.percent

    @property
    def percent(self) -> float:
        return 100.0 * self.cpu_s / self.wall_s if self.wall_s else 0.0


class ServerProcess:
    """A `blitz server` child on a free control port; its stderr is kept."""

    def __init__(self, ports: Sequence[str], redis_url: str, poll_interval_s: float, data_dir: Path) -> None:
        args = ["server", "--port", "0", "--no-scan", "--reset-wait", "0", "--redis-url", redis_url,
                "--poll-interval", str(poll_interval_s), "--data-dir", str(data_dir), "--log-level", "info"]
        for port in ports:
            args += ["--serial", port]
        self.process = subprocess.Popen([sys.executable, "-c", LAUNCH, *args], stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.pid = self.process.pid
        self.log: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.port = int(self.wait_for(r"listening on [^:]+:(\d+)").group(1))

    def _read(self) -> None:
        assert self.process.stderr is not None
        for raw in self.process.stderr:
            self.log.append(raw.decode("utf-8", "replace"))

    def wait_for(self, pattern: str, timeout_s: float = 30.0) -> re.Match[str]:
        """The first log line matching `pattern`; RuntimeError after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for entry in list(self.log):
                match = re.search(pattern, entry)
                if match:
                    return match
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        raise RuntimeError(f"no {pattern!r} in the server's log:\n{''.join(self.log)[-3000:]}")

    def stop(self) -> int:
        """SIGTERM and wait."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._reader.join(5)
        return code


class SimulatorProcess:
    """The boards in their own process (so they take no GIL from the server or the measurer).

    The child is this module's `simulator_child`: `blitz simulate` plus the
    time between consecutive TRANSMITs each board answered, which tells
    whether a board was polled in time (a gap longer than the buffer lasts
    means overwritten messages).
    """

    def __init__(self, boards: Sequence[str], rate_hz: float, buffer_size: int, stats_file: Path,
                 log_transmits: bool = False) -> None:
        args = ["--rate", str(rate_hz), "--buffer", str(buffer_size), "--stats-file", str(stats_file), *boards]
        if log_transmits:
            args.insert(0, "--log-transmits")
        self.stats_file = stats_file
        self.process = subprocess.Popen([sys.executable, "-m", "benchmarks.ingest_stack", *args],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        cwd=Path(__file__).resolve().parent.parent)
        self.pid = self.process.pid
        assert self.process.stdout is not None
        self.paths: list[str] = []
        for _ in boards:
            line = self.process.stdout.readline().decode().split()
            if len(line) < 2:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"the simulator did not start: {err[-2000:]}")
            self.paths.append(line[1])

    def stop(self) -> list[dict[str, Any]]:
        """SIGTERM, wait, and return the per-board counters it wrote."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        _, err = self.process.communicate(timeout=30)
        if not self.stats_file.exists():
            raise RuntimeError(f"the simulator wrote no stats: {err.decode(errors='replace')[-2000:]}")
        stats: list[dict[str, Any]] = json.loads(self.stats_file.read_text())
        return stats


def watch_transmits(board: Any, clock: Callable[[], float] = time.monotonic) -> list[tuple[float, int]]:
    """Record each TRANSMIT that `board` (a SimulatedBoard) answers with data.

    Returns the list it fills with (monotonic time of the reply, messages
    transmitted so far): message n (0-based) went out with the first reply
    whose count exceeds n.
    """
    replies: list[tuple[float, int]] = []

    def install(firmware: Any) -> None:
        receive = firmware.receive

        def timed_receive(data: bytes) -> bytes:
            before = firmware.counters.transmitted
            reply: bytes = receive(data)
            after = firmware.counters.transmitted
            if after != before:
                replies.append((clock(), after))
            return reply

        firmware.receive = timed_receive

    board.call(install)
    return replies


def boot_time_s(board: Any, clock: Callable[[], float] = time.monotonic) -> float:
    """The monotonic time at which `board`'s millis() was 0 (to 1 ms): message stamps map onto the clock."""
    return float(board.call(lambda firmware: clock() - firmware.millis() / 1000.0))


def gap_figures(replies: Sequence[tuple[float, int]]) -> dict[str, float]:
    """Longest and 99th-percentile time between consecutive TRANSMIT replies, in ms."""
    gaps = sorted(b[0] - a[0] for a, b in zip(replies, replies[1:]))
    if not gaps:
        return {"transmits": len(replies), "gap_max_ms": 0.0, "gap_p99_ms": 0.0}
    return {"transmits": len(replies), "gap_max_ms": 1000 * gaps[-1],
            "gap_p99_ms": 1000 * gaps[min(len(gaps) - 1, int(0.99 * len(gaps)))]}


def simulator_child(argv: Sequence[str]) -> int:
    """Run boards on ptys until SIGTERM; print `<id> <path>` per board, write counters and gaps."""
    from blitz.simulator import Simulator

    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float)
    parser.add_argument("--buffer", type=int)
    parser.add_argument("--stats-file", type=Path)
    parser.add_argument("--log-transmits", action="store_true")
    parser.add_argument("boards", nargs="+")
    args = parser.parse_args(argv)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    simulator = Simulator(args.boards, rate_hz=args.rate, buffer_size=args.buffer).start()
    try:
        watched = [watch_transmits(board) for board in simulator.boards]
        boots = [boot_time_s(board) for board in simulator.boards]
        for board in simulator.boards:
            print(f"{board.board_id:02x} {board.device_path}", flush=True)
        while not done.wait(0.5):
            if simulator.host.error is not None:
                raise RuntimeError(f"simulator thread failed: {simulator.host.error}")
        stats = simulator.stats()
    finally:
        simulator.stop()
    for entry, replies, boot_s in zip(stats, watched, boots):
        entry.update(gap_figures(replies))
        if args.log_transmits:
            entry["transmit_log"] = replies
            entry["boot_s"] = boot_s
    args.stats_file.write_text(json.dumps(stats))
    return 0


def wait_boards_ok(client: Client, count: int, timeout_s: float = 30.0) -> None:
    """Wait until the server reports `count` boards ok."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if sum(1 for board in client.boards() if board.state == "ok") >= count:
            return
        time.sleep(0.05)
    raise RuntimeError(f"only {[b.state for b in client.boards()]} of {count} boards became ok")


def redis_counts(url: str, session_id: int, chunk: int = 200_000) -> Counter[int]:
    """Lines of a session in Redis per sender id (read in chunks)."""
    store = DatabaseServer(url=url)
    counts: Counter[int] = Counter()
    try:
        for lines in store.iter_session(session_id, chunk_size=chunk, raw=True):
            counts.update(int(line[:2], 16) for line in lines)
    finally:
        store.close()
    return counts


def profile_server(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    """Start `py-spy record` on the server (raw collapsed stacks + an SVG); None without py-spy."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not os.access(spy, os.X_OK):
        print("py-spy not found: pip install py-spy", file=sys.stderr)
        return None
    return subprocess.Popen([spy, "record", "--pid", str(pid), "--duration", str(int(max(1, seconds))),
                             "--rate", "1000", "--gil", "--nonblocking", "--threads", "--format", "raw", "-o", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def top_functions(raw_file: Path, count: int = 12) -> list[tuple[str, float, float]]:
    """(function, self %, inclusive %) of the busiest frames in a py-spy raw profile (GIL holders only)."""
    self_counts: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw_file.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        if not number.isdigit():
            continue
        frames = stack.split(";")
        leaf = frames[-1]
        samples = int(number)
        total += samples
        self_counts[_frame_name(leaf)] += samples
        for name in {_frame_name(frame) for frame in frames}:
            inclusive[name] += samples
    if not total:
        return []
    return [(name, 100 * n / total, 100 * inclusive[name] / total) for name, n in self_counts.most_common(count)]


def _frame_name(frame: str) -> str:
    """`function (file:line)` -> `function (module file)` without the line number."""
    match = re.match(r"(.*) \((.*?)(?::\d+)?\)$", frame)
    if not match:
        return frame
    return f"{match.group(1)} ({Path(match.group(2)).name})"


def renice(pids: Sequence[int], niceness: int) -> None:
    """Set the niceness of every thread of each process (the machine is shared)."""
    for pid in pids:
        for task in os.listdir(f"/proc/{pid}/task"):
            os.setpriority(os.PRIO_PROCESS, int(task), niceness)


if __name__ == "__main__":
    sys.exit(simulator_child(sys.argv[1:]))
