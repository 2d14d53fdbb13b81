"""Answer questions about one stored session from the local database: readings pages, statistics, comparisons.

Every answer is computed by the database (index seeks, one aggregate query,
LIMIT/OFFSET), so a 5,000,000-reading session never passes through Python to
be summarised.  Times: `time_logged` is the board's clock in ms; "relative"
times count from the session's first reading, and absolute times add that
offset to `Session.time_started` (ms since the Unix epoch, set by the logger).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

from sqlalchemy import Connection, case, func, literal, select, union_all
from sqlalchemy.pool import NullPool, QueuePool

from blitz.data.models import Category, Reading, Session
from blitz.errors import BlitzError

__all__ = [
    "BrowseError",
    "ReadingsPage",
    "SessionComparison",
    "SessionNotDownloaded",
    "SessionNotFound",
    "SessionOverview",
    "SessionStats",
    "VariableComparison",
    "VariableNotFound",
    "VariableSpan",
    "VariableStats",
    "compare_sessions",
    "iso_utc",
    "load_session",
    "read_page",
    "session_stats",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
#: Up to this many rows (offset + limit), a page merges per-variable index scans;
#: deeper pages sort the whole selection once instead.
MERGE_PAGE_LIMIT = 50_000
#: SQLite allows 500 terms in a compound SELECT; stats of more variables take several statements.
_MAX_UNION_TERMS = 400
#: Time slices of a SQLite file's statistics, each scanned at once on its own connection
#: (SQLite runs a query without Python's lock, so every core takes a share).
STATS_WORKERS = min(4, os.cpu_count() or 1)


class BrowseError(BlitzError):
    """A stored session cannot be browsed as asked."""


class SessionNotFound(BrowseError, LookupError):
    """The local database knows no session with that number."""


class SessionNotDownloaded(BrowseError, LookupError):
    """The session is in the list, but none of its readings are stored yet."""


class VariableNotFound(BrowseError, LookupError):
    """A variable name that the session has no readings for."""


def iso_utc(ms: Optional[int]) -> Optional[str]:
    """`ms` since the Unix epoch as ISO-8601 UTC with milliseconds ('2024-01-15T14:30:22.123Z')."""
    if ms is None:
        return None
    moment = _EPOCH + timedelta(milliseconds=int(ms))
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class VariableSpan:
    """Where one variable's readings of a session start and end (found by index seeks)."""

    name: str
    category_id: int
    first_ms: int
    last_ms: int
    first_value: float


@dataclass(frozen=True)
class SessionOverview:
    """A stored session's metadata and variables; cheap to load, needed by every other call."""

    ref_id: int
    time_started: Optional[int]
    time_stopped: Optional[int]
    number_of_readings: Optional[int]
    downloaded_messages: Optional[int]
    variables: tuple[VariableSpan, ...]

    @property
    def names(self) -> list[str]:
        """Variable names, sorted."""
        return [span.name for span in self.variables]

    @property
    def first_ms(self) -> int:
        """The board time of the session's first reading (relative time 0)."""
        return min(span.first_ms for span in self.variables)

    @property
    def last_ms(self) -> int:
        """The board time of the session's last reading."""
        return max(span.last_ms for span in self.variables)

    @property
    def complete(self) -> bool:
        """Whether every message the logger reported is stored (True when the logger's count is unknown)."""
        if self.number_of_readings is None or self.downloaded_messages is None:
            return True
        return self.downloaded_messages >= self.number_of_readings

    def relative_s(self, time_logged: int) -> float:
        """Seconds since the session's first reading."""
        return (time_logged - self.first_ms) / 1000

    def absolute_ms(self, time_logged: int) -> Optional[int]:
        """Milliseconds since the Unix epoch, or None when the start time is unknown."""
        if self.time_started is None:
            return None
        return self.time_started + (time_logged - self.first_ms)

    def select(self, names: Optional[Sequence[str]] = None) -> tuple[VariableSpan, ...]:
        """The spans of `names` in the given order (all, by name, when None or empty)."""
        if not names:
            return self.variables
        by_name = {span.name: span for span in self.variables}
        unknown = [name for name in names if name not in by_name]
        if unknown:
            raise VariableNotFound(
                f"session {self.ref_id} has no variable {unknown[0]!r}; "
                f"its variables are: {', '.join(self.names)}"
            )
        return tuple(by_name[name] for name in dict.fromkeys(names))

    def to_dict(self) -> dict[str, Any]:
        """Plain metadata for JSON output."""
        return {
            "ref_id": self.ref_id,
            "time_started": self.time_started,
            "time_stopped": self.time_stopped,
            "time_started_utc": iso_utc(self.time_started),
            "time_stopped_utc": iso_utc(self.time_stopped),
            "number_of_readings": self.number_of_readings,
            "downloaded_messages": self.downloaded_messages,
            "first_time_logged": self.first_ms,
            "last_time_logged": self.last_ms,
            "duration_s": (self.last_ms - self.first_ms) / 1000,
            "variables": self.names,
        }


