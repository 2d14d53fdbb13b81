"""Known sessions for the browsing, export, plot and archive tests, stored through DatabaseClient.

Values come from a seeded numpy generator; the tests compare what Blitz reads
back or computes with numpy on these same arrays.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from blitz.data.database import DatabaseClient

START_MS = 1_700_000_000_000
DAY_MS = 86_400_000


@dataclass(frozen=True)
class StoredSession:
    """A session as the tests know it: per variable, its board times (ms) and values."""

    ref_id: int
    time_started: int
    time_stopped: int
    series: dict[str, tuple[np.ndarray, np.ndarray]]

    @property
    def first_ms(self) -> int:
        return min(int(times.min()) for times, _ in self.series.values())

    @property
    def readings(self) -> int:
        return sum(len(times) for times, _ in self.series.values())


def sample_sessions(seed: int = 7) -> list[StoredSession]:
    """Session 1: three variables, one logged every other step; session 2: other values, another set."""
    rng = np.random.default_rng(seed)
    steps = 600
    times = 5_000 + 10 * np.arange(steps, dtype=np.int64)
    one = StoredSession(
        ref_id=1,
        time_started=START_MS,
        time_stopped=START_MS + 6_000,
        series={
            # a large mean with a tiny spread: naive sums of squares would lose every digit
            "temperature": (times, 293.15 + rng.normal(0.0, 0.05, steps)),
            "adc": (times, rng.integers(0, 4096, steps).astype(np.float64)),
            "motor, rpm": (times[::2], rng.normal(1500.0, 40.0, steps // 2)),
        },
    )
    times_two = 200 + 20 * np.arange(400, dtype=np.int64)
    two = StoredSession(
        ref_id=2,
        time_started=START_MS + 3 * DAY_MS,
        time_stopped=START_MS + 3 * DAY_MS + 8_000,
        series={
            "temperature": (times_two, 295.0 + rng.normal(0.0, 0.2, 400)),
            "adc": (times_two, rng.integers(1000, 2000, 400).astype(np.float64)),
            "pressure": (times_two, rng.normal(101_325.0, 3.0, 400)),
        },
    )
    return [one, two]


def store_sessions(client: DatabaseClient, sessions: list[StoredSession], listed_only: tuple[int, ...] = ()) -> None:
    """Put `sessions` in the session list (plus `listed_only` numbers with nothing stored) and store their readings.

    Readings go in time order, all variables interleaved, in chunks like a download.
    """
    entries = [[s.ref_id, s.time_started, s.time_stopped, s.readings] for s in sessions]
    entries += [[ref, START_MS + ref * DAY_MS, START_MS + ref * DAY_MS + 1000, 10] for ref in listed_only]
    client.update_session_list(entries)
    ids = client.get_or_create_categories(sorted({name for s in sessions for name in s.series}))
    for session in sessions:
        t = np.concatenate([times for times, _ in session.series.values()])
        c = np.concatenate([np.full(len(times), ids[name]) for name, (times, _) in session.series.items()])
        v = np.concatenate([values for _, values in session.series.values()])
        order = np.argsort(t, kind="stable")
        for part in np.array_split(order, 3):
            client.add_readings_bulk(session.ref_id, t[part], c[part], v[part], messages=len(part))


@pytest.fixture(params=["sqlite_file", pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.integration])])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DatabaseClient]:
    """An empty DatabaseClient on a real SQLite file, and on PostgreSQL when BLITZ_TEST_POSTGRES_URL is set."""
    if request.param == "sqlite_file":
        client = DatabaseClient(path=str(tmp_path / "browse.db"))
    else:
        client = DatabaseClient(engine=request.getfixturevalue("postgres_engine"))
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def sessions() -> list[StoredSession]:
    return sample_sessions()


@pytest.fixture
def filled(store: DatabaseClient, sessions: list[StoredSession]) -> DatabaseClient:
    """`store` holding sessions 1 and 2, with session 3 listed but not downloaded."""
    store_sessions(store, sessions, listed_only=(3,))
    return store
