"""Plotting a stored session: the data handed to matplotlib, the figure, and the PNG file."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from blitz.client.plot import PANEL_HEIGHT_PX, build_panels, render, save_png
from blitz.client.transforms import TransformSpec
from blitz.data.browse import BrowseError, VariableNotFound, load_session
from blitz.data.database import DatabaseClient
from tests.client.browse_fixtures import StoredSession, filled, sessions, store  # noqa: F401 (fixtures)


def test_points_are_the_transformed_values_at_their_session_seconds(
    filled: DatabaseClient, sessions: list[StoredSession]
) -> None:
    spec = TransformSpec(scale=0.5, offset=-10.0, moving_average=4)
    with filled.engine.connect() as conn:
        view = load_session(conn, 1)
        panels = build_panels(conn, view, ["motor, rpm", "adc"], spec, buckets=1_000, chunk_rows=64)
    assert [p.name for p in panels] == ["motor, rpm", "adc"]
    for panel in panels:
        times, values = sessions[0].series[panel.name]
        assert not panel.is_envelope and panel.readings == len(values)
        expected = np.convolve(values * 0.5 - 10.0, np.ones(4) / 4, mode="valid")
        np.testing.assert_allclose(panel.values, expected, rtol=1e-12)
        np.testing.assert_allclose(panel.times_s, (times[3:] - view.first_ms) / 1000)


def test_long_series_become_min_max_envelopes_per_time_bucket(
    filled: DatabaseClient, sessions: list[StoredSession]
) -> None:
    with filled.engine.connect() as conn:
        view = load_session(conn, 1)
        (panel,) = build_panels(conn, view, ["temperature"], TransformSpec(scale=-1.0), buckets=25)
    times, values = sessions[0].series["temperature"]
    assert panel.is_envelope and panel.readings == 600  # 600 points > 2 * 25
    bucket = (times - view.first_ms) * 25 // (view.last_ms - view.first_ms + 1)
    assert panel.low.tolist() == [(-values[bucket == b]).min() for b in range(25)]
    assert panel.high.tolist() == [(-values[bucket == b]).max() for b in range(25)]


def test_unknown_variable_and_too_long_moving_average(filled: DatabaseClient) -> None:
    with filled.engine.connect() as conn:
        view = load_session(conn, 1)
        with pytest.raises(VariableNotFound, match="adc, motor, rpm, temperature"):
            build_panels(conn, view, ["speed"])
        with pytest.raises(BrowseError, match="moving average of 400 .* motor, rpm has 300"):
            build_panels(conn, view, spec=TransformSpec(moving_average=400))


def test_figure_draws_exactly_the_panel_data_and_saves_a_png(filled: DatabaseClient, tmp_path: Path) -> None:
    with filled.engine.connect() as conn:
        view = load_session(conn, 1)
        points, more_points = build_panels(conn, view, ["adc", "temperature"], buckets=300)
        (small,) = build_panels(conn, view, ["temperature"], buckets=20)
    figure = render([points, more_points, small], "session 1", width_px=640)
    axes = figure.axes
    assert len(axes) == 3 and axes[2].get_xlabel() == "time (s)"
    assert [ax.get_ylabel() for ax in axes] == ["adc", "temperature", "temperature"]
    np.testing.assert_array_equal(axes[0].lines[0].get_xydata(), np.column_stack([points.times_s, points.values]))
    assert not points.is_envelope and not more_points.is_envelope  # 600 points fit in 2 * 300
    assert small.is_envelope
    np.testing.assert_array_equal(axes[2].lines[0].get_ydata(), small.low)
    np.testing.assert_array_equal(axes[2].lines[1].get_ydata(), small.high)
    path = tmp_path / "plot.png"
    save_png(figure, path)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (640, 3 * PANEL_HEIGHT_PX + 80)


def test_importing_the_plot_module_does_not_import_matplotlib() -> None:
    code = "import sys, blitz.client.plot; print('matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
