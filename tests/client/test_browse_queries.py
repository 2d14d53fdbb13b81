"""Browsing a stored session: overview, readings pages and filters, statistics against numpy, comparisons."""

from __future__ import annotations

import numpy as np
import pytest

from blitz.data.browse import (
    SessionNotDownloaded,
    SessionNotFound,
    VariableNotFound,
    compare_sessions,
    iso_utc,
    load_session,
    read_page,
    session_stats,
)
from blitz.data.database import DatabaseClient
from tests.client.browse_fixtures import StoredSession, filled, sessions, store  # noqa: F401 (fixtures)


def _expected_rows(session: StoredSession, names: list[str] | None = None) -> list[tuple[int, str, float]]:
    """Every reading ordered by time then variable name, computed in Python."""
    rows = [
        (int(t), name, float(v))
        for name, (times, values) in session.series.items()
        if names is None or name in names
        for t, v in zip(times, values)
    ]
    return sorted(rows, key=lambda row: (row[0], row[1]))


def test_overview_lists_variables_times_and_metadata(filled: DatabaseClient, sessions: list[StoredSession]) -> None:
    with filled.engine.connect() as conn:
        view = load_session(conn, 1)
    one = sessions[0]
    assert view.names == sorted(one.series)
    assert view.first_ms == 5_000 and view.last_ms == 5_000 + 10 * 599
    assert view.time_started == one.time_started and view.complete
    assert view.relative_s(5_250) == 0.25
    assert view.absolute_ms(5_250) == one.time_started + 250
    assert view.to_dict()["time_started_utc"] == iso_utc(one.time_started) == "2023-11-14T22:13:20.000Z"


def test_unknown_and_undownloaded_sessions_say_what_to_do(filled: DatabaseClient) -> None:
    with filled.engine.connect() as conn:
        with pytest.raises(SessionNotFound, match=r"no session 9 .*known sessions: 1, 2, 3"):
            load_session(conn, 9)
        with pytest.raises(SessionNotDownloaded, match=r"session 3 has not been downloaded; run `blitz download 3`"):
            load_session(conn, 3)
        view = load_session(conn, 1)
        with pytest.raises(VariableNotFound, match=r"no variable 'rpm'.*adc, motor, rpm, temperature"):
            view.select(["adc", "rpm"])


def test_first_page_and_every_page_after_it_cover_the_session_in_order(
    filled: DatabaseClient, sessions: list[StoredSession]
) -> None:
    expected = _expected_rows(sessions[0])
    with filled.engine.connect() as conn:
        view = load_session(conn, 1)
        got, offset = [], 0
        while True:
            page = read_page(conn, view, limit=250, offset=offset)
            got += page.rows
            offset += 250
            if not page.has_more:
                break
    assert len(got) == sessions[0].readings == 1500
    assert got == expected


def test_merged_and_sorted_paging_agree(filled: DatabaseClient) -> None:
    with filled.engine.connect() as conn:
        view = load_session(conn, 1)
        for offset in (0, 7, 333, 1499, 1500):
            merged = read_page(conn, view, limit=40, offset=offset)
            sorted_once = read_page(conn, view, limit=40, offset=offset, merge_limit=0)
            assert merged.rows == sorted_once.rows
            assert merged.has_more == sorted_once.has_more == (offset + 40 < 1500)


def test_variable_and_time_filters(filled: DatabaseClient, sessions: list[StoredSession]) -> None:
    with filled.engine.connect() as conn:
        view = load_session(conn, 1)
        page = read_page(conn, view, variables=["motor, rpm"], since_ms=100, until_ms=200, limit=100)
    times, values = sessions[0].series["motor, rpm"]
    inside = (times >= 5_100) & (times < 5_200)
    assert page.rows == [(int(t), "motor, rpm", float(v)) for t, v in zip(times[inside], values[inside])]
    assert [row[0] for row in page.rows] == [5_100, 5_120, 5_140, 5_160, 5_180]
    assert not page.has_more
    record = page.to_dict()["readings"][0]
    assert record["time_s"] == 0.1 and record["time_utc"] == iso_utc(sessions[0].time_started + 100)


def test_stats_equal_numpy_on_the_stored_values(filled: DatabaseClient, sessions: list[StoredSession]) -> None:
    with filled.engine.connect() as conn:
        for session in sessions:
            stats = session_stats(conn, load_session(conn, session.ref_id))
            assert [s.name for s in stats.variables] == sorted(session.series)
            assert stats.readings == session.readings
            for s in stats.variables:
                times, values = session.series[s.name]
                assert s.count == len(values)
                assert s.minimum == values.min() and s.maximum == values.max()
                assert s.mean == pytest.approx(values.mean(), rel=1e-12)
                assert s.std == pytest.approx(values.std(ddof=1), rel=1e-9)
                assert (s.first_ms, s.last_ms) == (times.min(), times.max())


