"""Live benchmark: every line reaches a `LIVE` subscriber, and how late.

Simulated boards (their own process) feed a real `blitz server` subprocess
and an embedded Redis; this process is the subscriber (the blocking
`Client.live`, then `LiveView` decoding as `blitz live` does).  All three
processes read the same system-wide monotonic clock, so latencies are plain
differences:

* sample -> client: from the moment the board sampled a message (its
  millisecond timestamp mapped onto the clock, +-1 ms) to the subscriber
  having the parsed push.  It includes the wait in the board's buffer until
  the next TRANSMIT poll.
* TRANSMIT -> client: from the board answering the TRANSMIT that carried
  the message (recorded in the simulator) to the subscriber having it: the
  pty, the server reading and pushing, TCP and the client's parsing; no
  poll wait.  This bounds "the server read it -> the client has it".

After STOP the lines received are compared per board, in order, with the
lines Redis stored for the session.

    python -m benchmarks live              # 1 board x 5,000 Hz for 30 s
    python -m benchmarks live --smoke      # 2 s
"""

from __future__ import annotations

import argparse
import bisect
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any, Sequence

from blitz.client.blocking import Client
from blitz.client.live import LiveView
from blitz.client.reply_parser import LivePush, OtherPush
from blitz.data.redis_buffer import DatabaseServer
from blitz.data.redis_process import EmbeddedRedis
from blitz.simulator import resolve_board

from benchmarks.ingest_stack import (
    FIRST_BOARD_ID,
    CpuWindow,
    ServerProcess,
    SimulatorProcess,
    load_average,
    profile_server,
    renice,
    top_functions,
    wait_boards_ok,
)


class Subscriber:
    """A LIVE subscriber thread that timestamps every push it gets."""

    def __init__(self, port: int, boards: dict[int, Any]) -> None:
        self.client = Client(port=port, timeout=30)
        self.view = LiveView(boards)
        self.lines: dict[int, list[str]] = {}
        self.arrived: dict[int, list[float]] = {}  # parsed push in hand
        self.decoded: dict[int, list[float]] = {}  # LiveView has decoded it
        self.dropped = 0
        self.on = threading.Event()
        self.done = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="live-subscriber", daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self.on.wait(30):
            raise RuntimeError(f"LIVE ON did not complete: {self.error}")

    def stop(self) -> None:
        self.done.set()
        self._thread.join(30)
        self.client.close()
        if self.error is not None:
            raise self.error

    @property
    def received(self) -> int:
        return sum(len(lines) for lines in self.lines.values())

    def _run(self) -> None:
        clock = time.monotonic
        try:
            for pushes in self.client.live(idle_s=0.05):
                now = clock()
                self.on.set()
                touched: list[int] = []
                for push in pushes:
                    if isinstance(push, LivePush):
                        board_id = int(push.line[:2], 16)
                        self.lines.setdefault(board_id, []).append(push.line)
                        self.arrived.setdefault(board_id, []).append(now)
                        touched.append(board_id)
                    elif isinstance(push, OtherPush) and push.kind == "DROPPED":
                        self.dropped += int(push.text.split()[0])
                self.view.feed(pushes)
                decoded = clock()
                for board_id in touched:
                    self.decoded.setdefault(board_id, []).append(decoded)
                if self.done.is_set():
                    return
        except BaseException as exc:  # handed to stop()
            self.error = exc
            self.on.set()


def percentiles(values: Sequence[float]) -> dict[str, float]:
    """p50, p99 and max of `values` in ms (values in seconds)."""
    ordered = sorted(values)
    if not ordered:
        return {"p50_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}

    def at(q: float) -> float:
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"p50_ms": at(0.5), "p99_ms": at(0.99), "max_ms": 1000 * ordered[-1]}


