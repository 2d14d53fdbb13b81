"""Chart data for one variable and time window: raw readings, or a min/max envelope computed in SQL.

A chart `width_px` wide never needs more than about two points per pixel, so a
window holding more than `2 * width_px` readings is cut into at most
`width_px` equal time buckets and each bucket is reduced to its min and max
value (plus first/last time and count) by the database itself, walking the
`(session_id, category_id, time_logged, value)` index.  Only a window with few
readings returns them as they are.

A GROUP BY on a computed bucket makes SQLite and PostgreSQL sort every reading
(PostgreSQL cannot estimate the number of buckets, so it sorts on disk), which
costs more than the scan itself.  Instead each bucket is its own index range
scan: a correlated subquery on SQLite, whose five aggregates come back as one
exactly formatted text (`%!.20e` round-trips a double), and a LATERAL join on
PostgreSQL.  The buckets are shared out between a few connections that scan
at once.  Other databases get the plain GROUP BY.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Optional

from sqlalchemy import BigInteger, Connection, Engine, Integer, bindparam, text
from sqlalchemy.pool import StaticPool

__all__ = ["Envelope", "Series", "fetch_series"]

_RAW = text(
    "SELECT time_logged, value FROM reading "
    "WHERE session_id = :session AND category_id = :category "
    "AND time_logged >= :start AND time_logged <= :end "
    "ORDER BY time_logged, id LIMIT :limit"
).bindparams(bindparam("start", type_=BigInteger), bindparam("end", type_=BigInteger))

_IN_BUCKET = (
    "FROM reading WHERE session_id = :session AND category_id = :category "
    "AND time_logged >= :start + i * :bucket_ms AND time_logged < :start + (i + 1) * :bucket_ms "
    "AND time_logged <= :end"
)
# A bucket's first and last time are index seeks (SQLite's min/max optimisation needs a
# query of its own), so the scan of its readings only takes min, max and count of value.
_SQLITE_BUCKETS = text(
    "WITH RECURSIVE bucket(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM bucket WHERE i + 1 < :buckets) "
    "SELECT i, (SELECT printf('%!.20e %!.20e %d %d %d', min(value), max(value), "
    f"(SELECT min(time_logged) {_IN_BUCKET}), (SELECT max(time_logged) {_IN_BUCKET}), count(*)) "
    f"{_IN_BUCKET}) FROM bucket"
)

_LATERAL_BUCKETS = text(
    "SELECT b.i, agg.* FROM generate_series(0, :buckets - 1) AS b(i) CROSS JOIN LATERAL "
    "(SELECT min(value), max(value), min(time_logged), max(time_logged), count(*) FROM reading "
    "WHERE session_id = :session AND category_id = :category "
    "AND time_logged >= :start + b.i * :bucket_ms AND time_logged < :start + (b.i + 1) * :bucket_ms "
    "AND time_logged <= :end) AS agg"
).bindparams(
    bindparam("start", type_=BigInteger),
    bindparam("end", type_=BigInteger),
    bindparam("bucket_ms", type_=BigInteger),
    bindparam("buckets", type_=Integer),
    bindparam("session", type_=Integer),
    bindparam("category", type_=Integer),
)

_GROUPED_BUCKETS = text(
    "SELECT (time_logged - :start) / :bucket_ms AS b, min(value), max(value), "
    "min(time_logged), max(time_logged), count(*) FROM reading "
    "WHERE session_id = :session AND category_id = :category "
    "AND time_logged >= :start AND time_logged <= :end GROUP BY b ORDER BY b"
).bindparams(
    bindparam("start", type_=BigInteger),
    bindparam("end", type_=BigInteger),
    bindparam("bucket_ms", type_=BigInteger),
    bindparam("session", type_=Integer),
    bindparam("category", type_=Integer),
)

#: Dialects where each bucket is its own index range scan (no sort), by query.
_PER_BUCKET = {"sqlite": _SQLITE_BUCKETS, "postgresql": _LATERAL_BUCKETS}


@dataclass
class Envelope:
    """Per time bucket: first and last time, min and max value, and how many readings."""

    bucket_ms: int
    t_first: list[int] = field(default_factory=list)
    t_last: list[int] = field(default_factory=list)
    minimum: list[float] = field(default_factory=list)
    maximum: list[float] = field(default_factory=list)
    count: list[int] = field(default_factory=list)


@dataclass
class Series:
    """What a chart receives: the raw readings (`envelope` None) or an envelope."""

    start_ms: int
    end_ms: int
    width_px: int
    t: list[int] = field(default_factory=list)
    v: list[float] = field(default_factory=list)
    envelope: Optional[Envelope] = None

    @property
    def points(self) -> int:
        """Points the chart will draw (two per bucket for an envelope)."""
        return 2 * len(self.envelope.count) if self.envelope is not None else len(self.t)

    def to_json(self) -> dict[str, Any]:
        """The series as the page's JSON (`mode` is `raw` or `envelope`)."""
        data: dict[str, Any] = {
            "start": self.start_ms,
            "end": self.end_ms,
            "width": self.width_px,
            "points": self.points,
        }
        if self.envelope is None:
            data.update(mode="raw", bucket_ms=None, t=self.t, v=self.v)
        else:
            env = self.envelope
            data.update(
                mode="envelope",
                bucket_ms=env.bucket_ms,
                t_first=env.t_first,
                t_last=env.t_last,
                min=env.minimum,
                max=env.maximum,
                count=env.count,
            )
        return data


