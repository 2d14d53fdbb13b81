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

    python -m benchmarks.live              # 1 board x 5,000 Hz for 30 s
    python -m benchmarks.live --smoke      # 2 s
"""

from __future__ import annotations

import argparse
import bisect
import json
import sys
import tempfile
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

from benchmarks.ingest import (
    FIRST_BOARD_ID,
    CpuWindow,
    ServerProcess,
    SimulatorProcess,
    load_average,
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The live benchmark's options."""
    parser.add_argument("--boards", type=int, default=1, help="simulated boards [1]")
    parser.add_argument("--rate", type=float, default=5000.0, help="samples/s per board [5000]")
    parser.add_argument("--seconds", type=float, default=None, help="logging time [30, smoke 2]")
    parser.add_argument("--buffer", type=int, default=1000, help="board buffer in messages [1000]")
    parser.add_argument("--poll-interval", type=float, default=0.02, help="server TRANSMIT period [0.02]")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the live benchmark; returns every figure by name."""
    smoke = bool(getattr(args, "smoke", False))
    boards = int(getattr(args, "boards", 1))
    rate_hz = float(getattr(args, "rate", 5000.0))
    seconds = getattr(args, "seconds", None) or (2.0 if smoke else 30.0)
    buffer_size = int(getattr(args, "buffer", 1000))
    poll_s = float(getattr(args, "poll_interval", 0.02))
    ids = [f"{FIRST_BOARD_ID + n:02x}" for n in range(boards)]
    result: dict[str, Any] = {
        "boards": boards, "rate_hz": rate_hz, "seconds": seconds, "buffer": buffer_size,
        "poll_interval_s": poll_s, "offered_lines_per_s": boards * rate_hz, "load_before": load_average(),
    }
    definitions = {int(i, 16): resolve_board(i) for i in ids}
    with tempfile.TemporaryDirectory(prefix="blitz-bench-live-") as tmp, \
            EmbeddedRedis(Path(tmp) / "redis", appendfsync="everysec") as embedded:
        url = embedded.url
        sim = SimulatorProcess(ids, rate_hz, buffer_size, Path(tmp) / "sim.json", log_transmits=True)
        server: ServerProcess | None = None
        try:
            server = ServerProcess(sim.paths, url, poll_s, Path(tmp) / "data")
            with Client(port=server.port, timeout=30) as control:
                wait_boards_ok(control, boards)
                sub = Subscriber(server.port, definitions)
                sub.start()
                try:
                    window = CpuWindow(server.pid)
                    session = control.start().session_id
                    window.start()
                    time.sleep(seconds)
                    result["server_cpu_percent"] = window.stop()
                    result["logging_wall_s"] = window.wall_s
                    control.stop()
                    status = control.status()
                    expected = int(status.get("session_messages", 0))
                    deadline = time.monotonic() + 10
                    while sub.received < expected and time.monotonic() < deadline:
                        time.sleep(0.02)
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
    result["in_redis"] = len(stored)
    result["received"] = sub.received
    result["boards_identical"] = sum(1 for b in per_board if per_board[b] == sub.lines.get(b, []))
    result["boards_with_lines"] = len(per_board)
    result["missing"] = sum(max(0, len(per_board[b]) - len(sub.lines.get(b, []))) for b in per_board)
    result["extra"] = sum(max(0, len(sub.lines[b]) - len(per_board.get(b, []))) for b in sub.lines)
    result["server_dropped_pushes"] = sub.dropped
    result["decoded_by_liveview"] = sub.view.lines
    result["overwritten"] = sum(int(entry["overwritten"]) for entry in stats)
    result["transmit_gap_max_ms"] = max(float(entry["gap_max_ms"]) for entry in stats)
    lat = latencies(sub, stats)
    for name, values in lat.items():
        for key, value in percentiles(values).items():
            result[f"{name}_{key}"] = value
    result["live_lines_per_s"] = sub.received / result["logging_wall_s"]
    result["load_after"] = load_average()
    result["ok"] = bool(
        result["boards_identical"] == result["boards_with_lines"] == boards and result["received"] == result["in_redis"]
        and result["transmit_to_client_p99_ms"] < 100
    )
    return result


def report(result: dict[str, Any]) -> str:
    """The figures as text, each with its target."""
    r = result
    return "\n".join([
        f"live: {r['boards']} board(s) x {r['rate_hz']:g} Hz = {r['offered_lines_per_s']:,.0f} lines/s for "
        f"{r['logging_wall_s']:.1f} s; buffer {r['buffer']}, poll {r['poll_interval_s']:g} s; "
        f"load {r['load_before']:.2f} -> {r['load_after']:.2f}",
        f"  lines in Redis             {r['in_redis']:>10,}",
        f"  lines pushed to the client {r['received']:>10,}  ({r['live_lines_per_s']:,.0f} lines/s); missing "
        f"{r['missing']}, extra {r['extra']}, server-dropped {r['server_dropped_pushes']} (target 0)",
        f"  boards identical to Redis  {r['boards_identical']:>10} of {r['boards_with_lines']} (same lines, same order)",
        f"  decoded by LiveView        {r['decoded_by_liveview']:>10,}",
        f"  latency TRANSMIT -> client  p50 {r['transmit_to_client_p50_ms']:6.1f} ms  p99 "
        f"{r['transmit_to_client_p99_ms']:6.1f} ms  max {r['transmit_to_client_max_ms']:6.1f} ms  (target p99 < 100 ms)",
        f"  latency TRANSMIT -> decoded p50 {r['transmit_to_decoded_p50_ms']:6.1f} ms  p99 "
        f"{r['transmit_to_decoded_p99_ms']:6.1f} ms  max {r['transmit_to_decoded_max_ms']:6.1f} ms",
        f"  latency sample -> client    p50 {r['sample_to_client_p50_ms']:6.1f} ms  p99 "
        f"{r['sample_to_client_p99_ms']:6.1f} ms  max {r['sample_to_client_max_ms']:6.1f} ms  (includes the poll wait)",
        f"  server CPU                 {r['server_cpu_percent']:>9.1f} %   overwritten {r['overwritten']}, "
        f"longest TRANSMIT gap {r['transmit_gap_max_ms']:.1f} ms",
        f"  target met: {'yes' if r['ok'] else 'NO'}",
    ])


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m benchmarks.live`."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.live", description=__doc__.split("\n")[0])
    add_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    result = run(args)
    print(json.dumps(result, indent=2) if args.json else report(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
