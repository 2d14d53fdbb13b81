"""Text layout for the online commands: aligned tables, times, durations, sparklines."""

from __future__ import annotations

import datetime as dt
import math
from typing import Optional, Sequence

SPARK_CHARS = "▁▂▃▄▅▆▇█"
ASCII_SPARK_CHARS = "_.-~=*#@"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], right: Sequence[int] = ()) -> str:
    """An aligned plain-text table; columns listed in `right` are right-aligned."""
    text_rows = [[str(cell) for cell in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in text_rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells: Sequence[str]) -> str:
        parts = [cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]) for i, cell in enumerate(cells)]
        return "  ".join(parts).rstrip()

    return "\n".join([line(list(headers)), *(line(row) for row in text_rows)])


def format_time_ms(ms: Optional[int]) -> str:
    """Local date and time of a ms epoch, or `running` for None."""
    if ms is None:
        return "running"
    return dt.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def format_duration(seconds: Optional[float]) -> str:
    """`1h 02m 03s`-style duration; `-` when unknown."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "-"
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{seconds:.1f}s" if seconds < 10 else f"{secs}s"


def format_value(value: float) -> str:
    """A reading for display: integers without decimals, others to 6 significant digits."""
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


def sparkline(values: Sequence[float], width: int = 20, ascii_only: bool = False) -> str:
    """The last `width` values as a one-line bar chart (flat values draw a low line)."""
    chars = ASCII_SPARK_CHARS if ascii_only else SPARK_CHARS
    points = [v for v in values[-width:] if math.isfinite(v)]
    if not points:
        return ""
    low, high = min(points), max(points)
    if high == low:
        return chars[0] * len(points)
    top = len(chars) - 1
    return "".join(chars[int(round((v - low) / (high - low) * top))] for v in points)


__all__ = ["format_duration", "format_time_ms", "format_value", "sparkline", "table"]
