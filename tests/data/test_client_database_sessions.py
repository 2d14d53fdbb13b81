"""Session list, availability, clearing and deleting sessions on every backend."""

from __future__ import annotations

import pytest

from blitz.data.client_database import DatabaseClient
from blitz.data.models import Reading, Session


def sessions_by_ref(db: DatabaseClient) -> dict[int, Session]:
    return {s.ref_id: s for s in db.all(Session)}


def test_update_session_list_accepts_wire_strings_and_none(database_client: DatabaseClient) -> None:
    database_client.update_session_list(
        [
            [1, 1_717_243_200_000, 1_717_243_204_000, 4],
            ["2", "1717250400000", "None", "6"],
            ("3", "1717257600000", None, "0"),
            "4 1717260000000 None 12",
        ]
    )
    sessions = sessions_by_ref(database_client)
    assert sorted(sessions) == [1, 2, 3, 4]
    assert sessions[2].time_started == 1_717_250_400_000
    assert sessions[2].time_stopped is None and sessions[3].time_stopped is None
    assert sessions[4].number_of_readings == 12
    assert not any(s.available for s in sessions.values())
    assert all(s.downloaded_messages == 0 for s in sessions.values())


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (["x", 1, 2, 3], r"sessions_list\[0\] ref_id: expected an integer, got 'x'"),
        ([1, 1, 2], r"sessions_list\[0\]: expected \[ref_id, time_started"),
        ([1, 1, 2, "None"], r"number_of_readings: expected an integer, got 'None'"),
        ([1, 1, 2, -4], r"number_of_readings: expected a value >= 0, got -4"),
        ([1, 1.5, 2, 4], r"time_started: expected an integer or its string, got 1.5"),
        ([True, 1, 2, 4], r"ref_id: expected an integer, got the boolean True"),
    ],
)
def test_update_session_list_rejects_bad_items(item: list[object], message: str) -> None:
    with DatabaseClient() as db:
        db.update_session_list([[9, 1, 2, 3]])
        with pytest.raises(ValueError, match=message):
            db.update_session_list([item])
        assert list(sessions_by_ref(db)) == [9]  # nothing changed


def test_update_session_list_rejects_duplicates_and_plain_string() -> None:
    with DatabaseClient() as db:
        with pytest.raises(ValueError, match="session 1 is listed twice"):
            db.update_session_list([[1, 1, 2, 3], ["1", "1", "2", "3"]])
        with pytest.raises(ValueError, match="got the string"):
            db.update_session_list("1 2 3 4")


def test_session_list_replaces_but_keeps_stored_sessions(database_client: DatabaseClient) -> None:
    database_client.update_session_list([[1, 10, 20, 2], [2, 30, 40, 5], [3, 50, None, 1]])
    database_client.add_readings_bulk(1, [11, 12], [1, 1], [0.5, 0.6], messages=2)
    database_client.update_session_list([[2, 30, 40, 5], [4, 60, None, 3]])
    sessions = sessions_by_ref(database_client)
    # 3 had nothing stored and is gone; 1 is no longer on the logger but its data stays browsable.
    assert sorted(sessions) == [1, 2, 4]
    assert sessions[1].available is True and sessions[1].downloaded_messages == 2
    assert len(database_client.get_session_readings(1)) == 2


def test_available_survives_a_refresh_and_follows_a_growing_session(database_client: DatabaseClient) -> None:
    database_client.update_session_list([[5, 100, None, 2]])
    database_client.add_readings_bulk(5, [101, 101, 102, 102], [1, 2, 1, 2], [1.0, 2.0, 3.0, 4.0], messages=2)
    assert sessions_by_ref(database_client)[5].available is True
    database_client.update_session_list([["5", "100", "None", "2"]])
    assert sessions_by_ref(database_client)[5].available is True
    # The running session logged more messages: what is stored is now partial.
    database_client.update_session_list([["5", "100", "None", "3"]])
    session = sessions_by_ref(database_client)[5]
    assert session.available is False and session.downloaded_messages == 2
    assert database_client.stored_messages(5) == 2


def test_update_session_availability_rules(database_client: DatabaseClient) -> None:
    database_client.update_session_list([[1, 0, 10, 3], [2, 0, 10, 0]])
    assert database_client.update_session_availability(1) is False  # nothing stored
    database_client.add_readings_bulk(1, [1, 1, 1], [1, 2, 3], [0.0, 0.0, 0.0], messages=1)
    # Three reading rows but only one of three messages: still partial.
    assert database_client.update_session_availability(1) is False
    database_client.add_readings_bulk(1, [2, 3], [1, 1], [0.0, 0.0], messages=2)
    assert database_client.update_session_availability(1) is True
    assert sessions_by_ref(database_client)[1].available is True
    assert database_client.update_session_availability(2) is False  # an empty session has nothing to view
    with pytest.raises(ValueError, match="no session with logger number 77"):
        database_client.update_session_availability(77)


def test_availability_is_not_inferred_from_reading_rows(database_client: DatabaseClient) -> None:
    database_client.update_session_list([[1, 0, 10, 2]])
    for time_logged in (1, 2):
        database_client.add_reading(1, time_logged, 1, 0.0)  # rows without counted messages
    assert database_client.update_session_availability(1) is False


def test_clear_session_data(database_client: DatabaseClient) -> None:
    database_client.update_session_list([[1, 0, 10, 2], [2, 0, 10, 1]])
    database_client.add_readings_bulk(1, [1, 2], [1, 1], [0.5, 0.7], messages=2)
    database_client.add_readings_bulk(2, [1], [1], [9.0], messages=1)
    database_client.clear_session_data(1)
    sessions = sessions_by_ref(database_client)
    assert sessions[1].available is False and sessions[1].downloaded_messages == 0
    assert database_client.get_session_readings(1) == []
    assert [r.value for r in database_client.get_session_readings(2)] == [9.0]
    assert sessions[2].available is True
    database_client.clear_session_data(42)  # unknown: nothing to clear, no error


def test_delete_session(database_client: DatabaseClient) -> None:
    database_client.update_session_list([[1, 0, 10, 1], [2, 0, 10, 1]])
    database_client.add_readings_bulk(1, [1], [1], [0.5], messages=1)
    database_client.add_readings_bulk(2, [1], [1], [0.6], messages=1)
    database_client.delete_session(1)
    assert list(sessions_by_ref(database_client)) == [2]
    assert database_client.find(Reading, {"session_id": 1}) == []
    assert len(database_client.find(Reading, {"session_id": 2})) == 1
    assert database_client.stored_messages(1) == 0


def test_session_readings_and_variables(database_client: DatabaseClient) -> None:
    ids = database_client.get_or_create_categories(["motor_value", "raw_adc"])
    database_client.add_reading(7, 2_000, ids["raw_adc"], 2.0)
    database_client.add_reading(7, 1_000, ids["motor_value"], 1.0)
    database_client.add_reading(7, 1_000, ids["raw_adc"], 3.0)
    database_client.add_reading(8, 500, ids["raw_adc"], 4.0)
    readings = database_client.get_session_readings(7)
    motor, raw = ids["motor_value"], ids["raw_adc"]
    expected = sorted([(1_000, motor, 1.0), (1_000, raw, 3.0), (2_000, raw, 2.0)])
    assert [(r.time_logged, r.category_id, r.value) for r in readings] == expected
    assert [c.variable_name for c in database_client.get_session_variables(7)] == ["motor_value", "raw_adc"]
    assert [c.variable_name for c in database_client.get_session_variables(8)] == ["raw_adc"]
    assert database_client.get_session_variables(9) == []