def load_session(conn: Connection, ref_id: int) -> SessionOverview:
    """The overview of session `ref_id` (the logger's number); a few index seeks per variable.

    Raises SessionNotFound or SessionNotDownloaded with the command that helps.
    """
    session = conn.execute(
        select(Session.time_started, Session.time_stopped, Session.number_of_readings, Session.downloaded_messages)
        .where(Session.ref_id == ref_id)
    ).first()
    of_variable = (Reading.session_id == ref_id, Reading.category_id == Category.id)
    first_ms = select(func.min(Reading.time_logged)).where(*of_variable).scalar_subquery()
    last_ms = select(func.max(Reading.time_logged)).where(*of_variable).scalar_subquery()
    first_value = select(Reading.value).where(*of_variable).order_by(Reading.time_logged).limit(1).scalar_subquery()
    rows = conn.execute(
        select(Category.variable_name, Category.id, first_ms, last_ms, first_value).order_by(Category.id)
    ).all()
    spans = tuple(
        VariableSpan(name, int(cid), int(first), int(last), float(value))
        for name, cid, first, last, value in rows
        if first is not None
    )
    if not spans:
        if session is None:
            known = conn.execute(select(Session.ref_id).order_by(Session.ref_id).limit(21)).scalars().all()
            listed = ", ".join(str(ref) for ref in known[:20]) + (", ..." if len(known) > 20 else "")
            hint = f"known sessions: {listed}" if known else "it holds no sessions; run `blitz sessions`"
            raise SessionNotFound(f"no session {ref_id} in the local database; {hint}")
        raise SessionNotDownloaded(f"session {ref_id} has not been downloaded; run `blitz download {ref_id}`")
    started, stopped, reported, stored = session if session is not None else (None, None, None, None)
    return SessionOverview(ref_id, started, stopped, reported, stored, spans)


