"""Ingest benchmark: simulated boards through pseudo-terminals into a real server and Redis.

The boards run in their own process (`blitz.simulator.Simulator`, as `blitz
simulate` runs it, plus a record of when each board answered TRANSMIT); a
real `blitz server` subprocess polls them and appends to an embedded Redis.
After STOP the boards' counters are compared with what Redis holds per
board, and the server's CPU over the logging window is read from
/proc/<pid>/stat.  Then the references are measured against a fresh Redis
of the same kind: one RPUSH per line (the naive way), one RPUSH per poll
batch (what the server sends), pipelined one-line RPUSHes and one pty's raw
throughput (the machine's limits).

    python -m benchmarks ingest                  # 10 boards x 5,000 Hz for 60 s
    python -m benchmarks ingest --smoke          # 2 s, short references
    python -m benchmarks ingest --repeat 3 --nice -10
    python -m benchmarks ingest --profile prof.txt --no-references   # py-spy the server
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import re
import shutil
import statistics
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

FIGURES = (
    "offered_lines_per_s",
    "logged_lines_per_s",
    "lost_lines",
    "overwritten_lines",
    "not_sent_at_stop",
    "server_cpu_percent",
    "lines_per_rpush",
    "transmit_gap_p99_ms",
    "transmit_gap_max_ms",
    "simulator_cpu_percent",
    "redis_cpu_percent",
    "server_rss_mb",
    "naive_rpush_per_line_lines_per_s",
    "naive_cpu_us_per_line",
    "naive_cpu_percent_at_offered_rate",
    "rpush_per_poll_batch_lines_per_s",
    "batched_cpu_us_per_line",
    "rpush_10000_lines_per_s",
    "pipelined_rpush_lines_per_s",
    "pty_raw_lines_per_s",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ingest benchmark's options."""
    parser.add_argument("--boards", type=int, default=10, help="simulated boards [10]")
    parser.add_argument("--rate", type=float, default=5000.0, help="samples/s per board [5000]")
    parser.add_argument("--seconds", type=float, default=None, help="logging time per run [60, smoke 2]")
    parser.add_argument("--buffer", type=int, default=1000, help="board buffer in messages [1000]")
    parser.add_argument("--poll-interval", type=float, default=0.02, help="server TRANSMIT period [0.02]")
    parser.add_argument("--nice", type=int, default=0,
                        help="niceness of the server and the simulator, not Redis (negative needs root) [0]")
    parser.add_argument("--profile", type=Path, default=None,
                        help="py-spy the server during the (first) run, raw collapsed stacks to this file")
    parser.add_argument("--no-references", action="store_true", help="skip the Redis and pty references")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds")


def renice(pids: Sequence[int], niceness: int) -> None:
    """Set the niceness of every thread of each process (the machine is shared)."""
    for pid in pids:
        for task in os.listdir(f"/proc/{pid}/task"):
            os.setpriority(os.PRIO_PROCESS, int(task), niceness)


