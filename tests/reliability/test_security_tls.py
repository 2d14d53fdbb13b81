"""A whole session over TLS: Blitz's own client, a certificate made here, a real server and board.

tests/server/test_server_tls.py shows the TLS handshake and AUTH on a real
server.  This test goes further: the client library logs in over TLS,
starts a session on a simulated board, watches LIVE pushes, stops it and
downloads every line, which must equal what the board transmitted; and a
client that does not trust the certificate, or expects another name, never
gets a connection.
"""

from __future__ import annotations

import socket
import ssl
import tempfile
import uuid
from pathlib import Path

import pytest
import redis

from blitz.client.blocking import Client
from blitz.client.reply_parser import LivePush
from blitz.data.redis_buffer import DatabaseServer
from blitz.simulator import Simulator
from tests.reliability.harness import ServerProcess, lines_of, wait_for
from tests.server.test_control_tcp import make_self_signed

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

TOKEN = "tls-token"


def trusting(cert: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(cert))
    context.verify_flags &= ~getattr(ssl, "VERIFY_X509_STRICT", 0)  # a throw-away self-signed cert
    return context


def test_a_session_over_tls_end_to_end(redis_url: str, tmp_path: Path) -> None:
    cert, key = make_self_signed(tmp_path)
    (tmp_path / "other").mkdir()
    other_cert, _ = make_self_signed(tmp_path / "other")
    prefix = f"rel-tls-{uuid.uuid4().hex[:8]}:"
    with tempfile.TemporaryDirectory(prefix="blitz-tls-") as tmp:
        sim = Simulator(["basic"], rate_hz=200, record=True, seed=13, link_dir=Path(tmp) / "links")
        with sim:
            server = ServerProcess("--port", "0", "--no-scan", "--reset-wait", "0", "--poll-interval", "0.05",
                                   "--redis-url", redis_url, "--data-dir", str(Path(tmp) / "data"),
                                   "--serial", sim.boards[0].path, "--token", TOKEN,
                                   "--tls-cert", str(cert), "--tls-key", str(key),
                                   env={"BLITZ_REDIS_PREFIX": prefix})
            try:
                port = server.port()
                with Client("127.0.0.1", port, token=TOKEN, tls=trusting(cert), timeout=10) as client:
                    wait_for(lambda: [b.state for b in client.boards()] == ["ok"], "board 08 ok")
                    session = client.start().session_id
                    pushes = [push for batch in client.live(seconds=0.6, idle_s=0.1) for push in batch]
                    stopped = client.stop()
                    lines: list[str] = []
                    result = client.download(session, on_lines=lines.extend)
                for bad, name in ((trusting(other_cert), "127.0.0.1"), (trusting(cert), "localhost")):
                    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
                        with pytest.raises(ssl.SSLCertVerificationError):
                            bad.wrap_socket(raw, server_hostname=name)
            finally:
                code = server.stop()
            counters, expected = sim.boards[0].counters(), sim.boards[0].expected_lines()
    client_redis = redis.Redis.from_url(redis_url)
    try:
        stored = DatabaseServer(redis=client_redis, prefix=prefix).get_all_from_session(session)
        for key in client_redis.scan_iter(match=prefix + "*"):
            client_redis.delete(key)
    finally:
        client_redis.close()
    assert code == 0 and "Traceback" not in server.text, server.text
    assert stopped == session
    assert lines == stored == lines_of(0x08, expected[: counters.transmitted])
    assert result.next_offset == len(stored) > 50
    live_lines = [push.line for push in pushes if isinstance(push, LivePush) and push.session_id == session]
    assert live_lines and set(live_lines) <= set(stored)