def latencies(sub: Subscriber, stats: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Per message: sample -> client, TRANSMIT -> client, TRANSMIT -> decoded (seconds)."""
    out: dict[str, list[float]] = {"sample_to_client": [], "transmit_to_client": [], "transmit_to_decoded": []}
    for entry in stats:
        board_id = int(entry["board_id"], 16)
        boot_s = float(entry["boot_s"])
        log = entry["transmit_log"]
        counts = [int(count) for _, count in log]
        lines = sub.lines.get(board_id, [])
        for n, (line, arrived, decoded) in enumerate(zip(lines, sub.arrived[board_id], sub.decoded[board_id])):
            out["sample_to_client"].append(arrived - (boot_s + int(line[4:12], 16) / 1000.0))
            k = bisect.bisect_right(counts, n)  # the first reply whose count exceeds n carried line n
            if k < len(log):
                out["transmit_to_client"].append(arrived - float(log[k][0]))
                out["transmit_to_decoded"].append(decoded - float(log[k][0]))
    return out


FIGURES = (
    "offered_lines_per_s",
    "pushed_lines_per_s",
    "missing_lines",
    "extra_lines",
    "boards_identical",
    "server_dropped_pushes",
    "transmit_to_client_p50_ms",
    "transmit_to_client_p99_ms",
    "transmit_to_client_max_ms",
    "transmit_to_decoded_p99_ms",
    "sample_to_client_p50_ms",
    "sample_to_client_p99_ms",
    "sample_to_client_max_ms",
    "server_cpu_percent",
    "overwritten_lines",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The live benchmark's options."""
    parser.add_argument("--boards", type=int, default=1, help="simulated boards [1]")
    parser.add_argument("--rate", type=float, default=5000.0, help="samples/s per board [5000]")
    parser.add_argument("--seconds", type=float, default=None, help="logging time per run [30, smoke 2]")
    parser.add_argument("--buffer", type=int, default=1000, help="board buffer in messages [1000]")
    parser.add_argument("--poll-interval", type=float, default=0.02, help="server TRANSMIT period [0.02]")
    parser.add_argument("--nice", type=int, default=0,
                        help="niceness of the server and the simulator, not Redis (negative needs root) [0]")
    parser.add_argument("--profile", type=Path, default=None,
                        help="py-spy the server during the (first) run, raw collapsed stacks to this file")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds")


def measure(options: argparse.Namespace, workdir: Path, profile: Path | None = None) -> dict[str, Any]:
    """One run: subscribe, log for `--seconds`, stop, compare with Redis; returns its figures."""
    boards, rate_hz, seconds = options.boards, options.rate, options.seconds
    ids = [f"{FIRST_BOARD_ID + n:02x}" for n in range(boards)]
    definitions = {int(i, 16): resolve_board(i) for i in ids}
    result: dict[str, Any] = {}
    workdir.mkdir(parents=True, exist_ok=True)
    with EmbeddedRedis(workdir / "redis", appendfsync="everysec") as embedded:
        url = embedded.url
        sim = SimulatorProcess(ids, rate_hz, options.buffer, workdir / "sim.json", log_transmits=True)
        server: ServerProcess | None = None
        try:
            server = ServerProcess(sim.paths, url, options.poll_interval, workdir / "data")
            if options.nice:
                renice([server.pid, sim.pid], options.nice)
            with Client(port=server.port, timeout=30) as control:
                wait_boards_ok(control, boards)
                sub = Subscriber(server.port, definitions)
                sub.start()
                try:
                    window = CpuWindow(server.pid)
                    session = control.start().session_id
                    window.start()
                    spy = profile_server(server.pid, seconds - 0.5, profile) if profile else None
                    time.sleep(seconds)
                    result["server_cpu_percent"] = window.stop()
                    wall_s = window.wall_s
                    control.stop()
                    expected = int(control.status().get("session_messages", 0))
                    deadline = time.monotonic() + 10
                    while sub.received < expected and time.monotonic() < deadline:
                        time.sleep(0.02)
                    if spy is not None:
                        spy.communicate(timeout=60)
                finally:
                    sub.stop()
        finally:
            if server is not None:
                server.stop()
            stats = sim.stop()
        store = DatabaseServer(url=url)
        try:
            stored = [line.decode("ascii") for chunk in store.iter_session(session, chunk_size=100_000, raw=True)
                      for line in chunk]
        finally:
            store.close()
    per_board: dict[int, list[str]] = {}
    for line in stored:
        per_board.setdefault(int(line[:2], 16), []).append(line)
    result.update({
        "in_redis": len(stored),
        "received": sub.received,
        "pushed_lines_per_s": sub.received / wall_s,
        "boards_identical": sum(1 for b in per_board if per_board[b] == sub.lines.get(b, [])),
        "boards_with_lines": len(per_board),
        "missing_lines": sum(max(0, len(per_board[b]) - len(sub.lines.get(b, []))) for b in per_board),
        "extra_lines": sum(max(0, len(sub.lines[b]) - len(per_board.get(b, []))) for b in sub.lines),
        "server_dropped_pushes": sub.dropped,
        "decoded_by_liveview": sub.view.lines,
        "overwritten_lines": sum(int(entry["overwritten"]) for entry in stats),
        "transmit_gap_max_ms": max(float(entry["gap_max_ms"]) for entry in stats),
    })
    for name, values in latencies(sub, stats).items():
        for key, value in percentiles(values).items():
            result[f"{name}_{key}"] = value
    return result


def run(options: argparse.Namespace, record: Any) -> None:
    """Subscribe to LIVE while simulated boards log through a real server; record the medians of `--repeat` runs."""
    options.seconds = options.seconds or (2.0 if options.smoke else 30.0)
    for name, default in (("boards", 1), ("rate", 5000.0), ("buffer", 1000), ("poll_interval", 0.02),
                          ("nice", 0), ("profile", None), ("repeat", None)):
        if not hasattr(options, name):
            setattr(options, name, default)
    repeat = 1 if options.smoke else max(1, int(options.repeat or 1))
    record.say(f"{options.boards} board(s) x {options.rate:g} Hz, buffer {options.buffer}, poll "
               f"{options.poll_interval:g} s, {options.seconds:g} s x {repeat} runs, nice {options.nice}; "
               f"load {load_average():.2f}")
    runs = []
    for index in range(repeat):
        runs.append(measure(options, Path(options.workdir) / f"run{index}", options.profile if index == 0 else None))
        record.say(f"run {index + 1}: " + ", ".join(f"{k} {v:,.1f}" for k, v in runs[-1].items())
                   + f"; load {load_average():.2f}")

    def median(key: str) -> float:
        return float(statistics.median(float(r[key]) for r in runs))

    note = f"median of {repeat}" if repeat > 1 else ""
    worst = f"worst of {repeat}: " if repeat > 1 else ""
    poll_ms = 1000 * options.poll_interval
    record.add("offered_lines_per_s", options.boards * options.rate, "lines/s",
               note=f"{options.boards} board(s) x {options.rate:g} Hz")
    record.add("pushed_lines_per_s", median("pushed_lines_per_s"), "lines/s",
               note=f"{note or 'one run'}: {runs[0]['received']:,} pushed, {runs[0]['in_redis']:,} in Redis")
    record.add("missing_lines", max(r["missing_lines"] for r in runs), "lines", "= 0",
               f"{worst}in Redis but never pushed")
    record.add("extra_lines", max(r["extra_lines"] for r in runs), "lines", "= 0", f"{worst}pushed but not in Redis")
    record.add("boards_identical", min(r["boards_identical"] for r in runs), "boards", f"= {options.boards}",
               "pushed lines equal Redis's, same order, per board")
    record.add("server_dropped_pushes", max(r["server_dropped_pushes"] for r in runs), "lines", "= 0",
               "!DROPPED: the subscriber fell behind")
    record.add("transmit_to_client_p50_ms", median("transmit_to_client_p50_ms"), "ms", note=note)
    record.add("transmit_to_client_p99_ms", median("transmit_to_client_p99_ms"), "ms", "< 100",
               f"{note + '; ' if note else ''}board answers TRANSMIT -> pty -> server -> TCP -> parsed push")
    record.add("transmit_to_client_max_ms", max(r["transmit_to_client_max_ms"] for r in runs), "ms", note=worst[:-2])
    record.add("transmit_to_decoded_p99_ms", median("transmit_to_decoded_p99_ms"), "ms",
               note="as above, plus LiveView's numpy decode of the batch")
    record.add("sample_to_client_p50_ms", median("sample_to_client_p50_ms"), "ms", note=note)
    record.add("sample_to_client_p99_ms", median("sample_to_client_p99_ms"), "ms",
               note=f"includes the wait in the board's buffer for the next poll ({poll_ms:g} ms period)")
    record.add("sample_to_client_max_ms", max(r["sample_to_client_max_ms"] for r in runs), "ms", note=worst[:-2])
    record.add("server_cpu_percent", median("server_cpu_percent"), "% of one core", note=note)
    record.add("overwritten_lines", max(r["overwritten_lines"] for r in runs), "lines", "= 0",
               f"{worst}longest TRANSMIT gap {max(r['transmit_gap_max_ms'] for r in runs):.0f} ms")
    if options.profile and Path(options.profile).exists():
        for name, own, inclusive in top_functions(Path(options.profile)):
            record.say(f"profile: {own:5.1f} % self {inclusive:5.1f} % incl  {name}")


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m benchmarks.live` (the same as `python -m benchmarks live`)."""
    from benchmarks.__main__ import main as benchmarks_main

    return benchmarks_main(["live", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
