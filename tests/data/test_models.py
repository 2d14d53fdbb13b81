"""The models' table names, columns, indexes and `to_dict` keys (api.md)."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, inspect, select
from sqlalchemy.orm import Session as OrmSession

from blitz.data import models

EXPECTED = {
    models.Session: (
        "session",
        {"id", "ref_id", "available", "time_started", "time_stopped",
         "number_of_readings", "downloaded_messages"},
    ),
    models.Reading: ("reading", {"id", "session_id", "time_logged", "category_id", "value"}),
    models.Category: ("category", {"id", "variable_name"}),
    models.Cache: ("cache", {"id", "time_logged", "category_id", "value"}),
    models.Config: ("config", {"id", "key", "value"}),
    models.Notification: ("notifications", {"id", "time_logged", "severity", "description"}),
}


@pytest.mark.parametrize("model", list(EXPECTED), ids=lambda m: m.__name__)
def test_table_name_and_columns(model: type[models.Base]) -> None:
    table_name, columns = EXPECTED[model]
    assert model.__tablename__ == table_name
    assert {c.key for c in model.__table__.columns} == columns


def test_to_dict_after_insert_has_exactly_the_api_keys() -> None:
    engine = create_engine("sqlite://")
    models.Base.metadata.create_all(engine)
    rows = [
        models.Session(ref_id=3, time_started=1_700_000_000_000, time_stopped=None, number_of_readings=12),
        models.Reading(session_id=3, time_logged=1_700_000_000_500, category_id=1, value=2.5),
        models.Category(variable_name="adc_channel_one"),
        models.Cache(time_logged=1_700_000_000_600, category_id=1, value=-1.25),
        models.Config(key="logger_port", value="8999"),
        models.Notification(time_logged=1_700_000_000_700, severity=2, description="board 08 lost"),
    ]
    with OrmSession(engine, expire_on_commit=False) as session:
        session.add_all(rows)
        session.commit()
    for row in rows:
        data = row.to_dict()
        assert set(data) == EXPECTED[type(row)][1]
        assert isinstance(data["id"], int)
    session_dict = rows[0].to_dict()
    assert session_dict["available"] is False
    assert session_dict["downloaded_messages"] == 0
    assert session_dict["time_stopped"] is None
    assert rows[5].to_dict()["description"] == "board 08 lost"
    engine.dispose()


def test_indexes_and_unique_constraints_exist() -> None:
    engine = create_engine("sqlite://")
    models.Base.metadata.create_all(engine)
    inspector = inspect(engine)

    def indexed(table: str) -> set[tuple[str | None, ...]]:
        found = {tuple(ix["column_names"]) for ix in inspector.get_indexes(table) if ix["column_names"]}
        found |= {tuple(uc["column_names"]) for uc in inspector.get_unique_constraints(table)}
        return found

    assert ("session_id", "category_id", "time_logged", "value") in indexed("reading")
    assert ("category_id", "time_logged") in indexed("cache")
    assert ("variable_name",) in indexed("category")
    assert ("key",) in indexed("config")
    assert ("ref_id",) in indexed("session")
    engine.dispose()


def test_big_millisecond_times_round_trip() -> None:
    engine = create_engine("sqlite://")
    models.Base.metadata.create_all(engine)
    big_ms = 4_102_444_800_000  # 2100-01-01, beyond 32 bits
    with OrmSession(engine, expire_on_commit=False) as session:
        session.add(models.Reading(session_id=1, time_logged=big_ms, category_id=1, value=0.0))
        session.commit()
        assert session.scalars(select(models.Reading)).one().time_logged == big_ms
    engine.dispose()
