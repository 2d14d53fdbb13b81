"""Plot transforms (scale, offset, moving average, whole or streamed) and the min/max envelope."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blitz.client.plot import Envelope
from blitz.client.transforms import TransformSpec, moving_average, offset, scale
from blitz.errors import ConfigError


def test_scale_and_offset_are_elementwise() -> None:
    values = np.array([1.0, -2.0, 3.5])
    assert scale(values, 2.0).tolist() == [2.0, -4.0, 7.0]
    assert offset(values, 0.5).tolist() == [1.5, -1.5, 4.0]


@pytest.mark.parametrize("window", [1, 2, 5, 33])
def test_moving_average_equals_a_convolution(window: int) -> None:
    values = 1e6 + np.random.default_rng(window).normal(0, 3, 500)
    expected = np.convolve(values, np.ones(window) / window, mode="valid")
    np.testing.assert_allclose(moving_average(values, window), expected, rtol=1e-12)


def test_moving_average_of_too_few_values_is_empty() -> None:
    assert moving_average([1.0, 2.0], 3).size == 0
    assert moving_average([1.0, 2.0, 6.0], 3).tolist() == [3.0]


def test_spec_applies_scale_then_offset_then_moving_average() -> None:
    spec = TransformSpec(scale=2.0, offset=1.0, moving_average=2)
    # 2x+1 gives 3, 7, 11; averaged in pairs: 5, 9.  (Offset before scale would give 6, 10.)
    assert spec.apply([1.0, 3.0, 5.0]).tolist() == [5.0, 9.0]
    assert spec.describe() == "x 2, + 1, moving average 2"
    assert TransformSpec().identity and TransformSpec().describe() == ""


@pytest.mark.parametrize("bad", [dict(scale=float("nan")), dict(offset=float("inf")), dict(moving_average=0)])
def test_bad_specs_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        TransformSpec(**bad)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.floats(min_value=-1e6, max_value=1e6), min_size=0, max_size=80),
    cuts=st.lists(st.integers(min_value=0, max_value=80), max_size=6),
    window=st.integers(min_value=1, max_value=10),
    factor=st.floats(min_value=-5, max_value=5),
)
def test_streaming_in_any_chunks_equals_the_whole_array(
    values: list[float], cuts: list[int], window: int, factor: float
) -> None:
    spec = TransformSpec(scale=factor, offset=3.0, moving_average=window)
    times = np.arange(len(values), dtype=np.int64) * 10
    stream = spec.stream()
    bounds = sorted({min(c, len(values)) for c in cuts})
    pieces = [stream.push(t, v) for t, v in zip(np.split(times, bounds), np.split(np.array(values), bounds))]
    got_t = np.concatenate([p[0] for p in pieces]) if pieces else np.empty(0)
    got_v = np.concatenate([p[1] for p in pieces]) if pieces else np.empty(0)
    expected = spec.apply(values)
    np.testing.assert_allclose(got_v, expected, rtol=1e-9, atol=1e-6)
    assert got_t.tolist() == times[window - 1 :].tolist()[: len(expected)]


def test_envelope_holds_each_buckets_min_and_max() -> None:
    rng = np.random.default_rng(5)
    times = np.sort(rng.integers(1_000, 2_000, 3_000))
    values = rng.normal(0, 1, 3_000)
    envelope = Envelope(1_000, 1_999, buckets=7)
    for part in np.array_split(np.arange(3_000), 5):  # fed in chunks, as a stream
        envelope.add(times[part], values[part])
    centres, low, high = envelope.result()
    bucket = (times - 1_000) * 7 // 1_000
    assert low.tolist() == [values[bucket == b].min() for b in range(7)]
    assert high.tolist() == [values[bucket == b].max() for b in range(7)]
    np.testing.assert_allclose(centres, 1_000 + (np.arange(7) + 0.5) * 1_000 / 7)


def test_envelope_skips_empty_buckets() -> None:
    envelope = Envelope(0, 99, buckets=10)
    envelope.add(np.array([5, 7, 95]), np.array([1.0, -1.0, 4.0]))
    centres, low, high = envelope.result()
    assert centres.tolist() == [5.0, 95.0]
    assert (low.tolist(), high.tolist()) == ([-1.0, 4.0], [1.0, 4.0])