@dataclass(frozen=True)
class ReadingsPage:
    """One page of a session's readings, ordered by time, then variable name."""

    overview: SessionOverview
    rows: list[tuple[int, str, float]]  # (time_logged ms, variable, value)
    offset: int
    limit: int
    has_more: bool

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output, with relative seconds and absolute UTC times."""
        view = self.overview
        return {
            "session": view.ref_id,
            "offset": self.offset,
            "limit": self.limit,
            "has_more": self.has_more,
            "readings": [
                {
                    "time_logged": t,
                    "time_s": view.relative_s(t),
                    "time_utc": iso_utc(view.absolute_ms(t)),
                    "variable": name,
                    "value": value,
                }
                for t, name, value in self.rows
            ],
        }


def read_page(
    conn: Connection,
    overview: SessionOverview,
    variables: Optional[Sequence[str]] = None,
    since_ms: Optional[int] = None,
    until_ms: Optional[int] = None,
    limit: int = 100,
    offset: int = 0,
    merge_limit: int = MERGE_PAGE_LIMIT,
) -> ReadingsPage:
    """Readings with `since_ms <= relative ms < until_ms`, skipping `offset`, at most `limit`.

    Shallow pages merge one index range scan per variable, each stopped after
    offset + limit + 1 rows, so the first page of a 5M-reading session costs
    a few hundred rows; beyond `merge_limit` rows one sorted query is cheaper.
    """
    if limit < 0 or offset < 0:
        raise BrowseError(f"limit and offset: expected values >= 0, got limit={limit}, offset={offset}")
    spans = overview.select(variables)
    rank = {span.category_id: index for index, span in enumerate(sorted(spans, key=lambda s: s.name))}
    names = {span.category_id: span.name for span in spans}
    window = []
    if since_ms is not None:
        window.append(Reading.time_logged >= overview.first_ms + since_ms)
    if until_ms is not None:
        window.append(Reading.time_logged < overview.first_ms + until_ms)
    columns = (Reading.id, Reading.time_logged, Reading.category_id, Reading.value)
    wanted = offset + limit + 1
    if wanted <= merge_limit:
        parts = [
            select(*columns)
            .where(Reading.session_id == overview.ref_id, Reading.category_id == cid, *window)
            .order_by(Reading.time_logged, Reading.id)
            .limit(wanted)
            .subquery()
            for cid in rank
        ]
        merged = union_all(*(select(part) for part in parts)).subquery()
        source = merged.c
        statement = select(source.id, source.time_logged, source.category_id, source.value)
    else:
        source = Reading.__table__.c
        statement = select(*columns).where(
            Reading.session_id == overview.ref_id, Reading.category_id.in_(list(rank)), *window
        )
    by_name = case(rank, value=source.category_id, else_=len(rank))
    statement = statement.order_by(source.time_logged, by_name, source.id).limit(limit + 1).offset(offset)
    fetched = conn.execute(statement).all()
    rows = [(int(t), names[int(cid)], float(value)) for _id, t, cid, value in fetched[:limit]]
    return ReadingsPage(overview, rows, offset, limit, len(fetched) > limit)


@dataclass(frozen=True)
class VariableStats:
    """Count, range, mean, sample standard deviation and time span of one variable's readings."""

    name: str
    count: int
    minimum: float
    maximum: float
    mean: float
    std: Optional[float]  # sample (ddof=1); None for a single reading
    first_ms: int
    last_ms: int

    @property
    def duration_s(self) -> float:
        """Seconds between the variable's first and last reading."""
        return (self.last_ms - self.first_ms) / 1000


@dataclass(frozen=True)
class SessionStats:
    """Per-variable statistics of one session."""

    overview: SessionOverview
    variables: tuple[VariableStats, ...]

    @property
    def readings(self) -> int:
        """Readings counted over the selected variables."""
        return sum(stats.count for stats in self.variables)

    def to_dict(self) -> dict[str, Any]:
        """Session metadata and per-variable statistics, with relative and absolute times."""
        view = self.overview
        return {
            "session": view.to_dict(),
            "readings": self.readings,
            "variables": [
                {
                    "name": s.name,
                    "count": s.count,
                    "min": s.minimum,
                    "max": s.maximum,
                    "mean": s.mean,
                    "std": s.std,
                    "first_time_logged": s.first_ms,
                    "last_time_logged": s.last_ms,
                    "first_s": view.relative_s(s.first_ms),
                    "last_s": view.relative_s(s.last_ms),
                    "first_utc": iso_utc(view.absolute_ms(s.first_ms)),
                    "last_utc": iso_utc(view.absolute_ms(s.last_ms)),
                }
                for s in self.variables
            ],
        }