def measure(options: argparse.Namespace, workdir: Path, profile: Path | None) -> dict[str, Any]:
    """One logging run: start everything, log, stop, compare the counts; returns its figures."""
    boards, rate_hz, seconds = options.boards, options.rate, options.seconds
    ids = [f"{FIRST_BOARD_ID + n:02x}" for n in range(boards)]
    result: dict[str, Any] = {}
    workdir.mkdir(parents=True, exist_ok=True)
    with EmbeddedRedis(workdir / "redis", appendfsync="everysec") as embedded:
        url = embedded.url
        sim = SimulatorProcess(ids, rate_hz, options.buffer, workdir / "sim.json")
        server: ServerProcess | None = None
        try:
            server = ServerProcess(sim.paths, url, options.poll_interval, workdir / "data")
            if options.nice:
                renice([server.pid, sim.pid], options.nice)
            with Client(port=server.port, timeout=30) as client:
                wait_boards_ok(client, boards)
                windows = {name: CpuWindow(pid) for name, pid in
                           (("server", server.pid), ("simulator", sim.pid), ("redis", embedded.pid or 0))}
                session = client.start().session_id
                for window in windows.values():
                    window.start()
                spy = profile_server(server.pid, seconds - 0.5, profile) if profile else None
                time.sleep(seconds)
                for name, window in windows.items():
                    result[f"{name}_cpu_percent"] = window.stop()
                wall_s = windows["server"].wall_s
                result["server_rss_mb"] = rss_mib(server.pid) * 1.048576
                client.stop()
                status = client.status()
            if spy is not None:
                _, err = spy.communicate(timeout=60)
                if spy.returncode:
                    print(err.decode(errors="replace")[-2000:], file=sys.stderr)
        finally:
            if server is not None:
                server.stop()
            stats = sim.stop()
        counts = redis_counts(url, session)
        probe = redis.Redis.from_url(url)
        try:
            rpush_calls = int(probe.info("commandstats").get("cmdstat_rpush", {}).get("calls", 0))
        finally:
            probe.close()
    transmitted = {int(entry["board_id"], 16): int(entry["transmitted"]) for entry in stats}
    generated = sum(int(entry["generated"]) for entry in stats)
    overwritten = sum(int(entry["overwritten"]) for entry in stats)
    dropped = sum(int(entry["dropped"]) for entry in stats)
    in_redis = sum(counts.values())
    result.update({
        "offered_lines_per_s": boards * rate_hz,
        "logged_lines_per_s": in_redis / wall_s,
        "in_redis": in_redis,
        "transmitted": sum(transmitted.values()),
        "lost_lines": sum(abs(transmitted[b] - counts.get(b, 0)) for b in transmitted),
        "boards_mismatched": sum(1 for b in transmitted if transmitted[b] != counts.get(b, 0)),
        "overwritten_lines": overwritten,
        "server_overwritten_estimate": sum(int(b.get("overwritten", 0)) for b in status.get("boards", [])),
        "redis_buffer_dropped": int(status.get("redis", {}).get("dropped", 0)),
        "not_sent_at_stop": generated - sum(transmitted.values()) - overwritten - dropped,
        "transmit_gap_max_ms": max(float(entry["gap_max_ms"]) for entry in stats),
        "transmit_gap_p99_ms": max(float(entry["gap_p99_ms"]) for entry in stats),
        "wall_s": wall_s,
        "lines_per_rpush": in_redis / rpush_calls if rpush_calls else 0.0,
    })
    return result


def references(url: str, options: argparse.Namespace) -> dict[str, float]:
    """The naive way, the batched way and the machine's limits, measured now."""
    seconds = 0.3 if options.smoke else 2.0
    per_poll = max(1, round(options.rate * options.poll_interval))
    ref = redis_references(url, seconds, per_poll)
    offered = options.boards * options.rate
    return {
        "naive_rpush_per_line_lines_per_s": ref["redis_per_line_lines_per_s"],
        "naive_cpu_us_per_line": ref["redis_per_line_client_cpu_us_per_line"],
        "naive_cpu_percent_at_offered_rate": ref["redis_per_line_client_cpu_us_per_line"] * offered / 1e4,
        "rpush_per_poll_batch_lines_per_s": ref["redis_per_poll_batch_lines_per_s"],
        "batched_cpu_us_per_line": ref["redis_per_poll_batch_client_cpu_us_per_line"],
        "rpush_10000_lines_per_s": ref["redis_batch_10000_lines_per_s"],
        "pipelined_rpush_lines_per_s": ref["redis_pipelined_1000_lines_per_s"],
        "pty_raw_lines_per_s": pty_throughput(seconds),
        "per_poll_batch": per_poll,
    }


def _median(runs: Sequence[dict[str, Any]], key: str) -> float:
    return float(statistics.median(float(run[key]) for run in runs))


