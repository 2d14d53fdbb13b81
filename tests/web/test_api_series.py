"""GET /api/sessions/{id}/series: raw windows, SQL min/max envelopes, and every bad parameter."""

from __future__ import annotations

from urllib.parse import urlencode

import numpy as np
import pytest

from tests.web.conftest import RunningConsole
from tests.web.harness import SampleSession

pytestmark = pytest.mark.integration


def series(console: RunningConsole, session: int = 1, **params: object) -> dict:
    reply = console.client.get(f"/api/sessions/{session}/series?{urlencode(params)}")
    assert reply.status == 200, reply.text
    assert reply.headers["content-type"].startswith("application/json")
    return reply.json()


def expected_envelope(t: np.ndarray, v: np.ndarray, start: int, end: int, width: int) -> dict[str, list]:
    """Per-bucket min/max/count/first/last computed with numpy from the stored arrays."""
    inside = (t >= start) & (t <= end)
    t, v = t[inside], v[inside]
    bucket_ms = -(-(end - start + 1) // width)
    bucket = (t - start) // bucket_ms
    out: dict[str, list] = {"min": [], "max": [], "count": [], "t_first": [], "t_last": []}
    for b in np.unique(bucket):
        mask = bucket == b
        out["min"].append(float(v[mask].min()))
        out["max"].append(float(v[mask].max()))
        out["count"].append(int(mask.sum()))
        out["t_first"].append(int(t[mask].min()))
        out["t_last"].append(int(t[mask].max()))
    return out


def test_a_narrow_window_returns_the_stored_readings_exactly(console: RunningConsole,
                                                             samples: dict[int, SampleSession]) -> None:
    t, v = samples[1].variables["alpha"]
    data = series(console, variable="alpha", start=3000, end=3400, width=800)
    inside = (t >= 3000) & (t <= 3400)
    assert data["mode"] == "raw"
    assert data["t"] == t[inside].tolist()
    assert data["v"] == v[inside].tolist()
    assert data["points"] == int(inside.sum()) == 201
    assert (data["start"], data["end"], data["width"]) == (3000, 3400, 800)


def test_the_overview_is_a_min_max_envelope_of_at_most_two_points_per_pixel(
        console: RunningConsole, samples: dict[int, SampleSession]) -> None:
    t, v = samples[1].variables["beta"]
    data = series(console, variable="beta", width=300)
    assert data["mode"] == "envelope"
    assert (data["start"], data["end"]) == (int(t[0]), int(t[-1])) == tuple(data["range"])
    assert len(data["count"]) <= 300 and data["points"] == 2 * len(data["count"]) <= 600
    want = expected_envelope(t, v, int(t[0]), int(t[-1]), 300)
    for key in ("min", "max", "count", "t_first", "t_last"):
        assert data[key] == want[key], key
    assert sum(data["count"]) == t.size
    assert max(data["max"]) == 900.0  # the one-sample spike survives the reduction


def test_zooming_in_returns_only_the_asked_window(console: RunningConsole,
                                                  samples: dict[int, SampleSession]) -> None:
    t, v = samples[1].variables["alpha"]
    whole = series(console, variable="alpha", width=200)
    zoomed = series(console, variable="alpha", start=5000, end=7000, width=200)
    assert whole["mode"] == zoomed["mode"] == "envelope"
    assert zoomed["bucket_ms"] < whole["bucket_ms"]
    assert min(zoomed["t_first"]) >= 5000 and max(zoomed["t_last"]) <= 7000
    want = expected_envelope(t, v, 5000, 7000, 200)
    assert zoomed["min"] == want["min"] and zoomed["max"] == want["max"]


def test_a_sparse_variable_and_an_empty_window(console: RunningConsole, samples: dict[int, SampleSession]) -> None:
    t, v = samples[1].variables["gamma"]
    data = series(console, variable="gamma", width=2000)
    assert data["mode"] == "raw" and data["t"] == t.tolist() and data["v"] == v.tolist()
    empty = series(console, variable="gamma", start=1, end=999, width=100)
    assert empty["mode"] == "raw" and empty["t"] == [] and empty["points"] == 0


def test_the_second_session_is_kept_apart(console: RunningConsole, samples: dict[int, SampleSession]) -> None:
    t, v = samples[2].variables["alpha"]
    data = series(console, session=2, variable="alpha", width=4000)
    assert data["mode"] == "raw" and data["t"] == t.tolist()
    assert data["session_first_ms"] == 500


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("", 400, "variable: expected at least one variable name"),
        ("variable=alpha&variable=beta", 400, "exactly one variable"),
        ("variable=nope", 400, "session 1 has no variable 'nope'"),
        ("variable=al%20pha", 400, "expected a variable name"),
        ("variable=alpha&width=9", 400, "width: expected an integer from 10 to 8000, got 9"),
        ("variable=alpha&width=wide", 400, "width: expected an integer from 10 to 8000, got 'wide'"),
        ("variable=alpha&start=5&end=4", 400, "expected start <= end"),
        ("variable=alpha&start=1.5", 400, "start: expected an integer"),
        ("variable=alpha&start=1&start=2", 400, "start: expected one value, got 2"),
        ("variable=alpha&sql=drop", 400, "unknown query parameter 'sql'"),
    ],
)
def test_bad_parameters_get_a_400_with_a_clear_message(console: RunningConsole, query: str, status: int,
                                                       message: str) -> None:
    reply = console.client.get(f"/api/sessions/1/series?{query}")
    assert reply.status == status
    assert message in reply.json()["error"]


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/api/sessions/99/series?variable=alpha", 404, "no session 99 in the local database"),
        ("/api/sessions/3/series?variable=alpha", 409, "session 3 has not been downloaded"),
        ("/api/sessions/-1/series?variable=alpha", 400, "session id: expected an integer from 0"),
        ("/api/sessions/1x/series?variable=alpha", 400, "session id: expected an integer"),
    ],
)
def test_unknown_or_undownloaded_sessions(console: RunningConsole, path: str, status: int, message: str) -> None:
    reply = console.client.get(path)
    assert reply.status == status
    assert message in reply.json()["error"]


@pytest.mark.parametrize("workers", [1, 2, 3, 8])
def test_splitting_the_buckets_between_connections_changes_nothing(web_database, samples: dict[int, SampleSession],
                                                                   workers: int) -> None:
    from blitz.web.series_query import fetch_series

    t, v = samples[1].variables["beta"]
    category = web_database.get_or_create_category("beta")
    with web_database.engine.connect() as conn:
        series = fetch_series(conn, 1, category, 1001, 12001, 700, engine=web_database.engine, workers=workers)
    assert series.envelope is not None
    want = expected_envelope(t, v, 1001, 12001, 700)
    env = series.envelope
    assert (env.minimum, env.maximum, env.count, env.t_first, env.t_last) == (
        want["min"], want["max"], want["count"], want["t_first"], want["t_last"])
