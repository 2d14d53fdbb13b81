"""`blitz simulate`: run virtual expansion boards on pseudo-terminals until stopped."""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from types import FrameType
from typing import Any

import click

from blitz.errors import BlitzError
from blitz.simulator import MAX_BUFFER_SIZE, Simulator, TimestampMode


def _format_stats(stats: dict[str, Any]) -> str:
    return (
        f"{stats['board_id']} {stats['device_path']}: generated {stats['generated']}, "
        f"transmitted {stats['transmitted']}, overwritten {stats['overwritten']}, "
        f"dropped {stats['dropped']}"
    )


@click.command()
@click.option(
    "--board",
    "boards",
    multiple=True,
    default=("basic",),
    show_default=True,
    metavar="NAME|HEX",
    help="A board to simulate: basic, motor, or a hex id (unknown ids get the basic layout). Repeatable.",
)
@click.option(
    "--rate",
    "rate_hz",
    type=click.FloatRange(min=0, min_open=True),
    default=100.0,
    show_default=True,
    help="Samples per second while logging.",
)
@click.option(
    "--buffer",
    "buffer_size",
    type=click.IntRange(2, MAX_BUFFER_SIZE),
    default=180,
    show_default=True,
    help="Messages in each board's circular buffer (at most N-1 wait unsent).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the generated values.")
@click.option(
    "--send-frequency",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Log one message every N+1 samples, like the sketch's sendFrequency.",
)
@click.option(
    "--link-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Keep a stable symlink board-<id> per board here (followed across replugs).",
)
@click.option(
    "--elapsed-timestamps",
    is_flag=True,
    help="Stamp messages with ms since START (getElapsed()) instead of millis().",
)
@click.option(
    "--millis-offset",
    "millis_offset_ms",
    type=click.IntRange(min=0),
    default=0,
    help="Start each board's millis() here (e.g. 4294960000 to see the 32-bit wrap).",
)
@click.option(
    "--reset-on-open",
    "reset_delay_s",
    type=click.FloatRange(min=0),
    default=None,
    metavar="SECONDS",
    help="Reboot a board whenever its port is opened and ignore input for SECONDS (Arduino DTR reset).",
)
@click.option("--duration", "duration_s", type=click.FloatRange(min=0), default=None, help="Stop after this many seconds.")
@click.option(
    "--stats-file",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Write the final per-board counters here as JSON.",
)
def simulate(
    boards: tuple[str, ...],
    rate_hz: float,
    buffer_size: int,
    seed: int,
    send_frequency: int,
    link_dir: str | None,
    elapsed_timestamps: bool,
    millis_offset_ms: int,
    reset_delay_s: float | None,
    duration_s: float | None,
    stats_file: str | None,
) -> None:
    """Run virtual expansion boards on pseudo-terminals until SIGINT or SIGTERM.

    Prints one line per board on stdout as soon as it is ready:
    `<board id> <device path>`, plus the link path with --link-dir.  The
    boards speak the BlitzExpansion firmware protocol of wire.md, quirks
    included.  On exit, per-board counts of generated, transmitted,
    overwritten and dropped messages go to stderr (and --stats-file).
    SIGUSR1 unplugs every board, SIGUSR2 plugs them in again (new ptys).

    \b
    Example:
      blitz simulate --board basic --board motor --rate 200 --link-dir /tmp/boards
      blitz simulate --board 08 --board 0c --buffer 100 --stats-file stats.json
    """
    try:
        simulator = Simulator(
            boards,
            rate_hz=rate_hz,
            buffer_size=buffer_size,
            seed=seed,
            send_frequency=send_frequency,
            timestamps=TimestampMode.ELAPSED if elapsed_timestamps else TimestampMode.MILLIS,
            millis_offset_ms=millis_offset_ms,
            link_dir=link_dir,
            reset_delay_s=reset_delay_s,
        )
        simulator.start()
    except (BlitzError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc

    wake = threading.Event()
    requests: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        requests.append(signum)
        wake.set()

    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)
    previous = {signum: signal.signal(signum, on_signal) for signum in handled}
    try:
        for board in simulator.boards:
            columns = [f"{board.board_id:02x}", board.device_path or ""]
            if board.link_path:
                columns.append(board.link_path)
            click.echo(" ".join(columns))
        sys.stdout.flush()
        _serve(simulator, wake, requests, duration_s)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        simulator.stop()
    stats = simulator.stats()
    for entry in stats:
        click.echo(_format_stats(entry), err=True)
    if stats_file is not None:
        with open(stats_file, "w", encoding="utf-8") as handle:
            json.dump(stats, handle, indent=2)


def _serve(simulator: Simulator, wake: threading.Event, requests: list[int], duration_s: float | None) -> None:
    """Wait for signals (or the duration), unplugging and replugging on request."""
    deadline = None if duration_s is None else time.monotonic() + duration_s
    while True:
        remaining = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
        if remaining <= 0:
            return
        wake.wait(remaining)
        wake.clear()
        while requests:
            signum = requests.pop(0)
            if signum in (signal.SIGINT, signal.SIGTERM):
                return
            for board in simulator.boards:
                if signum == signal.SIGUSR1:
                    board.unplug()
                else:
                    board.replug()
                click.echo(f"{board.board_id:02x} {board.device_path or 'unplugged'}", err=True)
        if simulator.host.error is not None:
            raise click.ClickException(f"simulator thread failed: {simulator.host.error}")
