"""The NetScanner bridge: codec, protocol in memory, and a fake scanner over loopback TCP."""

import pytest
from twisted.internet import defer, reactor, task
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import StringTransport

from blitz.boards import NetScannerBoard, NetScannerBoardTwo
from blitz.server.netscanner import NetScannerProtocol, netscanner_service
from blitz.server.netscanner_codec import (
    INIT_COMMANDS,
    READ_COMMAND,
    NetScannerError,
    encode_reading,
    parse_ack,
    parse_readings,
)

VALUES = [0.5 * i - 1.0 for i in range(16)]  # channels 1..16


def device_reply(values):
    """What the scanner sends for rFFFF0: highest channel first, space before each."""
    return "".join(f" {v:.6f}" for v in reversed(values)) + "\r"


def test_parse_readings_reverses_device_order():
    assert parse_readings(device_reply(VALUES)) == pytest.approx(VALUES)


@pytest.mark.parametrize(
    "reply,message",
    [(" 1.0 2.0", "expected 16 readings from the NetScanner, got 2"), (" x" * 16, "expected decimal"),
     ("N05", r"N05 \(data field error\)"), (" nan" * 16, "not a number")],
)
def test_bad_replies(reply, message):
    with pytest.raises(NetScannerError, match=message):
        parse_readings(reply)


def test_parse_ack():
    parse_ack("A\r\n")
    with pytest.raises(NetScannerError, match="N01 \\(undefined command received\\)"):
        parse_ack("N01")
    with pytest.raises(NetScannerError, match="expected 'A' or 'Nxx'"):
        parse_ack("hello")


def test_encoded_line_decodes_with_the_builtin_boards():
    encoded = encode_reading(0x0A, 1234, VALUES)
    assert len(encoded.line) == 140 and encoded.line.startswith("0A50000004D2")
    assert encoded.line == encoded.line.upper() and not encoded.clamped
    decoded = NetScannerBoard().decode(encoded.line)
    assert [decoded[f"Channel_{i}"] for i in range(1, 17)] == pytest.approx(VALUES)
    second = NetScannerBoardTwo().decode(encode_reading(0x0B, 0, VALUES).line)
    assert second["Channel_17"] == pytest.approx(VALUES[0])


def test_values_below_minus_two_kpa_are_clamped_and_named():
    values = list(VALUES)
    values[2] = -3.5
    encoded = encode_reading(0x0A, 0, values)
    assert encoded.clamped == (3,)
    assert NetScannerBoard().decode(encoded.line)["Channel_3"] == pytest.approx(-2.0)


class Harness:
    def __init__(self, logging=True):
        self.clock = task.Clock()
        self.lines, self.reports = [], []
        self.elapsed = 0 if logging else None
        self.protocol = NetScannerProtocol(
            0x0A, lambda b, line: self.lines.append((b, line)), lambda t, s: self.reports.append((t, s)),
            lambda: self.elapsed, self.clock, interval_s=0.5,
        )
        self.transport = StringTransport()
        self.protocol.makeConnection(self.transport)

    def sent(self):
        value = self.transport.value().decode()
        self.transport.clear()
        return value

    def feed(self, text, chunk=3):
        data = text.encode()
        for i in range(0, len(data), chunk):
            self.protocol.dataReceived(data[i:i + chunk])


@pytest.mark.parametrize("chunk", range(1, 10))
def test_init_then_polls_at_the_interval(chunk):
    h = Harness()
    for command in INIT_COMMANDS:
        assert h.sent() == command
        h.feed("A\r\n", chunk)
    assert h.sent() == READ_COMMAND
    h.elapsed = 250
    h.feed(device_reply(VALUES), chunk)
    assert len(h.lines) == 1 and h.lines[0][1].startswith("0A50000000FA")
    assert h.sent() == ""
    h.clock.advance(0.5)
    assert h.sent() == READ_COMMAND


def test_reply_without_terminator_completes_after_settling():
    h = Harness()
    for _ in INIT_COMMANDS:
        h.sent()
        h.feed("A")
        h.clock.advance(0.06)
    assert h.sent() == READ_COMMAND
    h.feed(device_reply(VALUES).rstrip("\r"))
    assert h.lines == []
    h.clock.advance(0.06)
    assert len(h.lines) == 1


def test_no_lines_while_not_logging_but_polling_goes_on():
    h = Harness(logging=False)
    for _ in INIT_COMMANDS:
        h.sent()
        h.feed("A\r")
    h.sent()
    h.feed(device_reply(VALUES))
    assert h.lines == [] and h.protocol.scans == 1
    h.clock.advance(0.5)
    assert h.sent() == READ_COMMAND


def test_refused_init_is_reported_and_init_continues():
    h = Harness()
    h.sent()
    h.feed("N01\r")
    assert "N01" in h.reports[0][0]
    assert h.sent() == INIT_COMMANDS[1]


def test_silence_times_out_and_drops_the_connection():
    h = Harness()
    h.sent()
    h.clock.advance(2.0)
    assert h.transport.disconnecting
    assert "did not answer 'A'" in h.reports[-1][0]


def test_garbage_reading_is_reported_and_polling_continues():
    h = Harness()
    for _ in INIT_COMMANDS:
        h.sent()
        h.feed("A\r")
    h.sent()
    h.feed(" 1 2 3\r")
    h.clock.advance(0.06)
    assert "expected 16 readings" in h.reports[-1][0] and h.lines == []
    h.clock.advance(0.5)
    assert h.sent() == READ_COMMAND


class FakeScanner(Protocol):
    """A NetScanner 9116 stand-in: acks init commands, answers reads with fixed values."""

    def dataReceived(self, data):
        command = data.decode()
        self.factory.commands.append(command)
        if command == READ_COMMAND:
            self.factory.reads += 1
            self.transport.write(device_reply(VALUES).encode())
            if self.factory.reads == self.factory.drop_after:
                self.transport.loseConnection()
        else:
            self.transport.write(b"A\r")


@pytest.mark.integration
@pytest.mark.timeout(20)
def test_bridge_against_a_scanner_over_loopback_tcp():
    factory = Factory.forProtocol(FakeScanner)
    factory.commands, factory.reads, factory.drop_after = [], 0, 2
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    lines, reports = [], []
    service = netscanner_service(
        reactor, "127.0.0.1", 0x0A, lambda b, line: lines.append(line), lambda t, s: reports.append(t),
        lambda: 42, port=port.getHost().port, interval_s=0.05,
    )
    service.startService()
    try:
        _spin_until(lambda: len(lines) >= 5, timeout_s=10)
    finally:
        stopped = service.stopService()
        _spin_until(lambda: stopped.called, timeout_s=5)
        port.stopListening()
    assert factory.commands[:4] == list(INIT_COMMANDS) + [READ_COMMAND]
    # the scanner dropped the connection after its 2nd read; the bridge reconnected and re-initialised
    assert factory.commands.count(INIT_COMMANDS[0]) >= 2
    decoded = NetScannerBoard().decode(lines[-1])
    assert [decoded[f"Channel_{i}"] for i in range(1, 17)] == pytest.approx(VALUES)


def _spin_until(condition, timeout_s):
    """Run the global reactor until `condition()` holds (bounded)."""
    import time

    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the reactor")
        reactor.iterate(0.01)
