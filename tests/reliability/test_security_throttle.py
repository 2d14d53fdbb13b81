"""Guessing the token from many connections at once is no faster than from one.

The control factory shares one AddressThrottle between its connections
(blitz/server/auth.py): wrong tokens from one address are answered one
after the other, each a doubling delay (up to 30 s) after the previous one.
Protocols on StringTransports with a task.Clock, built by the real factory
with the peer address a TCP listener would give.
"""

from __future__ import annotations

import pytest
from twisted.internet import task
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport

from blitz.server.auth import AddressThrottle
from blitz.server.control_protocol import ControlFactory, ControlProtocol
from tests.server.test_control_fakes import FakeConfig, FakeLogger

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

TOKEN = "s3cret"


def connect(factory: ControlFactory, host: str, port: int = 40000) -> tuple[ControlProtocol, StringTransport]:
    protocol = factory.buildProtocol(IPv4Address("TCP", host, port))
    transport = StringTransport()
    protocol.makeConnection(transport)
    return protocol, transport


def answered_at(clock: task.Clock, transports: list[StringTransport], until_s: float) -> list[float]:
    """When each transport got its first reply line, stepping the clock by 0.25 s."""
    times: dict[int, float] = {}
    while clock.seconds() < until_s:
        clock.advance(0.25)
        for number, transport in enumerate(transports):
            if number not in times and transport.value():
                times[number] = clock.seconds()
    return [times.get(number, -1.0) for number in range(len(transports))]


def test_parallel_guesses_from_one_address_are_answered_one_after_the_other() -> None:
    clock = task.Clock()
    factory = ControlFactory(FakeLogger(), FakeConfig(token=TOKEN), clock)
    guessers = [connect(factory, "10.0.0.7", 40000 + n) for n in range(6)]
    elsewhere = connect(factory, "10.0.0.8")
    for protocol, _ in guessers + [elsewhere]:
        protocol.dataReceived(b"AUTH guess\n")
    times = answered_at(clock, [t for _, t in guessers] + [elsewhere[1]], 120.0)
    assert sorted(times[:6]) == [1.0, 3.0, 7.0, 15.0, 31.0, 61.0]  # gaps 2, 4, 8, 16, then 30 s at most
    assert times[6] == 1.0  # another address is not held up
    for _, transport in guessers:
        assert transport.value() == b"ERROR 401 wrong token\n"


def test_the_right_token_is_never_held_up_by_the_throttle() -> None:
    clock = task.Clock()
    factory = ControlFactory(FakeLogger(), FakeConfig(token=TOKEN), clock)
    for n in range(5):
        protocol, _ = connect(factory, "10.0.0.7", 41000 + n)
        protocol.dataReceived(b"AUTH guess\n")
    protocol, transport = connect(factory, "10.0.0.7", 42000)
    protocol.dataReceived(f"AUTH {TOKEN}\nLOGGING\n".encode())
    assert transport.value() == b"ACK\nNOSESSION\n"


def test_an_address_quiet_for_two_minutes_starts_again_from_one_second() -> None:
    throttle = AddressThrottle(1.0, 30.0, forget_after_s=120.0)
    assert throttle.answer_at("a", 0.0, 1.0) == 1.0
    assert throttle.answer_at("a", 1.0, 2.0) == 3.0
    assert throttle.answer_at("a", 3.0, 4.0) == 7.0
    assert throttle.answer_at("a", 200.0, 201.0) == 201.0


def test_the_throttle_remembers_a_bounded_number_of_addresses() -> None:
    throttle = AddressThrottle(1.0, 30.0, max_addresses=3)
    for number in range(10):
        throttle.answer_at(f"10.0.0.{number}", 0.0, 1.0)
    assert throttle.answer_at("10.0.0.9", 0.0, 1.0) == 3.0  # still remembered
    assert throttle.answer_at("10.0.0.0", 0.0, 1.0) == 1.0  # forgotten first
