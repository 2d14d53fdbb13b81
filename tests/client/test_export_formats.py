"""Exports parsed back and compared with the stored values: CSV wide, CSV long, JSON."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from blitz.data.browse import SessionNotFound, iso_utc, load_session
from blitz.data.database import DatabaseClient
from blitz.data.export import export_session, iter_chunks
from tests.client.browse_fixtures import StoredSession, filled, sessions, store  # noqa: F401 (fixtures)


def _export(client: DatabaseClient, ref_id: int, fmt: str, chunk_rows: int = 200_000) -> str:
    out = io.StringIO()
    with client.engine.connect() as conn:
        export_session(conn, ref_id, out, fmt, chunk_rows=chunk_rows)
    return out.getvalue()


def _relative_ms(cell: str) -> int:
    ms = float(cell) * 1000
    assert ms == pytest.approx(round(ms), abs=1e-6)
    return round(ms)


def test_csv_wide_has_one_row_per_timestamp_and_one_column_per_variable(
    filled: DatabaseClient, sessions: list[StoredSession]
) -> None:
    one = sessions[0]
    rows = list(csv.reader(io.StringIO(_export(filled, 1, "csv"))))
    assert rows[0] == ["time_s", "time_utc", "adc", "motor, rpm", "temperature"]
    body = rows[1:]
    times = one.series["adc"][0]
    assert len(body) == len(times)
    relative = np.array([_relative_ms(row[0]) for row in body])
    assert (relative == times - one.first_ms).all()
    assert [row[1] for row in body] == [iso_utc(one.time_started + int(ms)) for ms in relative]
    for column, name in enumerate(["adc", "motor, rpm", "temperature"], start=2):
        stored_times, stored_values = one.series[name]
        cells = {int(t): row[column] for t, row in zip(times, body)}
        assert [float(cells[int(t)]) for t in stored_times] == stored_values.tolist()
        blank = set(map(int, times)) - set(map(int, stored_times))
        assert all(cells[t] == "" for t in blank)
    assert sum(row[3] == "" for row in body) == 300  # the motor is logged every other step


def test_csv_long_has_one_row_per_reading_in_time_then_name_order(
    filled: DatabaseClient, sessions: list[StoredSession]
) -> None:
    one = sessions[0]
    rows = list(csv.reader(io.StringIO(_export(filled, 1, "csv-long"))))
    assert rows[0] == ["time_s", "time_utc", "variable", "value"]
    got = [(_relative_ms(r[0]) + one.first_ms, r[2], float(r[3])) for r in rows[1:]]
    expected = sorted(
        ((int(t), name, float(v)) for name, (ts, vs) in one.series.items() for t, v in zip(ts, vs)),
        key=lambda row: (row[0], row[1]),
    )
    assert got == expected
    assert rows[1][1] == iso_utc(one.time_started)


def test_json_holds_the_metadata_and_every_reading(filled: DatabaseClient, sessions: list[StoredSession]) -> None:
    two = sessions[1]
    data = json.loads(_export(filled, 2, "json"))
    assert data["format"] == "blitz-session" and data["version"] == 1
    assert data["session"]["ref_id"] == 2
    assert data["session"]["time_started"] == two.time_started
    assert data["session"]["time_stopped"] == two.time_stopped
    assert data["session"]["number_of_readings"] == two.readings
    assert data["readings_count"] == two.readings == len(data["readings"])
    assert [(v["name"], v["count"]) for v in data["variables"]] == [(n, 400) for n in sorted(two.series)]
    for name, (times, values) in two.series.items():
        mine = [(t, v) for t, n, v in data["readings"] if n == name]
        assert mine == list(zip(times.tolist(), values.tolist()))


@pytest.mark.parametrize("fmt", ["csv", "csv-long", "json"])
def test_small_chunks_write_the_same_bytes(filled: DatabaseClient, fmt: str) -> None:
    assert _export(filled, 1, fmt, chunk_rows=7) == _export(filled, 1, fmt)


def test_chunks_never_split_a_timestamp_and_cover_every_reading(filled: DatabaseClient) -> None:
    with filled.engine.connect() as conn:
        view = load_session(conn, 1)
        chunks = list(iter_chunks(conn, view, chunk_rows=50))
    assert len(chunks) > 10
    assert sum(len(c) for c in chunks) == 1500
    for before, after in zip(chunks, chunks[1:]):
        assert before.time_logged[-1] < after.time_logged[0]
    for chunk in chunks:
        assert (np.diff(chunk.time_logged) >= 0).all()


def test_repeated_variable_at_one_timestamp_gets_its_own_row(store: DatabaseClient) -> None:
    store.update_session_list([[7, None, None, 1]])
    ids = store.get_or_create_categories(["a", "b"])
    store.add_readings_bulk(
        7, [10, 10, 10, 20], [ids["a"], ids["b"], ids["a"], ids["b"]], [1.0, 2.0, 3.0, 4.0], messages=1
    )
    wide = _export(store, 7, "csv")
    assert wide == "time_s,time_utc,a,b\n0.0,,1.0,2.0\n0.0,,3.0,\n0.01,,,4.0\n"
    long = _export(store, 7, "csv-long")
    assert long.splitlines()[1:] == ["0.0,,a,1.0", "0.0,,a,3.0", "0.0,,b,2.0", "0.01,,b,4.0"]
    data = json.loads(_export(store, 7, "json"))
    assert data["session"]["time_started"] is None
    assert data["readings"] == [[10, "a", 1.0], [10, "a", 3.0], [10, "b", 2.0], [20, "b", 4.0]]


def test_exporting_an_unknown_session_or_format_fails(filled: DatabaseClient) -> None:
    with pytest.raises(SessionNotFound):
        _export(filled, 42, "csv")
    with pytest.raises(ValueError, match="expected one of csv, csv-long, json"):
        _export(filled, 1, "xlsx")


def test_readings_repeated_at_one_timestamp_keep_their_stored_order(store: DatabaseClient) -> None:
    # Stored order differs from value order: the covering index alone would list 1.0 before 3.0.
    store.update_session_list([[8, None, None, 1]])
    ids = store.get_or_create_categories(["a", "b"])
    store.add_readings_bulk(
        8, [10, 10, 10, 10, 20], [ids["a"], ids["b"], ids["a"], ids["b"], ids["a"]], [3.0, 9.0, 1.0, 7.0, 5.0],
        messages=2,
    )
    assert _export(store, 8, "csv") == "time_s,time_utc,a,b\n0.0,,3.0,9.0\n0.0,,1.0,7.0\n0.01,,5.0,\n"
    assert json.loads(_export(store, 8, "json"))["readings"] == [
        [10, "a", 3.0], [10, "a", 1.0], [10, "b", 9.0], [10, "b", 7.0], [20, "a", 5.0]
    ]
