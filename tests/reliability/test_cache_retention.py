"""The live cache table stays bounded: each variable keeps its newest rows, trimmed with every insert."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from blitz.boards import load_boards
from blitz.client.live import LiveView
from blitz.data.client_database import CACHE_KEEP_ROWS, DatabaseClient
from blitz.data.models import Cache

pytestmark = [pytest.mark.integration]

BOARDS = load_boards(entry_points=False)


def open_store(store_url: str, **options: int) -> DatabaseClient:
    if "://" in store_url:
        return DatabaseClient(url=store_url, **options)
    return DatabaseClient(path=store_url, **options)


def rows_per_category(database: DatabaseClient) -> dict[int, list[tuple[int, int]]]:
    """category id -> [(id, time_logged)] in id order."""
    found: dict[int, list[tuple[int, int]]] = {}
    for row in database.all(Cache):
        found.setdefault(row.category_id, []).append((row.id, row.time_logged))
    return found


def test_each_variable_keeps_only_its_newest_rows(store_url: str) -> None:
    with open_store(store_url, cache_keep_rows=100) as database:
        database.create_tables()
        ids = [database.get_or_create_category(name) for name in ("a", "b", "c")]
        sent: dict[int, list[int]] = {cid: [] for cid in ids}
        rng = np.random.default_rng(1)
        for batch in range(40):
            # Uneven batches; "c" only in the first ten, so it is never trimmed below what it got.
            chosen = ids if batch < 10 else ids[:2]
            category = rng.choice(chosen, size=37)
            times = np.arange(batch * 37, batch * 37 + 37)
            database.add_cache_bulk(times, category, times * 0.5)
            for cid, t in zip(category.tolist(), times.tolist()):
                sent[cid].append(t)
            kept = rows_per_category(database)
            for cid in ids:  # the newest rows, between 100 and 100 + a tenth (the trim's slack)
                times = [t for _, t in kept[cid]]
                assert times == sent[cid][-len(times):] and min(100, len(sent[cid])) <= len(times) < 110
        assert [len(rows) for rows in kept.values()] != [len(sent[cid]) for cid in ids]  # it did trim
        newest = database.get_cache()
        assert {row.category_id for row in newest} == set(ids)


def test_a_long_live_view_leaves_a_bounded_cache(tmp_path: Path) -> None:
    keep = 500
    with DatabaseClient(path=str(tmp_path / "live.db"), cache_keep_rows=keep) as database:
        view = LiveView({8: BOARDS[8]}, database, flush_rows=2000, flush_interval_s=1e9)
        lines_per_batch, batches = 2000, 60  # 120,000 messages: 10 minutes at 200 Hz
        for batch in range(batches):
            start = batch * lines_per_batch
            view.feed_lines([f"08a0{t:08x}{(t % 4096) << 52:016x}" for t in range(start, start + lines_per_batch)])
        view.flush()
        kept = rows_per_category(database)
    variables = len(BOARDS[8].variables)
    assert view.cached == batches * lines_per_batch * variables
    newest_time = batches * lines_per_batch - 1
    for rows in kept.values():  # each variable: its newest rows, at most 1.1 times the bound
        assert keep <= len(rows) < keep * 1.1
        assert [t for _, t in rows] == list(range(newest_time - len(rows) + 1, newest_time + 1))
    assert len(kept) == variables


def test_the_default_keeps_minutes_of_a_fast_board() -> None:
    assert CACHE_KEEP_ROWS >= 200 * 30  # 30 s of a 200 Hz board per variable
