"""What a simulated board measures: deterministic sample values per board type.

Values are a pure function of (seed, board, sample index) plus, for the motor,
the set points it was given, so a test can recompute exactly what a board
generated.  Everything works on whole arrays of sample indices: a board
running at 5 kHz is serviced in batches, never one sample at a time.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from blitz.boards import Board, MotorBoard
from blitz.errors import BoardError
from blitz.protocol.constants import FLAG_COUNT, PAYLOAD_BITS, Instruction

IndexArray = npt.NDArray[np.int64]
UIntArray = npt.NDArray[np.uint64]

_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def _mix_int(value: int) -> int:
    """splitmix64 finaliser on a Python int (for per-stream keys)."""
    z = (value + _GOLDEN) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def _mix(values: UIntArray) -> UIntArray:
    """splitmix64 finaliser on a uint64 array (wrapping arithmetic)."""
    z = values + np.uint64(_GOLDEN)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def uniform(seed: int, board_id: int, stream: int, indices: IndexArray) -> npt.NDArray[np.float64]:
    """Counter-based uniform numbers in [0, 1): one per sample index, per stream.

    A hash instead of a generator, so any sample can be recomputed alone.
    """
    key = _mix_int(((seed & _MASK64) * 0x10001 + (board_id << 20) + stream) & _MASK64)
    bits = _mix(np.asarray(indices, dtype=np.int64).astype(np.uint64) ^ np.uint64(key))
    return (bits >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def pack_payload(board: Board, values: Mapping[str, npt.ArrayLike], count: int) -> UIntArray:
    """Pack raw variable values (arrays) into 64-bit payloads, MSB first."""
    payload = np.zeros(count, dtype=np.uint64)
    for var in board.variables:
        if var.name not in values:
            continue
        raw = np.asarray(values[var.name], dtype=np.int64).astype(np.uint64)
        raw &= np.uint64((1 << var.width) - 1)
        shift = board.payload_bits - var.bit_offset - var.width
        payload |= raw << np.uint64(shift)
    return payload


def _check_standard(board: Board) -> None:
    if board.payload_bits != PAYLOAD_BITS:
        raise BoardError(
            f"board 0x{board.id:02x}: the simulator handles {PAYLOAD_BITS}-bit payloads only, "
            f"got {board.payload_bits}"
        )


class BoardModel(ABC):
    """The sketch-specific part of a board: its samples and custom instructions."""

    def __init__(self, board: Board, seed: int, rate_hz: float) -> None:
        _check_standard(board)
        self.board = board
        self.seed = int(seed)
        self.rate_hz = float(rate_hz)

    @abstractmethod
    def values(self, indices: IndexArray) -> dict[str, npt.NDArray[np.int64]]:
        """Raw variable values of the samples with these indices."""

    def flags(self, indices: IndexArray) -> npt.NDArray[np.int64]:
        """The five flag bits (flag 1 = 0x10) of each sample; none by default."""
        return np.zeros(len(indices), dtype=np.int64)

    def payloads(self, indices: IndexArray) -> tuple[npt.NDArray[np.int64], UIntArray]:
        """(flag bits, packed payload) of the samples with these indices."""
        indices = np.asarray(indices, dtype=np.int64)
        return self.flags(indices), pack_payload(self.board, self.values(indices), len(indices))

    def instruction(self, meta: int, words: Sequence[int], next_index: int) -> bool:
        """Run a custom instruction; True when the sketch handles it (no reply)."""
        return False

    def reset(self, next_index: int) -> None:
        """Return to the power-on state (the board rebooted)."""


class WaveformModel(BoardModel):
    """Smooth sine waves plus seeded noise on every variable, digital inputs in the flags.

    Models the Blitz Basic board (five 12-bit ADC channels and five digital
    inputs) and serves any other 64-bit board definition as well.
    """

    noise_fraction = 0.01

    def __init__(self, board: Board, seed: int, rate_hz: float) -> None:
        super().__init__(board, seed, rate_hz)
        rng = np.random.default_rng([self.seed & _MASK64, board.id])
        count = len(board.variables)
        self._period_s = rng.uniform(2.0, 20.0, count)
        self._phase = rng.uniform(0.0, 2 * math.pi, count)
        self._amplitude = rng.uniform(0.2, 0.45, count)
        self._flag_half_period_s = rng.uniform(0.5, 5.0, FLAG_COUNT)

    def values(self, indices: IndexArray) -> dict[str, npt.NDArray[np.int64]]:
        t_s = np.asarray(indices, dtype=np.float64) / self.rate_hz
        out: dict[str, npt.NDArray[np.int64]] = {}
        for number, var in enumerate(self.board.variables):
            span = float(1 << min(var.width, 52))
            low = -span / 2 if var.signed else 0.0
            middle = low + span / 2
            wave = np.sin(2 * math.pi * t_s / self._period_s[number] + self._phase[number])
            noise = uniform(self.seed, self.board.id, number, indices) - 0.5
            level = middle + span * (self._amplitude[number] * wave + self.noise_fraction * noise)
            out[var.name] = np.clip(np.floor(level), low, low + span - 1).astype(np.int64)
        return out

    def flags(self, indices: IndexArray) -> npt.NDArray[np.int64]:
        t_s = np.asarray(indices, dtype=np.float64) / self.rate_hz
        bits = np.zeros(len(t_s), dtype=np.int64)
        for flag in range(FLAG_COUNT):
            level = np.floor(t_s / self._flag_half_period_s[flag]).astype(np.int64) & 1
            bits |= level << (FLAG_COUNT - 1 - flag)
        return bits


class MotorModel(BoardModel):
    """The motor board: a position servo that follows the last set point.

    `85` (set speed/position, word 0 = position, 0-40 in the original UI) and
    `86` (set angle, word 0) move the set point, `87` (home) sets it to 0;
    the sketch answers none of them.  `motor_value` is the position, which
    approaches the set point exponentially (time constant `tau_s`);
    `raw_adc` is its 10-bit potentiometer reading (full scale at 40) plus
    seeded noise; `set_point` is the last word 0 received.
    """

    tau_s = 0.5
    full_scale = 40.0
    adc_max = 1023

    def __init__(self, board: Board, seed: int, rate_hz: float) -> None:
        super().__init__(board, seed, rate_hz)
        self.reset(0)

    def reset(self, next_index: int) -> None:
        self.set_point = 0
        self._from_index = next_index
        self._from_position = 0.0

    def position(self, indices: IndexArray) -> npt.NDArray[np.float64]:
        """The motor position at each sample index (indices >= the last command)."""
        steps = np.asarray(indices, dtype=np.float64) - self._from_index
        decay = np.exp(-np.maximum(steps, 0.0) / (self.rate_hz * self.tau_s))
        return self.set_point + (self._from_position - self.set_point) * decay

    def values(self, indices: IndexArray) -> dict[str, npt.NDArray[np.int64]]:
        position = self.position(indices)
        noise = uniform(self.seed, self.board.id, 0, indices) - 0.5
        adc = np.rint(position * self.adc_max / self.full_scale + 4 * noise)
        return {
            "raw_adc": np.clip(adc, 0, self.adc_max).astype(np.int64),
            "motor_value": np.clip(np.rint(position), 0, 0xFFFF).astype(np.int64),
            "set_point": np.full(len(position), self.set_point, dtype=np.int64),
        }

    def instruction(self, meta: int, words: Sequence[int], next_index: int) -> bool:
        if meta not in (Instruction.MOTOR_SET_SPEED, Instruction.MOTOR_SET_ANGLE, Instruction.MOTOR_HOME):
            return False
        self._from_position = float(self.position(np.array([next_index]))[0])
        self._from_index = next_index
        self.set_point = 0 if meta == Instruction.MOTOR_HOME else int(words[0])
        return True


def make_model(board: Board, seed: int, rate_hz: float) -> BoardModel:
    """The model for a board: the motor sketch for 0x09, waveforms otherwise."""
    if board.id == MotorBoard.id and board.variable_names == MotorBoard().variable_names:
        return MotorModel(board, seed, rate_hz)
    return WaveformModel(board, seed, rate_hz)


__all__ = [
    "BoardModel",
    "MotorModel",
    "WaveformModel",
    "make_model",
    "pack_payload",
    "uniform",
]
