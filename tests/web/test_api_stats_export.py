"""Statistics, comparison and streamed exports of stored sessions over HTTP."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from tests.web.conftest import RunningConsole
from tests.web.harness import SampleSession

pytestmark = pytest.mark.integration


def test_stats_match_numpy_on_the_stored_arrays(console: RunningConsole, samples: dict[int, SampleSession]) -> None:
    reply = console.client.get("/api/sessions/1/stats")
    assert reply.status == 200
    stats = {v["name"]: v for v in reply.json()["variables"]}
    assert sorted(stats) == ["alpha", "beta", "gamma"]
    for name, (t, v) in samples[1].variables.items():
        row = stats[name]
        assert row["count"] == v.size
        assert row["min"] == v.min() and row["max"] == v.max()
        assert row["mean"] == pytest.approx(v.mean(), rel=1e-12, abs=1e-9)
        assert row["std"] == pytest.approx(v.std(ddof=1), rel=1e-9)
        assert (row["first_time_logged"], row["last_time_logged"]) == (int(t[0]), int(t[-1]))
    one = console.client.get("/api/sessions/1/stats?variable=beta").json()
    assert [v["name"] for v in one["variables"]] == ["beta"]
    assert console.client.get("/api/sessions/1/stats?variable=zeta").status == 400
    assert console.client.get("/api/sessions/3/stats").status == 409


def test_compare_puts_two_sessions_side_by_side(console: RunningConsole, samples: dict[int, SampleSession]) -> None:
    reply = console.client.get("/api/compare?a=1&b=2")
    assert reply.status == 200, reply.text
    data = reply.json()
    assert data["only_in_a"] == ["gamma"] and data["only_in_b"] == []
    mean_a = samples[1].variables["beta"][1].mean()
    mean_b = samples[2].variables["beta"][1].mean()
    assert data["differences"]["variables"]["beta"]["mean"] == pytest.approx(mean_b - mean_a, rel=1e-9)
    assert [v["name"] for v in data["b"]["variables"]] == ["alpha", "beta"]
    for query, status in [("a=1", 400), ("a=1&b=x", 400), ("a=1&b=99", 404), ("a=1&b=3", 409), ("a=1&b=2&c=3", 400)]:
        assert console.client.get(f"/api/compare?{query}").status == status, query


def test_csv_wide_export_streams_every_reading(console: RunningConsole, samples: dict[int, SampleSession]) -> None:
    reply = console.client.get("/api/sessions/1/export?format=csv")
    assert reply.status == 200
    assert reply.headers["content-type"] == "text/csv; charset=utf-8"
    assert reply.headers["content-disposition"] == 'attachment; filename="blitz-session-1.csv"'
    assert reply.headers.get("transfer-encoding") == "chunked"  # streamed, not buffered whole
    rows = list(csv.reader(io.StringIO(reply.text)))
    assert rows[0] == ["time_s", "time_utc", "alpha", "beta", "gamma"]
    body = rows[1:]
    t, alpha = samples[1].variables["alpha"]
    assert len(body) == t.size
    assert [float(r[2]) for r in body] == alpha.tolist()
    assert float(body[-1][0]) == (t[-1] - t[0]) / 1000
    gamma_t, gamma = samples[1].variables["gamma"]
    assert [float(r[4]) for r in body if r[4]] == gamma.tolist()


def test_csv_long_and_json_exports(console: RunningConsole, samples: dict[int, SampleSession]) -> None:
    long_reply = console.client.get("/api/sessions/2/export?format=csv-long")
    assert long_reply.status == 200
    assert long_reply.headers["content-disposition"] == 'attachment; filename="blitz-session-2.long.csv"'
    rows = list(csv.reader(io.StringIO(long_reply.text)))
    assert rows[0] == ["time_s", "time_utc", "variable", "value"]
    assert len(rows) - 1 == sum(t.size for t, _ in samples[2].variables.values())
    beta = [float(r[3]) for r in rows[1:] if r[2] == "beta"]
    assert beta == samples[2].variables["beta"][1].tolist()
    json_reply = console.client.get("/api/sessions/2/export?format=json")
    assert json_reply.status == 200 and json_reply.headers["content-type"].startswith("application/json")
    document = json.loads(json_reply.body)
    assert document["session"]["ref_id"] == 2 and document["readings_count"] == len(rows) - 1
    alpha = [r[2] for r in document["readings"] if r[1] == "alpha"]
    assert np.array_equal(alpha, samples[2].variables["alpha"][1])


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/api/sessions/1/export?format=xlsx", 400, "format: expected one of csv, csv-long, json, got 'xlsx'"),
        ("/api/sessions/1/export?format=csv&columns=all", 400, "unknown query parameter 'columns'"),
        ("/api/sessions/50/export", 404, "no session 50"),
        ("/api/sessions/3/export", 409, "has not been downloaded"),
    ],
)
def test_bad_export_requests(console: RunningConsole, path: str, status: int, message: str) -> None:
    reply = console.client.get(path)
    assert reply.status == status
    assert message in reply.json()["error"]


def test_an_export_waits_for_a_slow_browser_and_stops_when_it_leaves(
        console: RunningConsole, web_database, samples: dict[int, SampleSession]) -> None:
    """Flow control: a reader that does not read holds the export thread; closing releases it."""
    import socket
    import time

    from tests.client.stack import wait_for

    messages = 150_000
    web_database.update_session_list([[1, 0, 1, 6000], [2, 0, 1, 2000], [4, 0, 1, messages]])
    category = web_database.get_or_create_category("alpha")
    t = np.arange(messages, dtype=np.int64)
    web_database.add_readings_bulk(4, t, np.full(messages, category), np.sqrt(t), messages=messages)
    pool = console.console.threadpool
    with socket.create_connection(("127.0.0.1", console.client.port), timeout=10) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(b"GET /api/sessions/4/export?format=csv-long HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        first = sock.recv(1024)
        assert first.startswith(b"HTTP/1.1 200")
        time.sleep(1.0)  # the whole file would be written in well under a second without flow control
        assert len(pool.working) == 1, "the export should be waiting for the reader"
    wait_for(lambda: not pool.working, "the export thread to stop after the reader left", timeout_s=10)
    assert console.client.get("/api/sessions/4/stats").json()["variables"][0]["count"] == messages