def fetch_series(
    conn: Connection,
    session_id: int,
    category: int,
    start_ms: int,
    end_ms: int,
    width_px: int,
    engine: Optional[Engine] = None,
    workers: int = 1,
) -> Series:
    """The readings of one variable in [start_ms, end_ms], at most about `2 * width_px` points.

    With an `engine` that pools connections, an envelope's buckets are split into
    `workers` ranges computed at once on their own connections (the database
    drivers run queries without Python's lock, so each core scans its own part).
    """
    if end_ms < start_ms:
        raise ValueError(f"window: expected start <= end, got {start_ms} > {end_ms}")
    if width_px < 1:
        raise ValueError(f"width_px: expected at least 1, got {width_px}")
    series = Series(start_ms, end_ms, width_px)
    limit = 2 * width_px
    params = {"session": session_id, "category": category, "start": start_ms, "end": end_ms}
    rows = conn.execute(_RAW, {**params, "limit": limit + 1}).all()
    if len(rows) <= limit:
        series.t = [int(row[0]) for row in rows]
        series.v = [float(row[1]) for row in rows]
        return series
    span = end_ms - start_ms + 1
    bucket_ms = -(-span // width_px)  # ceil: at most width_px buckets
    buckets = -(-span // bucket_ms)
    env = Envelope(bucket_ms)
    dialect = conn.dialect.name
    if dialect not in _PER_BUCKET:
        for _, low, high, first, last, count in conn.execute(_GROUPED_BUCKETS, {**params, "bucket_ms": bucket_ms}):
            _append(env, float(low), float(high), int(first), int(last), int(count))
        series.envelope = env
        return series
    parts = _split(params, bucket_ms, buckets, workers if _can_split(engine) else 1)
    if len(parts) == 1:
        results = [conn.execute(_PER_BUCKET[dialect], parts[0]).all()]
    else:
        assert engine is not None
        with ThreadPoolExecutor(len(parts), thread_name_prefix="blitz-series") as pool:
            results = list(pool.map(lambda part: _run_part(engine, part), parts))
    for rows_of_part in results:
        for row in rows_of_part:
            if dialect == "sqlite":
                low, high, first, last, count = row[1].split(" ")
            else:
                _, low, high, first, last, count = row
            if int(count):
                _append(env, float(low), float(high), int(first), int(last), int(count))
    series.envelope = env
    return series


def _can_split(engine: Optional[Engine]) -> bool:
    """Only an engine with a real pool (not one shared ":memory:" connection) can scan in parallel."""
    return engine is not None and engine.dialect.name in _PER_BUCKET and not isinstance(engine.pool, StaticPool)


def _split(params: dict[str, int], bucket_ms: int, buckets: int, workers: int) -> list[dict[str, int]]:
    """Parameters of `workers` contiguous bucket ranges covering the window (fewer for few buckets)."""
    count = max(1, min(workers, buckets // 64 or 1))
    per = -(-buckets // count)
    parts = []
    for first in range(0, buckets, per):
        last = min(buckets, first + per)
        parts.append({
            **params,
            "start": params["start"] + first * bucket_ms,
            "end": min(params["end"], params["start"] + last * bucket_ms - 1),
            "bucket_ms": bucket_ms,
            "buckets": last - first,
        })
    return parts


def _run_part(engine: Engine, params: dict[str, int]) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(_PER_BUCKET[engine.dialect.name], params).all())


def _append(env: Envelope, low: float, high: float, first: int, last: int, count: int) -> None:
    env.minimum.append(low)
    env.maximum.append(high)
    env.t_first.append(first)
    env.t_last.append(last)
    env.count.append(count)
