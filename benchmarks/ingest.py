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
import os
import pty
import statistics
import sys
import threading
import time
import tty
from pathlib import Path
from typing import Any, Callable, Sequence

import redis

from benchmarks.ingest_stack import (
    FIRST_BOARD_ID,
    CpuWindow,
    ServerProcess,
    SimulatorProcess,
    load_average,
    profile_server,
    redis_counts,
    renice,
    rss_mib,
    top_functions,
    wait_boards_ok,
)
from blitz.client.blocking import Client
from blitz.data.redis_process import EmbeddedRedis

LINE = b"1020000f4240000102030405060a\r\n"  # a data line as a board sends it (30 bytes)


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
    from benchmarks.__main__ import main as benchmarks_main

    return benchmarks_main(["ingest", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