def run(options: argparse.Namespace, record: Any) -> None:
    """Log simulated boards through a real server for `--seconds`, `--repeat` times; record the medians."""
    options.seconds = options.seconds or (2.0 if options.smoke else 60.0)
    for name, default in (("boards", 10), ("rate", 5000.0), ("buffer", 1000), ("poll_interval", 0.02),
                          ("nice", 0), ("profile", None), ("no_references", False), ("repeat", None)):
        if not hasattr(options, name):
            setattr(options, name, default)
    repeat = 1 if options.smoke else max(1, int(options.repeat or 1))
    workdir = Path(options.workdir)
    record.say(f"{options.boards} boards x {options.rate:g} Hz, buffer {options.buffer}, poll "
               f"{options.poll_interval:g} s, {options.seconds:g} s x {repeat} runs, nice {options.nice}; "
               f"load {load_average():.2f}")
    runs = []
    for index in range(repeat):
        runs.append(measure(options, workdir / f"run{index}", options.profile if index == 0 else None))
        record.say(f"run {index + 1}: " + ", ".join(f"{k} {v:,.1f}" for k, v in runs[-1].items()
                                                      if isinstance(v, (int, float))) + f"; load {load_average():.2f}")
    note = f"median of {repeat}" if repeat > 1 else ""
    worst = f"worst of {repeat}: " if repeat > 1 else ""
    buffer_ms = 1000 * (options.buffer - 1) / options.rate
    record.add("offered_lines_per_s", options.boards * options.rate, "lines/s",
               note=f"{options.boards} boards x {options.rate:g} Hz")
    record.add("logged_lines_per_s", _median(runs, "logged_lines_per_s"), "lines/s",
               note=f"{note or 'one run'}: {runs[0]['in_redis']:,} lines in Redis in {runs[0]['wall_s']:.1f} s")
    record.add("lost_lines", max(r["lost_lines"] for r in runs), "lines", "= 0",
               f"{worst}boards' transmitted count minus Redis's, per board")
    record.add("overwritten_lines", max(r["overwritten_lines"] for r in runs), "lines", "= 0",
               f"{worst}simulator's count; server estimated {runs[0]['server_overwritten_estimate']}")
    record.add("not_sent_at_stop", _median(runs, "not_sent_at_stop"), "lines",
               note="sampled between the last TRANSMIT and STOP: the firmware's STOP window")
    record.add("server_cpu_percent", _median(runs, "server_cpu_percent"), "% of one core", "< 100", note)
    record.add("lines_per_rpush", _median(runs, "lines_per_rpush"), "lines",
               note="lines in Redis / RPUSH calls (Redis INFO commandstats)")
    record.add("transmit_gap_p99_ms", _median(runs, "transmit_gap_p99_ms"), "ms",
               note=f"worst board; poll {1000 * options.poll_interval:g} ms, a buffer lasts {buffer_ms:.0f} ms")
    record.add("transmit_gap_max_ms", max(r["transmit_gap_max_ms"] for r in runs), "ms",
               f"< {buffer_ms:.0f} (the buffer)", f"{worst}longest wait of a board for its TRANSMIT")
    record.add("simulator_cpu_percent", _median(runs, "simulator_cpu_percent"), "% of one core", note=note)
    record.add("redis_cpu_percent", _median(runs, "redis_cpu_percent"), "% of one core", note=note)
    record.add("server_rss_mb", max(r["server_rss_mb"] for r in runs), "MB")
    if options.profile and Path(options.profile).exists():
        for name, own, inclusive in top_functions(Path(options.profile)):
            record.say(f"profile: {own:5.1f} % self {inclusive:5.1f} % incl  {name}")
    if options.no_references:
        return
    with EmbeddedRedis(workdir / "reference-redis", appendfsync="everysec") as embedded:
        ref = references(embedded.url, options)
    offered = options.boards * options.rate
    record.add("naive_rpush_per_line_lines_per_s", ref["naive_rpush_per_line_lines_per_s"], "lines/s",
               note="one RPUSH round trip per line (the naive way), redis-py, this process")
    record.add("naive_cpu_us_per_line", ref["naive_cpu_us_per_line"], "µs CPU/line")
    record.add("naive_cpu_percent_at_offered_rate", ref["naive_cpu_percent_at_offered_rate"], "% of one core",
               note=f"client CPU the naive way would need at {offered:,.0f} lines/s")
    record.add("rpush_per_poll_batch_lines_per_s", ref["rpush_per_poll_batch_lines_per_s"], "lines/s",
               note=f"one RPUSH of {ref['per_poll_batch']:g} lines (one poll of one board), what the server sends")
    record.add("batched_cpu_us_per_line", ref["batched_cpu_us_per_line"], "µs CPU/line")
    record.add("rpush_10000_lines_per_s", ref["rpush_10000_lines_per_s"], "lines/s", note="one RPUSH of 10,000")
    record.add("pipelined_rpush_lines_per_s", ref["pipelined_rpush_lines_per_s"], "lines/s",
               note="one-line RPUSHes pipelined by 1,000 (redis-benchmark -P style)")
    record.add("pty_raw_lines_per_s", ref["pty_raw_lines_per_s"], "lines/s",
               note="30-byte lines through one pty, 64 KiB reads (the machine's limit per board)")


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m benchmarks.ingest` (the same as `python -m benchmarks ingest`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--simulator-child"]:
        return simulator_child(argv[1:])
    from benchmarks.__main__ import main as benchmarks_main

    return benchmarks_main(["ingest", *argv])


if __name__ == "__main__":
    sys.exit(main())
