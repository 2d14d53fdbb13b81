"""Insert-if-missing and upsert statements that are race-free on SQLite and PostgreSQL.

Two clients (or threads) asking for the same new category at once must end with
one row; a SELECT-then-INSERT cannot promise that, `INSERT ... ON CONFLICT` can.
Other dialects fall back to inserting inside a savepoint and ignoring the
unique-key error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from blitz.data.models import Category, Config

__all__ = ["get_or_create_categories", "insert_missing", "validate_names", "write_config"]

# Both return an Insert with on_conflict_do_nothing/do_update, which the base Insert lacks.
_CONFLICT_DIALECTS: dict[str, Callable[[Table], Any]] = {
    "sqlite": sqlite.insert,
    "postgresql": postgresql.insert,
}


def insert_missing(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], key: str) -> None:
    """Insert `rows`, skipping each whose unique `key` column already holds its value."""
    if not rows:
        return
    dialect_insert = _CONFLICT_DIALECTS.get(conn.dialect.name)
    if dialect_insert is not None:
        conn.execute(dialect_insert(table).on_conflict_do_nothing(index_elements=[key]), list(rows))
        return
    for row in rows:  # portable fallback: one savepoint per row, only for rare dialects
        try:
            with conn.begin_nested():
                conn.execute(insert(table), dict(row))
        except IntegrityError:
            pass


def validate_names(names: Iterable[object]) -> list[str]:
    """Return the distinct category names in first-seen order, or raise ValueError naming a bad one."""
    if isinstance(names, (str, bytes)):
        raise ValueError(f"category names: expected a list of names, got the single string {names!r}")
    distinct: dict[str, None] = {}
    for position, name in enumerate(names):
        where = f"category name at position {position}"
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{where}: expected a non-empty string, got {name!r}")
        if len(name) > 255:
            raise ValueError(f"{where}: expected at most 255 characters, got {len(name)}")
        distinct[name] = None
    return list(distinct)


def get_or_create_categories(conn: Connection, names: Iterable[object]) -> dict[str, int]:
    """Return {variable_name: category id} for `names`, creating the missing ones (two queries)."""
    wanted = validate_names(names)
    if not wanted:
        return {}
    insert_missing(conn, Category.__table__, [{"variable_name": name} for name in wanted], "variable_name")
    found = conn.execute(
        select(Category.variable_name, Category.id).where(Category.variable_name.in_(wanted))
    ).all()
    ids = {name: category_id for name, category_id in found}
    return {name: ids[name] for name in wanted}


def write_config(conn: Connection, key: str, value: str, do_update: bool) -> None:
    """Store `value` under `key` (one row per key); an existing row changes only when `do_update`."""
    dialect_insert = _CONFLICT_DIALECTS.get(conn.dialect.name)
    if dialect_insert is None:
        insert_missing(conn, Config.__table__, [{"key": key, "value": value}], "key")
        if do_update:
            conn.execute(update(Config).where(Config.key == key).values(value=value))
        return
    statement = dialect_insert(Config.__table__).values(key=key, value=value)
    if do_update:
        conn.execute(statement.on_conflict_do_update(index_elements=["key"], set_={"value": value}))
    else:
        conn.execute(statement.on_conflict_do_nothing(index_elements=["key"]))
