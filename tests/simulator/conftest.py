"""Fixtures of the simulator tests: a hand-driven clock and a firmware factory."""

from __future__ import annotations

from typing import Callable

import pytest

from blitz.boards import Board
from blitz.simulator import Firmware, make_model, resolve_board
from tests.simulator.helpers import FakeClock

FirmwareFactory = Callable[..., Firmware]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1000.0)


@pytest.fixture
def make_firmware(clock: FakeClock) -> FirmwareFactory:
    """Build a Firmware on the fake clock: make_firmware("motor", rate_hz=10, ...)."""

    def build(
        board: str | int | Board = "basic", *, rate_hz: float = 100.0, seed: int = 7, **options: object
    ) -> Firmware:
        model = make_model(resolve_board(board), seed, rate_hz)
        return Firmware(model, clock_ms=clock, **options)  # type: ignore[arg-type]

    return build
