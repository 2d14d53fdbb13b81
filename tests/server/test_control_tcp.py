"""The control protocol over real loopback TCP (and TLS), driven by plain socket clients.

The server runs in the reactor under trial; each client is a blocking socket
in a worker thread (deferToThread), so client and server really run at once.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import pytest
from twisted.internet import reactor, threads
from twisted.internet.defer import Deferred, DeferredList, inlineCallbacks
from twisted.trial import unittest

from blitz.errors import ConfigError
from blitz.server.control_protocol import ControlFactory, ControlProtocol
from blitz.server.tls import server_endpoint, tls_available
from tests.server.test_control_fakes import FakeConfig, FakeLogger

pytestmark = pytest.mark.integration

TIMEOUT_S = 10.0


class TrackingFactory(ControlFactory):
    """A ControlFactory that remembers its protocols and when each lost its connection."""

    def __init__(self, *args: Any, sndbuf: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.protocols: list[ControlProtocol] = []
        self.lost: list[Deferred[None]] = []
        self.pauses = 0
        self.sndbuf = sndbuf

    def buildProtocol(self, addr: Any) -> ControlProtocol:
        protocol = super().buildProtocol(addr)
        lost: Deferred[None] = Deferred()
        real_connection_lost = protocol.connectionLost

        def connection_lost(reason: Any = None) -> None:
            real_connection_lost(reason)
            lost.callback(None)

        real_connection_made = protocol.connectionMade
        real_pause = protocol.pauseProducing

        def connection_made() -> None:
            if self.sndbuf is not None:  # loopback autotunes send buffers up to 4 MiB
                handle = protocol.transport.getHandle()
                handle.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.sndbuf)
            real_connection_made()

        def pause() -> None:
            self.pauses += 1
            real_pause()

        protocol.connectionLost = connection_lost  # type: ignore[method-assign]
        protocol.connectionMade = connection_made  # type: ignore[method-assign]
        protocol.pauseProducing = pause  # type: ignore[method-assign]
        self.protocols.append(protocol)
        self.lost.append(lost)
        return protocol


class LineClient:
    """A blocking line client on a plain (or TLS-wrapped) socket."""

    def __init__(self, port: int, rcvbuf: int | None = None,
                 tls: ssl.SSLContext | None = None) -> None:
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.settimeout(TIMEOUT_S)
        if rcvbuf is not None:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        raw.connect(("127.0.0.1", port))
        self.sock: socket.socket = (
            tls.wrap_socket(raw, server_hostname="127.0.0.1") if tls is not None else raw)
        self.buffer = b""
        self.received = 0

    def send(self, *lines: str | bytes) -> None:
        for line in lines:
            self.sock.sendall((line.encode() if isinstance(line, str) else line) + b"\n")

    def read_line(self) -> str:
        while b"\n" not in self.buffer:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError(f"connection closed; unread {self.buffer[:80]!r}")
            self.received += len(data)
            self.buffer += data
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode()

    def reply(self) -> list[str]:
        """Lines up to and including the next terminal line (push lines skipped)."""
        lines = []
        while True:
            line = self.read_line()
            if line.startswith("!"):
                continue
            lines.append(line)
            if not line.startswith("+"):
                return lines

    def command(self, line: str) -> list[str]:
        self.send(line)
        return self.reply()

    def close(self) -> None:
        self.sock.close()


def in_thread(function: Callable[[], Any]) -> Deferred[Any]:
    return threads.deferToThread(function)


class ControlOverTCP(unittest.TestCase):
    """Real sockets on 127.0.0.1, an ephemeral port, the endpoint helper from tls.py."""

    timeout = 30

    @inlineCallbacks
    def listen(self, config: FakeConfig | None = None, sndbuf: int | None = None,
               **options: Any):  # type: ignore[no-untyped-def]
        self.logger = FakeLogger()
        self.factory = TrackingFactory(self.logger, config or FakeConfig(), reactor,
                                       sndbuf=sndbuf, **options)
        endpoint = server_endpoint(reactor, config or FakeConfig())
        self.port = yield endpoint.listen(self.factory)
        self.addCleanup(self.port.stopListening)
        return self.port.getHost().port

    def all_closed(self) -> Deferred[Any]:
        return DeferredList(self.factory.lost)

    @inlineCallbacks
    def test_two_clients_at_once(self):  # type: ignore[no-untyped-def]
        port = yield self.listen()
        first, second = LineClient(port), LineClient(port)

        def conversation() -> list[list[str]]:
            answers = [first.command("PING"), second.command("PING"), first.command("START"),
                       second.command("LOGGING"), second.command("LIVE ON")]
            first.send("STOP")
            answers.append(first.reply())
            first.send("QUIT")
            answers.append(first.reply())
            second.close()
            return answers

        answers = yield in_thread(conversation)
        self.assertEqual(answers, [["ACK PONG"], ["ACK PONG"], ["ACK 1"], ["INSESSION 1"],
                                   ["ACK"], ["ACK 1"], ["ACK bye"]])
        yield self.all_closed()
        first.close()
        self.assertEqual(len(self.factory.protocols), 2)

    @inlineCallbacks
    def test_slow_client_download_is_bounded_then_complete(self):  # type: ignore[no-untyped-def]
        lines = [b"08a0%08x0000000000000000" % i for i in range(60_000)]  # ~1.8 MB
        port = yield self.listen(chunk_lines=500, sndbuf=32768)
        self.logger.add_session(lines)
        client = LineClient(port, rcvbuf=16384)

        def slow_then_fast() -> tuple[int, list[str]]:
            client.send("DOWNLOAD 1")
            time.sleep(0.5)  # not reading: the server must stop producing
            reads_while_stalled = threads.blockingCallFromThread(
                reactor, lambda: len(self.logger.reads))
            received = [client.read_line() for _ in range(len(lines) + 1)]
            client.send("QUIT")
            received += client.reply()
            return reads_while_stalled, received

        stalled_reads, received = yield in_thread(slow_then_fast)
        # the transport buffer (64 KiB) and the socket buffers (about 100 KiB here) hold
        # about a dozen 15 KiB chunks: far fewer than the 120 chunks of the whole session
        self.assertLess(stalled_reads, 30)
        self.assertGreater(self.factory.pauses, 0)
        self.assertEqual(received[:-2], ["+" + line.decode() for line in lines])
        self.assertEqual(received[-2:], [f"ACK {len(lines)} {len(lines)}", "ACK bye"])
        yield self.all_closed()
        client.close()

    @inlineCallbacks
    def test_client_disconnecting_mid_download_stops_the_server_side(self):  # type: ignore[no-untyped-def]
        lines = [b"08a0%08x0000000000000000" % i for i in range(200_000)]  # ~6 MB
        port = yield self.listen(chunk_lines=500, sndbuf=32768)
        self.logger.add_session(lines)
        client = LineClient(port, rcvbuf=16384)

        def read_a_little_then_vanish() -> None:
            client.send("DOWNLOAD 1")
            for _ in range(100):
                client.read_line()
            client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            client.close()  # unread data + linger 0: the server sees a reset

        yield in_thread(read_a_little_then_vanish)
        yield self.all_closed()
        reads_at_close = len(self.logger.reads)
        yield in_thread(lambda: time.sleep(0.2))
        self.assertEqual(len(self.logger.reads), reads_at_close)
        self.assertLess(reads_at_close, len(lines) // 500)
        self.assertIsNone(self.factory.protocols[0].download)
        # the server still serves others
        other = LineClient(self.port.getHost().port)
        answer = yield in_thread(lambda: other.command("PING"))
        self.assertEqual(answer, ["ACK PONG"])
        other.close()
        yield self.all_closed()

    @inlineCallbacks
    def test_huge_line_and_garbage_over_tcp(self):  # type: ignore[no-untyped-def]
        port = yield self.listen()
        client = LineClient(port)

        def abuse() -> list[list[str]]:
            client.send(b"x" * 200_000, b"\xff\x00garbage", b"PING")
            answers = [client.reply(), client.reply(), client.reply()]
            client.close()
            return answers

        answers = yield in_thread(abuse)
        self.assertEqual(answers, [["ERROR 413 line too long (max 4096 bytes)"],
                                   ["ERROR 400 line is not UTF-8 text"], ["ACK PONG"]])
        yield self.all_closed()

    @inlineCallbacks
    def test_token_over_tcp(self):  # type: ignore[no-untyped-def]
        config = FakeConfig(token="tcp-token")
        port = yield self.listen(config, auth_delay_s=0.05)
        client = LineClient(port)

        def log_in() -> list[list[str]]:
            answers = [client.command("START"), client.command("AUTH nope"),
                       client.command("AUTH tcp-token"), client.command("START")]
            client.close()
            return answers

        answers = yield in_thread(log_in)
        self.assertEqual(answers, [["ERROR 401 authentication required"],
                                   ["ERROR 401 wrong token"], ["ACK"], ["ACK 1"]])
        yield self.all_closed()


def make_self_signed(directory: Path) -> tuple[Path, Path]:
    """A throw-away certificate for 127.0.0.1, made with `cryptography` (pyOpenSSL's dependency)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "blitz test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class ControlOverTLS(unittest.TestCase):
    """A clear ConfigError when pyOpenSSL is missing (the handshake: test_server_tls.py)."""

    timeout = 30

    def test_missing_pyopenssl_is_a_clear_config_error(self) -> None:
        if tls_available():
            raise unittest.SkipTest("pyOpenSSL is installed: the handshake test covers TLS")
        config = FakeConfig(tls_cert="/nonexistent/cert.pem", tls_key="/nonexistent/key.pem")
        with self.assertRaises(ConfigError) as caught:
            server_endpoint(reactor, config)
        self.assertIn("Twisted[tls]", str(caught.exception))



def test_the_control_port_turns_nagle_off_for_prompt_live_pushes() -> None:
    """Small LIVE pushes must not wait for Nagle's algorithm (docs/performance.md, Live)."""
    from twisted.internet.testing import StringTransport

    from blitz.server.control_protocol import ControlFactory
    from tests.server.test_control_fakes import FakeConfig, FakeLogger

    class TcpTransport(StringTransport):
        no_delay = False

        def setTcpNoDelay(self, enabled: bool) -> None:
            self.no_delay = enabled

    protocol = ControlFactory(FakeLogger(), FakeConfig()).buildProtocol(None)
    transport = TcpTransport()
    protocol.makeConnection(transport)
    assert transport.no_delay is True
