"""`blitz simulate`: as a real subprocess, and through CliRunner for its errors and help."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import serial
from click.testing import CliRunner

from blitz.cli.main import cli
from blitz.protocol import Message

BLITZ = [sys.executable, "-c", "from blitz.cli.main import main; main()"]


def _read_lines(process: subprocess.Popen[str], count: int, timeout_s: float = 10.0) -> list[str]:
    """Read `count` stdout lines without letting a buffered reader hide them from select."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    data = b""
    deadline = time.monotonic() + timeout_s
    while data.count(b"\n") < count:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        chunk = os.read(fd, 4096) if ready else b""
        if not chunk:
            process.kill()
            pytest.fail(f"the simulator printed {data!r}; stderr: {process.communicate()[1]}")
        data += chunk
    return data.decode().splitlines()


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*BLITZ, "simulate", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )


def _wait_until(condition: object, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_prints_boards_answers_over_the_pty_and_reports_counts_on_sigterm(tmp_path: Path) -> None:
    stats_file = tmp_path / "stats.json"
    process = _start("--board", "basic", "--board", "motor", "--rate", "200", "--stats-file", str(stats_file))
    try:
        boards = [line.split() for line in _read_lines(process, 2)]
        assert [board[0] for board in boards] == ["08", "09"]
        with serial.Serial(boards[0][1], timeout=2) as basic, serial.Serial(boards[1][1], timeout=2) as motor:
            basic.write(b"0081\n")
            motor.write(b"0081\n")
            assert (basic.readline(), motor.readline()) == (b"0882\r\n", b"0982\r\n")
            basic.write(b"0000\n")
            assert basic.readline() == b"0840\r\n"
            time.sleep(0.2)
            basic.write(b"00c0\n")
            data = []
            while (line := basic.readline()) != b"0840\r\n":
                data.append(Message.parse(line))
            assert len(data) >= 30 and all(m.sender == 8 for m in data)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert f"08 {boards[0][1]}: generated" in stderr
    assert f"transmitted {len(data)}, overwritten 0" in stderr
    stats = json.loads(stats_file.read_text())
    assert [entry["board_id"] for entry in stats] == ["08", "09"]
    assert stats[0]["transmitted"] == len(data)
    assert stats[0]["generated"] >= len(data)
    assert stats[1]["generated"] == 0  # the motor board was never started


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_sigint_exits_cleanly_and_usr1_usr2_unplug_and_replug(tmp_path: Path) -> None:
    links = tmp_path / "links"
    process = _start("--board", "0c", "--link-dir", str(links))
    try:
        ((board_id, device, link),) = [line.split() for line in _read_lines(process, 1)]
        assert (board_id, link) == ("0c", str(links / "board-0c"))
        assert os.readlink(link) == device
        with serial.Serial(link, timeout=2) as port:
            port.write(b"0000\n")
            assert port.readline() == b"0c40\r\n"
        process.send_signal(signal.SIGUSR1)
        _wait_until(lambda: not os.path.lexists(link))
        process.send_signal(signal.SIGUSR2)
        _wait_until(lambda: os.path.lexists(link))
        assert os.readlink(link).startswith("/dev/")  # the kernel may reuse the number
        with serial.Serial(link, timeout=2) as port:
            port.write(b"0081\n")
            assert port.readline() == b"0c82\r\n"
            port.write(b"0083\n")
            assert Message.parse(port.readline()).payload >> 63 == 0  # rebooted: not logging
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=10)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr and "0c " in stderr
    assert not os.path.lexists(link)


def test_duration_stops_on_its_own_and_writes_stats(tmp_path: Path) -> None:
    stats_file = tmp_path / "stats.json"
    result = CliRunner().invoke(
        cli, ["simulate", "--board", "09", "--duration", "0.1", "--stats-file", str(stats_file)]
    )
    assert result.exit_code == 0, result.output
    assert result.output.split()[0] == "09"
    assert json.loads(stats_file.read_text())[0]["board_id"] == "09"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--board", "sensor"], "unknown board 'sensor'"),
        (["--board", "100"], "board id must be 00-ff"),
        (["--buffer", "1"], "--buffer"),
        (["--rate", "0"], "--rate"),
    ],
)
def test_bad_options_fail_with_one_line_and_exit_code(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["simulate", *args])
    assert result.exit_code in (1, 2)
    assert message in result.output
    assert "Traceback" not in result.output


def test_help_ends_with_an_example() -> None:
    result = CliRunner().invoke(cli, ["simulate", "--help"])
    assert result.exit_code == 0
    assert "Example:\n    blitz simulate --board basic" in result.output