def session_stats(
    conn: Connection,
    overview: SessionOverview,
    variables: Optional[Sequence[str]] = None,
    workers: int = STATS_WORKERS,
) -> SessionStats:
    """Statistics of every (or the named) variables, computed by ONE aggregate SQL statement.

    PostgreSQL: one GROUP BY with avg and stddev_samp.  Elsewhere (SQLite has
    no stddev): a UNION ALL of one aggregate per variable over its index range,
    summing each value's distance from the variable's first value and its
    square.  One pass, and unlike plain sums of squares no cancellation when
    the spread is tiny next to the mean (a 101325 Pa +- 1 Pa pressure, say).
    On a SQLite file the session's time range is cut into `workers` slices
    whose statements run at once on their own connections, and the sums are
    added up.  First and last times are the overview's index seeks.
    """
    spans = overview.select(variables)
    by_id = {span.category_id: span for span in spans}
    found: dict[int, VariableStats] = {}
    for cid, count, low, high, first_moment, second_moment in _aggregate_rows(conn, overview.ref_id, spans, workers):
        span = by_id[int(cid)]
        if conn.dialect.name == "postgresql":
            mean, std = float(first_moment), None if second_moment is None else float(second_moment)
        else:
            mean, std = _shifted_moments(span.first_value, int(count), float(first_moment), float(second_moment))
        found[span.category_id] = VariableStats(
            span.name, int(count), float(low), float(high), mean, std, span.first_ms, span.last_ms
        )
    return SessionStats(overview, tuple(found[span.category_id] for span in spans if span.category_id in found))


def _aggregate_rows(conn: Connection, ref_id: int, spans: Sequence[VariableSpan], workers: int) -> list[Any]:
    """(category id, count, min, max, first moment, second moment) per variable; see session_stats."""
    value = Reading.value
    if conn.dialect.name == "postgresql":
        statement = (
            select(
                Reading.category_id, func.count(), func.min(value), func.max(value),
                func.avg(value), func.stddev_samp(value),
            )
            .where(Reading.session_id == ref_id, Reading.category_id.in_([span.category_id for span in spans]))
            .group_by(Reading.category_id)
        )
        return list(conn.execute(statement))
    windows = _time_slices(spans, workers if _can_share(conn) else 1)
    if len(windows) == 1:
        return _sqlite_aggregates(conn, ref_id, spans, None)
    engine = conn.engine

    def scan(window: tuple[int, int]) -> list[Any]:
        with engine.connect() as own:
            return _sqlite_aggregates(own, ref_id, spans, window)

    with ThreadPoolExecutor(len(windows), thread_name_prefix="blitz-stats") as pool:
        return _merge(row for rows in pool.map(scan, windows) for row in rows)


def _sqlite_aggregates(
    conn: Connection, ref_id: int, spans: Sequence[VariableSpan], window: Optional[tuple[int, int]]
) -> list[Any]:
    """The UNION ALL of per-variable shifted sums, over `window` [lo, hi) of time_logged when given."""
    value = Reading.value
    within = () if window is None else (Reading.time_logged >= window[0], Reading.time_logged < window[1])
    rows: list[Any] = []
    for start in range(0, len(spans), _MAX_UNION_TERMS):
        branches = [
            select(
                literal(span.category_id), func.count(), func.min(value), func.max(value),
                func.sum(value - span.first_value),
                func.sum((value - span.first_value) * (value - span.first_value)),
            ).where(Reading.session_id == ref_id, Reading.category_id == span.category_id, *within)
            for span in spans[start : start + _MAX_UNION_TERMS]
        ]
        compound = branches[0] if len(branches) == 1 else union_all(*branches)
        rows += [row for row in conn.execute(compound) if row[1]]
    return rows


def _can_share(conn: Connection) -> bool:
    """Whether other connections of `conn`'s engine see the same data: a SQLite file, no writes pending."""
    engine = conn.engine
    driver: Any = conn.connection.driver_connection
    return (
        engine.url.database not in (None, "", ":memory:")
        and isinstance(engine.pool, (QueuePool, NullPool))
        and not getattr(driver, "in_transaction", True)
    )


