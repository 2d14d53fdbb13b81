"""`blitz demo`: the whole pipeline on this machine, with simulated boards.

It starts an embedded Redis, two simulated boards (basic and motor) on
pseudo-terminals and a real `blitz server` process, then acts as the client:
starts a session, shows live values, stops, downloads the session into a
SQLite file, prints its statistics and writes a CSV and a PNG.  Nothing needs
to be installed beforehand but the package.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any, Callable

import click

from blitz.errors import BlitzError

POLL_S = 0.1


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _say(text: str = "") -> None:
    click.echo(text, err=True)


def _wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise BlitzError(f"demo: timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(POLL_S)


def _start_server(workdir: Path, port: int, redis_url: str, serial_paths: list[str], log: IO[bytes]) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, "-m", "blitz", "server",
        "--host", "127.0.0.1", "--port", str(port),
        "--redis-url", redis_url, "--data-dir", str(workdir / "server"), "--no-scan",
        "--reset-wait", "0",
    ]
    for path in serial_paths:
        command += ["--serial", path]
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)


def _stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_demo(workdir: Path, seconds: float, rate_hz: float) -> dict[str, Any]:
    """Run the demo in `workdir`; returns what it produced (paths and counts)."""
    from blitz.boards import load_boards
    from blitz.cli.live import Screen
    from blitz.cli.live import render as render_live
    from blitz.client.blocking import Client
    from blitz.client.download import Downloader
    from blitz.client.live import LiveView
    from blitz.client.plot import build_panels, render, save_png
    from blitz.data.browse import load_session, session_stats
    from blitz.data.client_database import DatabaseClient
    from blitz.data.export import export_session
    from blitz.data.redis_process import EmbeddedRedis
    from blitz.protocol import Instruction, render_command
    from blitz.simulator import Simulator

    workdir.mkdir(parents=True, exist_ok=True)
    boards = load_boards()
    result: dict[str, Any] = {"workdir": str(workdir)}
    with ExitStack() as stack:
        _say("1/6  starting an embedded Redis (append-only, in the demo folder)")
        redis = EmbeddedRedis(workdir / "redis", appendfsync="everysec")
        redis_url = redis.start()
        stack.callback(redis.stop)

        _say(f"2/6  starting simulated boards (basic 0x08, motor 0x09) at {rate_hz:g} Hz on pseudo-terminals")
        simulator = Simulator(["basic", "motor"], rate_hz=rate_hz, seed=1).start()
        stack.callback(simulator.stop)
        paths = [board.device_path or "" for board in simulator.boards]

        port = _free_port()
        _say(f"3/6  starting the logging server on 127.0.0.1:{port}")
        log = stack.enter_context(open(workdir / "server.log", "wb"))
        server = _start_server(workdir, port, redis_url, paths, log)
        stack.callback(_stop_process, server)
        client = stack.enter_context(Client("127.0.0.1", port, timeout=10.0))

        def server_ready() -> bool:
            if server.poll() is not None:
                raise BlitzError(f"demo: the server exited early; see {workdir / 'server.log'}")
            try:
                return sum(1 for b in client.boards() if b.state == "ok") >= len(paths)
            except BlitzError:
                return False

        _wait_for(server_ready, 30, "the server to find both boards")

        started = client.start()
        session_id = started.session_id
        _say(f"4/6  logging session {session_id} for {seconds:g} s; live values:")
        database = stack.enter_context(DatabaseClient(path=str(workdir / "blitz.db")))
        view = LiveView(boards, database)
        screen = Screen(sys.stderr) if sys.stderr.isatty() else None
        shown = 0.0
        set_point_sent = False
        started_s = time.monotonic()
        for pushes in client.live(seconds=seconds):
            view.feed(pushes)
            if not set_point_sent and time.monotonic() - started_s >= seconds / 2:
                set_point_sent = True  # what `blitz command 09 ...` does: move the motor
                client.board(0x09, render_command(0x09, Instruction.MOTOR_SET_SPEED, [30]))
                _say("     sent the motor board a new set point (30); watch motor_value follow it")
            if time.monotonic() - shown >= 1.0 and view.values():
                shown = time.monotonic()
                if screen is not None:  # redraw in place on a terminal, print otherwise
                    screen.draw(render_live(view))
                else:
                    _say(render_live(view, ascii_only=True))
        view.flush()
        client.stop()
        _say(f"     stopped; {view.lines} lines seen live")

        _say("5/6  downloading the session into the local SQLite database")
        downloader = Downloader(client, database, boards)
        report = downloader.download(session_id)
        _say(f"     {report.messages} messages -> {report.readings} readings in {report.seconds:.2f} s")

        _say("6/6  statistics, CSV and plot")
        csv_path = workdir / f"session-{session_id}.csv"
        png_path = workdir / f"session-{session_id}.png"
        with database.engine.connect() as conn:
            overview = load_session(conn, session_id)
            for row in session_stats(conn, overview).variables:
                std = "-" if row.std is None else f"{row.std:.2f}"
                _say(f"     {row.name:<20} n={row.count:<6} min={row.minimum:<8.1f} max={row.maximum:<8.1f} "
                     f"mean={row.mean:<9.2f} std={std}")
            with open(csv_path, "w", encoding="utf-8", newline="") as out:
                export_session(conn, session_id, out, fmt="csv")
            save_png(render(build_panels(conn, overview), f"Blitz demo, session {session_id}"), png_path)
        result.update(
            session=session_id, messages=report.messages, readings=report.readings, live_lines=view.lines,
            database=str(workdir / "blitz.db"), csv=str(csv_path), png=str(png_path),
            boards=[b.status() for b in simulator.boards],
        )
    return result


@click.command()
@click.option("--seconds", type=click.FloatRange(min=1), default=10.0, show_default=True,
              help="How long the demo session logs.")
@click.option("--dir", "workdir", type=click.Path(file_okay=False, path_type=Path), default=Path("blitz-demo"),
              show_default=True, help="Folder for the database, CSV, PNG and logs.")
@click.option("--rate", "rate_hz", type=click.FloatRange(min=1, max=600), default=50.0, show_default=True,
              help="Samples per second of each simulated board.")
def demo(seconds: float, workdir: Path, rate_hz: float) -> None:
    """Run Blitz end to end on this machine with simulated boards.

    Starts an embedded Redis, a basic and a motor board on pseudo-terminals
    and a real logging server; logs a session while showing live values,
    stops, downloads it into SQLite, prints its statistics and writes a CSV
    and a PNG into the demo folder.

    \b
    Example:
      blitz demo
      blitz demo --seconds 30 --dir /tmp/blitz-demo
    """
    try:
        result = run_demo(workdir.resolve(), seconds, rate_hz)
    except BlitzError as exc:
        raise click.ClickException(str(exc)) from None
    db = result["database"]
    session = result["session"]
    click.echo(
        f"\nDone. Session {session}: {result['messages']} messages, {result['readings']} readings.\n"
        f"  database  {db}\n  CSV       {result['csv']}\n  plot      {result['png']}\n\n"
        "Try next:\n"
        f"  blitz stats {session} --db {db}\n"
        f"  blitz readings {session} --db {db} --variable set_point --limit 10\n"
        f"  blitz export {session} --db {db} --format json -o session.json\n"
        f"  blitz plot {session} --db {db} --variable adc_channel_one --moving-average 5 -o smooth.png\n"
        "  blitz simulate --board basic --board motor   # boards for your own server\n"
    )
