"""The blocking Client over real loopback TCP against the scripted server."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from pathlib import Path

import pytest

from blitz.client import reply_parser as rp
from blitz.client.blocking import Client
from blitz.client.errors import (
    AuthError,
    BadReply,
    ConnectionFailed,
    NoBoard,
    NoSession,
    Refused,
    ServerError,
    UnknownSession,
)

from tests.client.conftest import basic_lines
from tests.client.scripted_server import ScriptedServer


def client_for(server: ScriptedServer, **options: object) -> Client:
    options.setdefault("timeout", 5.0)
    options.setdefault("backoff_s", 0.01)
    return Client("127.0.0.1", server.port, **options)  # type: ignore[arg-type]


def test_every_simple_command(server: ScriptedServer) -> None:
    with client_for(server) as client:
        assert client.ping() == "PONG"
        assert client.logging() is None
        assert client.start() == rp.StartResult(1, True)
        assert client.start() == rp.StartResult(1, False)
        assert client.logging() == 1
        server.push(basic_lines(1)[0])
        assert client.update() == basic_lines(1)
        assert client.stop() == 1
        with pytest.raises(NoSession):
            client.stop()
        with pytest.raises(NoSession):
            client.update()
        assert client.sessions()[0].id == 1 and client.sessions()[0].messages == 1
        assert client.boards() == [rp.BoardInfo(8, "ok", "/dev/pts/3", "Blitz Basic expansion board")]
        assert client.board(8, "0881") == ["0882"]
        with pytest.raises(NoBoard, match="no board 0c"):
            client.board(12, "0881")
        status = client.status()
        assert status["logging"] is False and status["boards"][0]["id"] == 8
        assert client.notifications() == [rp.NoteInfo(1700000000000, 2, "board 09 lost")]
        client.delete(1)
        with pytest.raises(UnknownSession, match="no session 1"):
            client.delete(1)
        client.reset()
    assert server.received[:3] == ["PING", "LOGGING", "START"]
    assert "BOARD 0c 0881" in server.received
    assert server.connections == 1


def test_bad_board_commands_are_caught_before_sending(server: ScriptedServer) -> None:
    with client_for(server) as client:
        with pytest.raises(ValueError, match="hex digits"):
            client.board(8, "08 81; RESET")
        with pytest.raises(ValueError, match="board id"):
            client.board(300, "0881")
    assert server.received == []


def test_deleting_the_running_session_is_refused(server: ScriptedServer) -> None:
    running = server.add_session(basic_lines(3), running=True)
    with client_for(server) as client, pytest.raises(Refused, match="is running"):
        client.delete(running)


def test_server_errors_carry_code_and_reason(server: ScriptedServer) -> None:
    server.on_command = lambda command: ["ERROR 503 Redis is unavailable"] if command == "SESSIONS" else None
    with client_for(server) as client:
        with pytest.raises(ServerError) as info:
            client.sessions()
        assert (info.value.code, info.value.reason) == (503, "Redis is unavailable")
        assert client.ping() == "PONG"  # the connection is still in step


def test_token_is_sent_first() -> None:
    with ScriptedServer(token="s3cret") as server:
        with client_for(server, token="s3cret") as client:
            assert client.logging() is None
        assert server.received == ["AUTH s3cret", "LOGGING"]


def test_wrong_or_missing_token_raises_auth_error() -> None:
    with ScriptedServer(token="s3cret") as server:
        with client_for(server, token="nope") as client, pytest.raises(AuthError, match="wrong token") as info:
            client.status()
        assert "nope" not in str(info.value)
        with client_for(server) as client, pytest.raises(AuthError, match="authentication required"):
            client.status()


def test_unreachable_server_retries_with_backoff_then_fails() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound but not listening: refused
        pauses: list[float] = []
        client = Client("127.0.0.1", port, retries=4, backoff_s=0.1, sleep=pauses.append)
        with pytest.raises(ConnectionFailed, match=f"127.0.0.1:{port}.*after 4 attempts"):
            client.ping()
    assert pauses == [0.1, 0.2, 0.4]


def test_a_dropped_connection_is_reopened_for_the_next_command(server: ScriptedServer) -> None:
    with client_for(server) as client:
        assert client.ping() == "PONG"
        for sock in server._clients:
            sock.shutdown(socket.SHUT_RDWR)
        time.sleep(0.05)
        assert client.ping() == "PONG"
    assert server.connections == 2


def test_a_state_changing_command_is_not_sent_twice(server: ScriptedServer) -> None:
    def vanish(command: str) -> list[str] | None:
        if command == "START":
            for sock in server._clients:
                sock.shutdown(socket.SHUT_RDWR)
            return []
        return None

    server.on_command = vanish
    with client_for(server) as client, pytest.raises(ConnectionFailed):
        client.start()
    assert server.received.count("START") == 1


def test_no_reply_times_out() -> None:
    with ScriptedServer() as server:
        server.on_command = lambda command: []  # never answers
        with client_for(server, timeout=0.2) as client, pytest.raises(ConnectionFailed, match="no reply"):
            client.status()


def test_garbage_from_the_server_is_a_protocol_error(server: ScriptedServer) -> None:
    server.on_command = lambda command: ["HELLO"] if command == "PING" else None
    with client_for(server) as client:
        with pytest.raises(BadReply, match="HELLO"):
            client.ping()
        server.on_command = None
        assert client.ping() == "PONG"


@pytest.mark.parametrize("chunk_messages", [1, 7, 5000])
def test_download_streams_chunks_in_order(server: ScriptedServer, chunk_messages: int) -> None:
    lines = basic_lines(123)
    session = server.add_session(lines)
    chunks: list[list[str]] = []
    with client_for(server) as client:
        result = client.download(session, 0, chunks.append, chunk_messages=chunk_messages)
        assert result == rp.DownloadResult(123, 123)
        assert [line for chunk in chunks for line in chunk] == lines
        assert all(len(chunk) <= chunk_messages for chunk in chunks)
        assert client.download(session, 100) == rp.DownloadResult(23, 123)
        assert list(client.iter_download(session, 120)) == [lines[120:]]
        with pytest.raises(UnknownSession):
            client.download(99)


def test_download_resumes_after_broken_connections(server: ScriptedServer) -> None:
    lines = basic_lines(500)
    session = server.add_session(lines)
    server.break_download_after = [40, 130]
    got: list[str] = []
    with client_for(server) as client:
        result = client.download(session, 0, got.extend, chunk_messages=50)
    assert got == lines
    assert result == rp.DownloadResult(500, 500)
    downloads = [c for c in server.received if c.startswith("DOWNLOAD")]
    assert downloads == ["DOWNLOAD 1 0", "DOWNLOAD 1 40", "DOWNLOAD 1 170"]


def test_download_continues_after_redis_fails_mid_stream(server: ScriptedServer) -> None:
    lines = basic_lines(300)
    session = server.add_session(lines)
    server.redis_fails_after = [75, 0]
    got: list[str] = []
    with client_for(server) as client:
        result = client.download(session, 0, got.extend, chunk_messages=50)
    assert got == lines and result == rp.DownloadResult(300, 300)
    downloads = [c for c in server.received if c.startswith("DOWNLOAD")]
    assert downloads == ["DOWNLOAD 1 0", "DOWNLOAD 1 75", "DOWNLOAD 1 75"]


def test_download_reports_redis_failure_after_retries(server: ScriptedServer) -> None:
    session = server.add_session(basic_lines(100))
    server.redis_fails_after = [10, 10, 10]
    got: list[str] = []
    with client_for(server, retries=2) as client:
        with pytest.raises(ServerError) as info:
            client.download(session, 0, got.extend, chunk_messages=1000)
        assert info.value.code == 503
        assert got == basic_lines(100)[:30]  # every valid line was delivered before the error
        assert client.ping() == "PONG"


def test_download_gives_up_after_retries(server: ScriptedServer) -> None:
    session = server.add_session(basic_lines(50))
    server.break_download_after = [1, 1, 1]
    with client_for(server, retries=2) as client, pytest.raises(ConnectionFailed):
        client.download(session, 0, lambda chunk: None)


def test_a_failing_consumer_stops_the_download_and_resyncs(server: ScriptedServer) -> None:
    session = server.add_session(basic_lines(100))
    seen: list[str] = []

    def store(chunk: list[str]) -> None:
        if seen:
            raise RuntimeError("disk full")
        seen.extend(chunk)

    with client_for(server) as client:
        with pytest.raises(RuntimeError, match="disk full"):
            client.download(session, 0, store, chunk_messages=10)
        assert len(seen) == 10
        assert client.ping() == "PONG"  # a fresh connection, not the rest of the download
        iterator = client.iter_download(session, 0, chunk_messages=10)
        assert len(next(iterator)) == 10
        iterator.close()  # type: ignore[attr-defined]
        assert client.ping() == "PONG"


def test_live_yields_pushes_until_the_time_is_up(server: ScriptedServer) -> None:
    server.add_session([], running=True)
    lines = basic_lines(30)

    def produce() -> None:
        time.sleep(0.2)
        for line in lines:
            server.push(line)
            time.sleep(0.005)

    producer = threading.Thread(target=produce)
    received: list[rp.Push] = []
    with client_for(server) as client:
        producer.start()
        batches = 0
        for pushes in client.live(seconds=1.0, idle_s=0.05):
            batches += 1
            received.extend(pushes)
        producer.join()
        assert client.ping() == "PONG"
    assert [p.line for p in received if isinstance(p, rp.LivePush)] == lines
    assert batches > 2  # idle ticks were yielded too
    assert server.received[0] == "LIVE ON" and "LIVE OFF" in server.received


def test_run_live_counts_pushes(server: ScriptedServer) -> None:
    server.add_session([], running=True)
    with client_for(server) as client:
        threading.Timer(0.1, lambda: [server.push(line) for line in basic_lines(5)]).start()
        seen: list[list[rp.Push]] = []
        assert client.run_live(seen.append, seconds=0.5, idle_s=0.05) == 5
        assert sum(len(batch) for batch in seen) == 5


def test_tls_with_a_trusted_certificate(self_signed_cert: tuple[Path, Path]) -> None:
    cert, key = self_signed_cert
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    with ScriptedServer(token="t", tls=server_context) as server:
        trusted = ssl.create_default_context(cafile=str(cert))
        with client_for(server, token="t", tls=trusted) as client:
            assert client.ping() == "PONG" and client.logging() is None
        assert server.received == ["AUTH t", "PING", "LOGGING"]
        with client_for(server, tls=True, retries=1) as client, pytest.raises(ConnectionFailed, match="CERTIFICATE"):
            client.ping()  # self-signed and not trusted: refused
        with client_for(server, retries=1, timeout=1) as client, pytest.raises(ConnectionFailed):
            client.ping()  # plain text to a TLS port