def _time_slices(spans: Sequence[VariableSpan], count: int) -> list[Optional[tuple[int, int]]]:
    """`count` equal [lo, hi) ranges of time_logged covering every span (one None: no slicing)."""
    lo = min(span.first_ms for span in spans)
    hi = max(span.last_ms for span in spans) + 1
    if count <= 1 or hi - lo < count:
        return [None]
    step = -(-(hi - lo) // count)
    return [(start, min(hi, start + step)) for start in range(lo, hi, step)]


def _merge(rows: Iterable[Any]) -> list[Any]:
    """Add up the per-slice rows of each variable: counts and sums add, minima and maxima combine."""
    merged: dict[int, list[Any]] = {}
    for cid, count, low, high, first_moment, second_moment in rows:
        entry = merged.get(cid)
        if entry is None:
            merged[cid] = [cid, count, low, high, first_moment, second_moment]
        else:
            entry[1] += count
            entry[2], entry[3] = min(entry[2], low), max(entry[3], high)
            entry[4] += first_moment
            entry[5] += second_moment
    return list(merged.values())


def _shifted_moments(shift: float, count: int, total: float, squares: float) -> tuple[float, Optional[float]]:
    """Mean and sample standard deviation from sums of (value - shift) and (value - shift)**2."""
    mean = shift + total / count
    if count < 2:
        return mean, None
    variance = (squares - total * total / count) / (count - 1)
    return mean, math.sqrt(max(variance, 0.0))


@dataclass(frozen=True)
class VariableComparison:
    """One variable in two sessions; `a` or `b` is None when only the other session has it."""

    name: str
    a: Optional[VariableStats]
    b: Optional[VariableStats]

    def differences(self) -> Optional[dict[str, Optional[float]]]:
        """b - a of each statistic, or None when the variable is missing from one session."""
        if self.a is None or self.b is None:
            return None
        a, b = self.a, self.b
        return {
            "count": b.count - a.count,
            "min": b.minimum - a.minimum,
            "max": b.maximum - a.maximum,
            "mean": b.mean - a.mean,
            "std": None if a.std is None or b.std is None else b.std - a.std,
            "duration_s": b.duration_s - a.duration_s,
        }


@dataclass(frozen=True)
class SessionComparison:
    """Two sessions' statistics side by side, variable by variable (union of names, sorted)."""

    a: SessionStats
    b: SessionStats
    variables: tuple[VariableComparison, ...]

    def to_dict(self) -> dict[str, Any]:
        """Both sessions' statistics, per-variable differences (b - a) and one-sided variables."""
        duration_a = (self.a.overview.last_ms - self.a.overview.first_ms) / 1000
        duration_b = (self.b.overview.last_ms - self.b.overview.first_ms) / 1000
        return {
            "a": self.a.to_dict(),
            "b": self.b.to_dict(),
            "differences": {
                "readings": self.b.readings - self.a.readings,
                "duration_s": duration_b - duration_a,
                "variables": {v.name: v.differences() for v in self.variables if v.a and v.b},
            },
            "only_in_a": [v.name for v in self.variables if v.b is None],
            "only_in_b": [v.name for v in self.variables if v.a is None],
        }


def compare_sessions(conn: Connection, ref_a: int, ref_b: int) -> SessionComparison:
    """Statistics of sessions `ref_a` and `ref_b` and their differences (one aggregate query each)."""
    stats_a = session_stats(conn, load_session(conn, ref_a))
    stats_b = session_stats(conn, load_session(conn, ref_b))
    in_a = {s.name: s for s in stats_a.variables}
    in_b = {s.name: s for s in stats_b.variables}
    names = sorted(set(in_a) | set(in_b))
    return SessionComparison(
        stats_a, stats_b, tuple(VariableComparison(name, in_a.get(name), in_b.get(name)) for name in names)
    )
