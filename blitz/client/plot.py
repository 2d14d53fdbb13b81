"""Plot a stored session to a PNG: one panel per variable on a shared time axis in seconds.

The readings stream from the database chunk by chunk through the transforms;
a variable with more points than the plot has pixels becomes a min/max
envelope per pixel-wide time bucket, so a 5M-reading session draws a few
thousand points and never sits in memory.  matplotlib (Agg) is imported
only when a figure is rendered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection

from blitz.client.transforms import TransformSpec
from blitz.data.browse import BrowseError, SessionOverview
from blitz.data.export import CHUNK_ROWS, iter_chunks

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Envelope", "Panel", "build_panels", "render", "save_png"]

DEFAULT_WIDTH_PX = 1200
PANEL_HEIGHT_PX = 220
_DPI = 100


class Envelope:
    """Per-bucket minimum and maximum of a time series over [start_ms, end_ms] split into `buckets`."""

    def __init__(self, start_ms: int, end_ms: int, buckets: int) -> None:
        if buckets < 1:
            raise ValueError(f"buckets: expected at least 1, got {buckets}")
        self.start_ms, self.buckets = start_ms, buckets
        self.span_ms = max(end_ms - start_ms + 1, 1)
        self.low = np.full(buckets, np.inf)
        self.high = np.full(buckets, -np.inf)

    def bucket_of(self, times: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """The bucket index of each time (times outside the range go to the edge buckets)."""
        index = (times - self.start_ms) * self.buckets // self.span_ms
        return np.clip(index, 0, self.buckets - 1)

    def add(self, times: npt.NDArray[np.int64], values: npt.NDArray[np.float64]) -> None:
        """Fold time-ordered readings into their buckets."""
        if len(times) == 0:
            return
        index = self.bucket_of(times)
        starts = np.flatnonzero(np.concatenate(([True], index[1:] != index[:-1])))
        where = index[starts]
        self.low[where] = np.minimum(self.low[where], np.minimum.reduceat(values, starts))
        self.high[where] = np.maximum(self.high[where], np.maximum.reduceat(values, starts))

    def result(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """(bucket centre ms, low, high) of the non-empty buckets."""
        filled = np.flatnonzero(self.low <= self.high)
        centres = self.start_ms + (filled + 0.5) * self.span_ms / self.buckets
        return centres, self.low[filled], self.high[filled]


@dataclass(frozen=True)
class Panel:
    """What one panel shows: points (`values`) or an envelope (`low`, `high`), at `times_s` seconds."""

    name: str
    times_s: npt.NDArray[np.float64]
    values: Optional[npt.NDArray[np.float64]]
    low: Optional[npt.NDArray[np.float64]]
    high: Optional[npt.NDArray[np.float64]]
    readings: int

    @property
    def is_envelope(self) -> bool:
        return self.values is None


class _Series:
    """One variable's transformed points, switching to an envelope past `max_points`."""

    def __init__(self, spec: TransformSpec, envelope: Envelope, max_points: int) -> None:
        self.stream = spec.stream()
        self.envelope = envelope
        self.max_points = max_points
        self.parts: Optional[list[tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]]] = []
        self.points = 0
        self.readings = 0

    def add(self, times: npt.NDArray[np.int64], values: npt.NDArray[np.float64]) -> None:
        self.readings += len(times)
        t, v = self.stream.push(times, values)
        if self.parts is None:
            self.envelope.add(t, v)
            return
        self.parts.append((t, v))
        self.points += len(t)
        if self.points > self.max_points:
            for part_t, part_v in self.parts:
                self.envelope.add(part_t, part_v)
            self.parts = None

    def panel(self, name: str, first_ms: int) -> Panel:
        if self.parts is None:
            centres, low, high = self.envelope.result()
            return Panel(name, (centres - first_ms) / 1000, None, low, high, self.readings)
        t = np.concatenate([p[0] for p in self.parts]) if self.parts else np.empty(0, dtype=np.int64)
        v = np.concatenate([p[1] for p in self.parts]) if self.parts else np.empty(0)
        return Panel(name, (t - first_ms) / 1000, v, None, None, self.readings)


def build_panels(
    conn: Connection,
    overview: SessionOverview,
    variables: Optional[Sequence[str]] = None,
    spec: TransformSpec = TransformSpec(),
    buckets: int = DEFAULT_WIDTH_PX,
    chunk_rows: int = CHUNK_ROWS,
) -> list[Panel]:
    """Stream the named variables (default: all) through `spec` into plot-ready panels.

    A variable keeps its points while it has at most 2 * `buckets` of them,
    otherwise it becomes a min/max envelope of `buckets` time buckets spanning
    the whole session (so all panels share one time axis).
    """
    spans = overview.select(variables)
    series = [
        _Series(spec, Envelope(overview.first_ms, overview.last_ms, buckets), 2 * buckets) for _ in spans
    ]
    for chunk in iter_chunks(conn, overview, spans, chunk_rows):
        order = np.argsort(chunk.column, kind="stable")
        bounds = np.cumsum(np.bincount(chunk.column, minlength=len(spans)))[:-1]
        for target, index in zip(series, np.split(order, bounds)):
            if len(index):
                target.add(chunk.time_logged[index], chunk.value[index])
    short = [(span.name, s.readings) for span, s in zip(spans, series) if s.readings < spec.moving_average]
    if short:
        name, count = short[0]
        raise BrowseError(
            f"a moving average of {spec.moving_average} samples needs at least that many readings; "
            f"{name} has {count}"
        )
    return [s.panel(span.name, overview.first_ms) for span, s in zip(spans, series)]


def render(panels: Sequence[Panel], title: str, width_px: int = DEFAULT_WIDTH_PX) -> Figure:
    """A matplotlib Figure (Agg canvas, no pyplot state) with one panel per variable."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    height_px = PANEL_HEIGHT_PX * len(panels) + 80
    figure = Figure(figsize=(width_px / _DPI, height_px / _DPI), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    for ax, panel in zip(axes, panels):
        if panel.is_envelope:
            assert panel.low is not None and panel.high is not None
            ax.fill_between(panel.times_s, panel.low, panel.high, color="C0", alpha=0.3, linewidth=0)
            ax.plot(panel.times_s, panel.low, color="C0", linewidth=0.6)
            ax.plot(panel.times_s, panel.high, color="C0", linewidth=0.6)
        else:
            assert panel.values is not None
            ax.plot(panel.times_s, panel.values, color="C0", linewidth=0.8)
        ax.set_ylabel(panel.name)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("time (s)")
    figure.suptitle(title)
    return figure


def save_png(figure: Figure, path: str | Path) -> None:
    """Write `figure` as a PNG file."""
    figure.savefig(path, format="png")
