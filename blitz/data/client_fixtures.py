"""Load the JSON fixtures shipped as `blitz.fixtures` into a client store, without duplicates.

`config.json` holds the default settings; the other files are a small, realistic
data set for tests and demos.  Files are read through importlib.resources so an
installed copy finds them whatever the working directory.  Rows are matched on
a natural key (config key, variable name, session number, time and variable),
so loading twice adds nothing and never overwrites a user's setting.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from sqlalchemy import Connection, select

from blitz.data.client_sessions import refresh_availability
from blitz.data.models import Cache, Notification, Reading, Session
from blitz.data.sql_upsert import get_or_create_categories, insert_missing, write_config
from blitz.errors import StorageError

__all__ = ["FIXTURE_PACKAGE", "load_fixtures", "read_fixture"]

FIXTURE_PACKAGE = "blitz.fixtures"


def read_fixture(name: str) -> Any:
    """Return the parsed JSON of fixture `name` (without `.json`) from `blitz.fixtures`."""
    resource = resources.files(FIXTURE_PACKAGE).joinpath(f"{name}.json")
    try:
        text = resource.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise StorageError(f"fixture {name!r}: {name}.json is missing from {FIXTURE_PACKAGE}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise StorageError(f"fixture {name}.json: invalid JSON at line {exc.lineno}: {exc.msg}") from exc


def _rows(name: str, required: set[str]) -> list[dict[str, Any]]:
    """Fixture `name` as a list of dicts, each checked for the `required` keys."""
    data = read_fixture(name)
    if not isinstance(data, list):
        raise StorageError(f"fixture {name}.json: expected a list of objects, got {type(data).__name__}")
    for index, row in enumerate(data):
        if not isinstance(row, dict) or not required <= row.keys():
            raise StorageError(
                f"fixture {name}.json item {index}: expected keys {sorted(required)}, got {row!r}"
            )
    return data


def load_fixtures(conn: Connection, testing: bool = False) -> None:
    """Load config defaults, and with `testing` also categories, sessions, readings, cache, notifications."""
    config = read_fixture("config")
    if not isinstance(config, dict):
        raise StorageError(
            f"fixture config.json: expected an object of key: value, got {type(config).__name__}"
        )
    for key, value in config.items():
        write_config(conn, str(key), str(value), do_update=False)
    if not testing:
        return
    names = [row["variable_name"] for row in _rows("categories", {"variable_name"})]
    readings = _rows("readings", {"session_id", "time_logged", "variable_name", "value"})
    cache = _rows("cache", {"time_logged", "variable_name", "value"})
    ids = get_or_create_categories(conn, names + [row["variable_name"] for row in readings + cache])
    _load_sessions(conn)
    _insert_new(
        conn,
        Reading,
        [
            {"session_id": r["session_id"], "time_logged": r["time_logged"],
             "category_id": ids[r["variable_name"]], "value": float(r["value"])}
            for r in readings
        ],
        ("session_id", "category_id", "time_logged"),
    )
    _insert_new(
        conn,
        Cache,
        [
            {"time_logged": r["time_logged"], "category_id": ids[r["variable_name"]],
             "value": float(r["value"])}
            for r in cache
        ],
        ("category_id", "time_logged"),
    )
    notifications = _rows("notifications", {"time_logged", "severity", "description"})
    _insert_new(conn, Notification, notifications, ("time_logged", "description"))


def _load_sessions(conn: Connection) -> None:
    sessions = _rows("sessions", {"ref_id", "time_started", "time_stopped", "number_of_readings"})
    insert_missing(
        conn,
        Session.__table__,
        [{key: row.get(key, 0) for key in (
            "ref_id", "time_started", "time_stopped", "number_of_readings", "downloaded_messages")}
         for row in sessions],
        "ref_id",
    )
    refresh_availability(conn)


def _insert_new(
    conn: Connection, model: type[Reading] | type[Cache] | type[Notification],
    rows: list[dict[str, Any]], key: tuple[str, ...],
) -> None:
    """Insert the rows whose `key` columns match no existing row."""
    if not rows:
        return
    columns = [getattr(model, name) for name in key]
    candidates = {row[key[0]] for row in rows}
    existing = {tuple(row) for row in conn.execute(select(*columns).where(columns[0].in_(candidates)))}
    fresh = [row for row in rows if tuple(row[name] for name in key) not in existing]
    if fresh:
        conn.execute(model.__table__.insert(), fresh)

