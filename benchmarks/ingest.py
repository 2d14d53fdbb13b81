"""Ingest benchmark: simulated boards through pseudo-terminals into a real server and Redis.

`blitz simulate` (its own process) runs the boards, a real `blitz server`
subprocess polls them and appends to an embedded Redis; after STOP the
simulator's counters are compared with what Redis holds per board, and the
server's CPU over the logging window is read from /proc/<pid>/stat.  In the
same run the references are measured against the same Redis: one RPUSH per
line (the naive way), one RPUSH per poll batch (what the server does),
pipelined single-line RPUSHes and one pty's raw throughput (the machine).

    python -m benchmarks.ingest                       # 10 boards x 5,000 Hz for 60 s
    python -m benchmarks.ingest --smoke               # 2 s, small references
    python -m benchmarks.ingest --profile ingest.svg  # py-spy flame graph of the server
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Sequence

import redis

from blitz.client.blocking import Client
from blitz.data.redis_buffer import DatabaseServer
from blitz.data.redis_process import EmbeddedRedis

LAUNCH = "from blitz.cli.main import main; main()"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
#: Ids of the simulated boards: unknown to Blitz, so they get the Basic layout
#: (0x0a/0x0b are the NetScanner's and cannot be simulated).
FIRST_BOARD_ID = 0x10
LINE = b"1020000f4240000102030405060a\r\n"  # a data line as a board sends it (30 bytes)


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
        self.process = subprocess.Popen([sys.executable, "-m", "benchmarks.ingest", "--simulator-child", *args],
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
                             "--rate", "200", "--nonblocking", "--threads", "--format", "raw", "-o", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def top_functions(raw_file: Path, count: int = 12) -> list[tuple[str, float, float]]:
    """(function, self %, inclusive %) of the busiest frames in a py-spy raw profile, idle excluded."""
    self_counts: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw_file.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        if not number.isdigit():
            continue
        frames = stack.split(";")
        leaf = frames[-1]
        if any(idle in leaf for idle in ("poll (", "wait (", "select (", "_wait_for_tstate_lock")):
            continue  # sleeping in the reactor's poll or the writer's condition
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


# -- references ---------------------------------------------------------------------


def _rate(run: Callable[[int], int], seconds: float) -> tuple[float, float]:
    """Call `run(round)` until `seconds` passed; (items per second, CPU µs of this process per item)."""
    items = 0
    cpu0, t0 = time.process_time(), time.perf_counter()
    round_ = 0
    while time.perf_counter() - t0 < seconds:
        items += run(round_)
        round_ += 1
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return items / wall, 1e6 * cpu / items


def redis_references(url: str, seconds: float, batch_lines: int) -> dict[str, float]:
    """Lines/s into Redis: one RPUSH per line, per poll batch, per 10,000, and pipelined."""
    client = redis.Redis.from_url(url)
    line = LINE[:28].decode()
    key = "blitz-bench:reference"
    results: dict[str, float] = {}
    try:
        def per_line(_: int) -> int:
            for _ in range(500):
                client.rpush(key, line)
            return 500

        def batched(size: int) -> Callable[[int], int]:
            lines = [line] * size
            def run(_: int) -> int:
                client.rpush(key, *lines)
                return size
            return run

        def pipelined(_: int) -> int:
            pipe = client.pipeline(transaction=False)
            for _ in range(1000):
                pipe.rpush(key, line)
            pipe.execute()
            return 1000

        for name, run in (("per_line", per_line), ("per_poll_batch", batched(batch_lines)),
                          ("batch_10000", batched(10_000)), ("pipelined_1000", pipelined)):
            client.delete(key)
            rate, cpu_us = _rate(run, seconds)
            results[f"redis_{name}_lines_per_s"] = rate
            results[f"redis_{name}_client_cpu_us_per_line"] = cpu_us
        client.delete(key)
    finally:
        client.close()
    return results


def pty_throughput(seconds: float) -> float:
    """Data lines per second one pseudo-terminal carries (writer thread, 64 KiB reads)."""
    master, slave = pty.openpty()
    import tty

    tty.setraw(slave)
    chunk = LINE * 2048
    stop = threading.Event()
    sent = [0]

    def write() -> None:
        while not stop.is_set():
            sent[0] += os.write(master, chunk)

    writer = threading.Thread(target=write, daemon=True)
    received = 0
    t0 = time.perf_counter()
    writer.start()
    try:
        while time.perf_counter() - t0 < seconds:
            received += len(os.read(slave, 65536))
    finally:
        stop.set()
        os.close(slave)  # unblocks the writer with EIO
        writer.join(2)
        try:
            os.close(master)
        except OSError:
            pass
    return received / len(LINE) / (time.perf_counter() - t0)


# -- the benchmark --------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ingest benchmark's options."""
    parser.add_argument("--boards", type=int, default=10, help="simulated boards [10]")
    parser.add_argument("--rate", type=float, default=5000.0, help="samples/s per board [5000]")
    parser.add_argument("--seconds", type=float, default=None, help="logging time [60, smoke 2]")
    parser.add_argument("--buffer", type=int, default=1000, help="board buffer in messages [1000]")
    parser.add_argument("--poll-interval", type=float, default=0.02, help="server TRANSMIT period [0.02]")
    parser.add_argument("--profile", type=Path, default=None,
                        help="py-spy profile of the server during logging, written to this file (raw)")
    parser.add_argument("--no-references", action="store_true", help="skip the Redis and pty references")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the ingest benchmark; returns every figure by name."""
    smoke = bool(getattr(args, "smoke", False))
    boards = int(getattr(args, "boards", 10))
    rate_hz = float(getattr(args, "rate", 5000.0))
    seconds = getattr(args, "seconds", None) or (2.0 if smoke else 60.0)
    buffer_size = int(getattr(args, "buffer", 1000))
    poll_s = float(getattr(args, "poll_interval", 0.02))
    profile = getattr(args, "profile", None)
    ids = [f"{FIRST_BOARD_ID + n:02x}" for n in range(boards)]
    result: dict[str, Any] = {
        "boards": boards, "rate_hz": rate_hz, "seconds": seconds, "buffer": buffer_size,
        "poll_interval_s": poll_s, "offered_lines_per_s": boards * rate_hz, "load_before": load_average(),
    }
    with tempfile.TemporaryDirectory(prefix="blitz-bench-ingest-") as tmp, \
            EmbeddedRedis(Path(tmp) / "redis", appendfsync="everysec") as embedded:
        url = embedded.url
        sim = SimulatorProcess(ids, rate_hz, buffer_size, Path(tmp) / "sim.json")
        server: ServerProcess | None = None
        try:
            server = ServerProcess(sim.paths, url, poll_s, Path(tmp) / "data")
            with Client(port=server.port, timeout=30) as client:
                wait_boards_ok(client, boards)
                windows = {name: CpuWindow(pid) for name, pid in
                           (("server", server.pid), ("simulator", sim.pid), ("redis", embedded.pid or 0))}
                session = client.start().session_id
                for window in windows.values():
                    window.start()
                spy = profile_server(server.pid, seconds - 0.5, Path(profile)) if profile else None
                time.sleep(seconds)
                for name, window in windows.items():
                    result[f"{name}_cpu_percent"] = window.stop()
                result["logging_wall_s"] = windows["server"].wall_s
                result["server_rss_mib"] = rss_mib(server.pid)
                client.stop()
                status = client.status()
            if spy is not None:
                _, err = spy.communicate(timeout=60)
                result["profile"] = str(profile)
                if spy.returncode:
                    print(err.decode(errors="replace")[-2000:], file=sys.stderr)
        finally:
            if server is not None:
                server.stop()
            stats = sim.stop()
        counts = redis_counts(url, session)
        transmitted = {int(entry["board_id"], 16): int(entry["transmitted"]) for entry in stats}
        result["generated"] = sum(int(entry["generated"]) for entry in stats)
        result["transmitted"] = sum(transmitted.values())
        result["overwritten"] = sum(int(entry["overwritten"]) for entry in stats)
        result["dropped_by_start"] = sum(int(entry["dropped"]) for entry in stats)
        result["in_redis"] = sum(counts.values())
        result["lost"] = sum(abs(transmitted[b] - counts.get(b, 0)) for b in transmitted)
        result["boards_mismatched"] = sum(1 for b in transmitted if transmitted[b] != counts.get(b, 0))
        result["server_overwritten_estimate"] = sum(int(b.get("overwritten", 0)) for b in status.get("boards", []))
        result["server_redis_dropped"] = int(status.get("redis", {}).get("dropped", 0))
        result["logged_lines_per_s"] = result["in_redis"] / result["logging_wall_s"]
        result["not_sent_at_stop"] = (result["generated"] - result["transmitted"] - result["overwritten"]
                                      - result["dropped_by_start"])
        result["transmit_gap_max_ms"] = max(float(entry["gap_max_ms"]) for entry in stats)
        result["transmit_gap_p99_ms"] = max(float(entry["gap_p99_ms"]) for entry in stats)
        result["buffer_lasts_ms"] = 1000 * (buffer_size - 1) / rate_hz
        if profile and Path(profile).exists():
            result["profile_top"] = top_functions(Path(profile))
        if not getattr(args, "no_references", False):
            ref_s = 0.3 if smoke else 2.0
            per_poll = max(1, round(boards * rate_hz * poll_s / boards))
            result.update(redis_references(url, ref_s, per_poll))
            result["pty_lines_per_s"] = pty_throughput(ref_s)
    result["load_after"] = load_average()
    result["ok"] = bool(result["lost"] == 0 and result["overwritten"] == 0 and result["server_cpu_percent"] < 100)
    return result


def report(result: dict[str, Any]) -> str:
    """The figures as text, each with its target or reference."""
    r = result
    rows = [
        f"ingest: {r['boards']} boards x {r['rate_hz']:g} Hz = {r['offered_lines_per_s']:,.0f} lines/s for "
        f"{r['logging_wall_s']:.1f} s; buffer {r['buffer']}, poll {r['poll_interval_s']:g} s; "
        f"load {r['load_before']:.2f} -> {r['load_after']:.2f}",
        f"  logged into Redis        {r['in_redis']:>12,} lines  ({r['logged_lines_per_s']:,.0f} lines/s)",
        f"  transmitted by boards    {r['transmitted']:>12,}        lost {r['lost']} (target 0), "
        f"boards mismatched {r['boards_mismatched']}",
        f"  overwritten in buffers   {r['overwritten']:>12,}        (target 0; server's estimate "
        f"{r['server_overwritten_estimate']})",
        f"  not sent at STOP         {r['not_sent_at_stop']:>12,}        (logged after the last TRANSMIT: "
        f"the firmware's STOP window)",
        f"  time between TRANSMITs   {r['transmit_gap_p99_ms']:>11.1f} ms p99, {r['transmit_gap_max_ms']:.1f} ms max "
        f"(worst board; a buffer lasts {r['buffer_lasts_ms']:.0f} ms)",
        f"  redis buffer dropped     {r['server_redis_dropped']:>12,}",
        f"  server CPU               {r['server_cpu_percent']:>11.1f} %  of one core (target < 100 %), "
        f"RSS {r['server_rss_mib']:.0f} MiB",
        f"  simulator CPU            {r['simulator_cpu_percent']:>11.1f} %   redis-server CPU "
        f"{r['redis_cpu_percent']:.1f} %",
    ]
    if "redis_per_line_lines_per_s" in r:
        rows += [
            "  references (same Redis, this process):",
            f"    RPUSH per line (naive)        {r['redis_per_line_lines_per_s']:>12,.0f} lines/s  "
            f"{r['redis_per_line_client_cpu_us_per_line']:6.1f} µs CPU/line",
            f"    RPUSH per poll batch          {r['redis_per_poll_batch_lines_per_s']:>12,.0f} lines/s  "
            f"{r['redis_per_poll_batch_client_cpu_us_per_line']:6.2f} µs CPU/line",
            f"    RPUSH of 10,000 lines         {r['redis_batch_10000_lines_per_s']:>12,.0f} lines/s  "
            f"{r['redis_batch_10000_client_cpu_us_per_line']:6.2f} µs CPU/line",
            f"    pipelined RPUSH x1000         {r['redis_pipelined_1000_lines_per_s']:>12,.0f} lines/s  "
            f"{r['redis_pipelined_1000_client_cpu_us_per_line']:6.2f} µs CPU/line",
            f"    one pty, raw                  {r['pty_lines_per_s']:>12,.0f} lines/s",
        ]
    if r.get("profile_top"):
        rows.append(f"  server profile (py-spy, {r['profile']}), self % / inclusive % of busy samples:")
        rows += [f"    {own:5.1f} {incl:5.1f}  {name}" for name, own, incl in r["profile_top"]]
    rows.append(f"  target met: {'yes' if r['ok'] else 'NO'}")
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m benchmarks.ingest`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--simulator-child"]:
        return simulator_child(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ingest", description=__doc__.split("\n")[0])
    add_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    result = run(args)
    print(json.dumps(result, indent=2) if args.json else report(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
