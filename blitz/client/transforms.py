"""Transform a variable's values before plotting: scale, then offset, then a trailing moving average.

The same transform runs on a whole array (`TransformSpec.apply`) or on a
session streamed chunk by chunk (`TransformSpec.stream`), with identical
results whatever the chunk boundaries.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from blitz.errors import ConfigError

__all__ = ["StreamingTransform", "TransformSpec", "moving_average", "offset", "scale"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def scale(values: npt.ArrayLike, factor: float) -> FloatArray:
    """Every value multiplied by `factor`."""
    return np.asarray(values, dtype=np.float64) * factor


def offset(values: npt.ArrayLike, constant: float) -> FloatArray:
    """Every value plus `constant`."""
    return np.asarray(values, dtype=np.float64) + constant


def moving_average(values: npt.ArrayLike, window: int) -> FloatArray:
    """The mean of each `window` consecutive values: len(values) - window + 1 results (none if too few).

    Result i averages values[i : i + window], so it belongs to the time of
    values[i + window - 1] (a trailing average).
    """
    data = np.asarray(values, dtype=np.float64)
    if window < 1:
        raise ConfigError(f"moving average: expected a window of at least 1 sample, got {window}")
    if window == 1 or len(data) < window:
        return data.copy() if window == 1 else np.empty(0, dtype=np.float64)
    # Sums of differences from the first value keep the running sum small (no drift from a large mean).
    base = data[0]
    running = np.concatenate(([0.0], np.cumsum(data - base)))
    averaged: FloatArray = (running[window:] - running[:-window]) / window + base
    return averaged


@dataclass(frozen=True)
class TransformSpec:
    """Scale factor, additive offset and moving-average window (1 = none), applied in that order."""

    scale: float = 1.0
    offset: float = 0.0
    moving_average: int = 1

    def __post_init__(self) -> None:
        if not (math.isfinite(self.scale) and math.isfinite(self.offset)):
            raise ConfigError(f"scale and offset: expected finite numbers, got {self.scale} and {self.offset}")
        if isinstance(self.moving_average, bool) or not isinstance(self.moving_average, int) or self.moving_average < 1:
            raise ConfigError(f"moving average: expected a whole number of samples >= 1, got {self.moving_average!r}")

    @property
    def identity(self) -> bool:
        """True when the transform leaves values unchanged."""
        return self.scale == 1.0 and self.offset == 0.0 and self.moving_average == 1

    def describe(self) -> str:
        """A short label such as 'x 2, + 1.5, moving average 10' ('' when identity)."""
        parts = []
        if self.scale != 1.0:
            parts.append(f"x {self.scale:g}")
        if self.offset != 0.0:
            parts.append(f"{'+' if self.offset >= 0 else '-'} {abs(self.offset):g}")
        if self.moving_average > 1:
            parts.append(f"moving average {self.moving_average}")
        return ", ".join(parts)

    def apply(self, values: npt.ArrayLike) -> FloatArray:
        """The transformed whole array (shorter by moving_average - 1)."""
        return moving_average(offset(scale(values, self.scale), self.offset), self.moving_average)

    def stream(self) -> StreamingTransform:
        """A stateful transformer for the same spec, fed chunk by chunk."""
        return StreamingTransform(self)


class StreamingTransform:
    """Applies a TransformSpec to consecutive chunks of one time-ordered series.

    Keeps the last moving_average - 1 values between chunks, so the output
    equals `spec.apply` on the concatenated input.
    """

    def __init__(self, spec: TransformSpec) -> None:
        self.spec = spec
        self._tail = np.empty(0, dtype=np.float64)

    def push(self, times: npt.ArrayLike, values: npt.ArrayLike) -> tuple[IntArray, FloatArray]:
        """The transformed values of this chunk and their times (each average at its last sample)."""
        t = np.asarray(times, dtype=np.int64)
        x = offset(scale(values, self.spec.scale), self.spec.offset)
        window = self.spec.moving_average
        if window == 1:
            return t, x
        joined = np.concatenate((self._tail, x))
        averaged = moving_average(joined, window)
        # Output j averages joined[j : j + window]; its last sample is x[j + window - 1 - len(tail)].
        first = window - 1 - len(self._tail)
        self._tail = joined[-(window - 1) :]
        return t[first:] if len(averaged) else t[:0], averaged