def test_stats_stay_exact_when_the_spread_is_tiny_next_to_the_mean(store: DatabaseClient) -> None:
    values = 1.0e9 + np.random.default_rng(3).normal(0.0, 1e-3, 2_000)
    store.update_session_list([[5, 0, 1, 1]])
    category = store.get_or_create_category("offset")
    store.add_readings_bulk(5, np.arange(2_000), np.full(2_000, category), values, messages=1)
    with store.engine.connect() as conn:
        (stats,) = session_stats(conn, load_session(conn, 5)).variables
    assert stats.std == pytest.approx(values.std(ddof=1), rel=1e-6)


def test_stats_of_selected_variables_and_of_a_single_reading(store: DatabaseClient) -> None:
    store.update_session_list([[4, 10, 20, 1]])
    ids = store.get_or_create_categories(["a", "b"])
    store.add_readings_bulk(4, [7, 7, 8], [ids["a"], ids["b"], ids["b"]], [1.5, 2.0, 4.0], messages=1)
    with store.engine.connect() as conn:
        view = load_session(conn, 4)
        (only_a,) = session_stats(conn, view, ["a"]).variables
        (only_b,) = session_stats(conn, view, ["b"]).variables
    assert (only_a.count, only_a.mean, only_a.std) == (1, 1.5, None)
    assert (only_b.count, only_b.mean) == (2, 3.0)
    assert only_b.std == pytest.approx(np.std([2.0, 4.0], ddof=1))


def test_compare_shows_both_sessions_and_their_differences(
    filled: DatabaseClient, sessions: list[StoredSession]
) -> None:
    with filled.engine.connect() as conn:
        comparison = compare_sessions(conn, 1, 2)
    data = comparison.to_dict()
    assert [v.name for v in comparison.variables] == ["adc", "motor, rpm", "pressure", "temperature"]
    assert data["only_in_a"] == ["motor, rpm"] and data["only_in_b"] == ["pressure"]
    assert data["differences"]["readings"] == sessions[1].readings - sessions[0].readings
    temperature = data["differences"]["variables"]["temperature"]
    a_values, b_values = sessions[0].series["temperature"][1], sessions[1].series["temperature"][1]
    assert temperature["mean"] == pytest.approx(b_values.mean() - a_values.mean(), rel=1e-9)
    assert temperature["std"] == pytest.approx(b_values.std(ddof=1) - a_values.std(ddof=1), rel=1e-6)
    assert temperature["max"] == b_values.max() - a_values.max()
    assert temperature["count"] == 400 - 600
    assert set(data["differences"]["variables"]) == {"adc", "temperature"}


def test_stats_of_more_variables_than_one_sqlite_compound_select_holds(store: DatabaseClient) -> None:
    names = [f"channel_{i:03d}" for i in range(450)]
    ids = store.get_or_create_categories(names)
    values = np.random.default_rng(11).normal(50, 2, (450, 3))
    store.update_session_list([[6, 0, 1, 1]])
    store.add_readings_bulk(
        6, np.tile([10, 20, 30], 450), np.repeat([ids[n] for n in names], 3), values.ravel(), messages=1
    )
    with store.engine.connect() as conn:
        stats = session_stats(conn, load_session(conn, 6)).variables
    assert [s.name for s in stats] == names
    assert [s.mean for s in stats] == pytest.approx(values.mean(axis=1).tolist(), rel=1e-12)
    assert [s.std for s in stats] == pytest.approx(values.std(axis=1, ddof=1).tolist(), rel=1e-9)


@pytest.mark.parametrize("workers", [2, 3, 7])
def test_stats_scanned_in_time_slices_match_one_scan(filled: DatabaseClient, workers: int) -> None:
    with filled.engine.connect() as conn:
        view = load_session(conn, 1)
        whole = session_stats(conn, view, workers=1).variables
        sliced = session_stats(conn, view, workers=workers).variables
    assert [(s.name, s.count, s.minimum, s.maximum, s.first_ms, s.last_ms) for s in sliced] == [
        (s.name, s.count, s.minimum, s.maximum, s.first_ms, s.last_ms) for s in whole
    ]
    assert [s.mean for s in sliced] == pytest.approx([s.mean for s in whole], rel=1e-12)
    assert [s.std for s in sliced] == pytest.approx([s.std for s in whole], rel=1e-9)
