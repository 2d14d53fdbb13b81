"""Keep the live cache table bounded: each variable keeps only its newest rows.

The live view writes every decoded value to `cache`; without a bound a view
left running grows the table by millions of rows an hour.  The trim runs in
an insert's transaction, per variable, by insertion order (id): "newest" is
what arrived last, even when a rebooted board's clock restarts.  It costs a
walk over the kept rows, so callers trim a variable only every so many rows.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, delete, select

from blitz.data.models import Cache

__all__ = ["trim_cache"]


def trim_cache(conn: Connection, category_ids: Iterable[int], keep_rows: int) -> int:
    """Delete all but the newest `keep_rows` cache rows of each category; returns rows deleted."""
    deleted = 0
    for category_id in sorted(set(category_ids)):
        cutoff = conn.execute(
            select(Cache.id)
            .where(Cache.category_id == category_id)
            .order_by(Cache.id.desc())
            .offset(keep_rows)
            .limit(1)
        ).scalar()
        if cutoff is not None:
            deleted += conn.execute(
                delete(Cache).where(Cache.category_id == category_id, Cache.id <= cutoff)
            ).rowcount
    return deleted
