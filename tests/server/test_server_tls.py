"""TLS end to end: `blitz server --tls-cert/--tls-key` as a real process, a certificate made here."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.server.test_control_tcp import make_self_signed

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _connect(port: int, deadline_s: float = 15.0) -> socket.socket:
    end = time.monotonic() + deadline_s
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.1)


def _read_line(stream: socket.socket) -> str:
    data = b""
    while not data.endswith(b"\n"):
        chunk = stream.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.decode().strip()


def test_tls_control_port_end_to_end(tmp_path: Path, redis_url: str) -> None:
    cert, key = make_self_signed(tmp_path)
    port = _free_port()
    log = open(tmp_path / "server.log", "wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "blitz", "server", "--port", str(port), "--no-scan", "--redis-url", redis_url,
         "--data-dir", str(tmp_path / "data"), "--tls-cert", str(cert), "--tls-key", str(key), "--token", "s3cret"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        context = ssl.create_default_context(cafile=str(cert))
        context.verify_flags &= ~getattr(ssl, "VERIFY_X509_STRICT", 0)  # a throw-away self-signed cert
        with context.wrap_socket(_connect(port), server_hostname="127.0.0.1") as tls:
            assert tls.version() is not None and tls.version().startswith("TLS")
            tls.sendall(b"LOGGING\n")
            assert _read_line(tls) == "ERROR 401 authentication required"
            tls.sendall(b"AUTH s3cret\n")
            assert _read_line(tls) == "ACK"
            tls.sendall(b"PING\n")
            assert _read_line(tls) == "ACK PONG"
        # a client that does not speak TLS gets no protocol at all
        with _connect(port) as plain:
            plain.sendall(b"PING\n")
            plain.settimeout(3)
            try:
                answer = plain.recv(100)
            except (ConnectionResetError, socket.timeout):
                answer = b""
            assert b"ACK" not in answer
    finally:
        server.terminate()
        server.wait(timeout=15)
        log.close()
    assert server.returncode == 0, (tmp_path / "server.log").read_text()[-2000:]
