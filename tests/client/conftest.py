"""Fixtures of the client tests: board lines and the scripted loopback server."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from blitz.boards import BlitzBasicBoard, MotorBoard

from tests.client.scripted_server import ScriptedServer


def basic_lines(count: int, start_ms: int = 1000) -> list[str]:
    """`count` Blitz Basic lines whose channel one counts 0, 1, 2 ... (mod 4096)."""
    board = BlitzBasicBoard()
    return [
        str(board.encode({"adc_channel_one": i % 4096, "adc_channel_two": (i * 7) % 4096,
                          "adc_channel_five": 4095}, timestamp=start_ms + i))
        for i in range(count)
    ]


def mixed_lines(count: int) -> list[str]:
    """Alternating Blitz Basic and Motor board lines."""
    basic, motor = BlitzBasicBoard(), MotorBoard()
    lines = []
    for i in range(count):
        if i % 2:
            lines.append(str(motor.encode({"raw_adc": i, "motor_value": 2 * i, "set_point": 3}, timestamp=i)))
        else:
            lines.append(str(basic.encode({"adc_channel_one": i % 4096}, timestamp=i)))
    return lines


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as scripted:
        yield scripted


@pytest.fixture
def self_signed_cert(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, made with the openssl command."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return cert, key
