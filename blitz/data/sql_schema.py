"""Create the client store's tables and migrate older databases to the current schema.

How versioning works:

- The schema version is the integer in the `config` row whose key is
  `schema_version`.  The current version is `len(MIGRATIONS)`.
- `MIGRATIONS` is an ordered tuple of steps; step `i` (0-based) takes a database
  from version `i` to `i + 1`.  A step receives the open `Connection` of one
  transaction, so a failing step leaves the database at its old version.
- At startup `ensure_schema` creates missing tables from the models.  A database
  with no tables at all is brand new and already current, so it only records the
  version; any other database without the row is version 0 (made before
  versioning) and runs every step.  Then the steps from the stored version on run,
  and the row is updated.
- To change the schema: edit the model, and append a step that brings an
  existing database to the same shape (check first, so it is safe to rerun).
  Never edit or reorder released steps.  A database newer than this code raises
  `StorageError` instead of being silently misread.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, Engine, inspect, select, text, update

from blitz.data.models import READING_INDEX, Base, Config
from blitz.errors import StorageError

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "SCHEMA_VERSION_KEY", "ensure_schema", "read_schema_version"]

SCHEMA_VERSION_KEY = "schema_version"

Migration = Callable[[Connection], None]


def _add_session_downloaded_messages(conn: Connection) -> None:
    """Version 0 -> 1: sessions count their stored messages (availability is computed from it)."""
    columns = {column["name"] for column in inspect(conn).get_columns("session")}
    if "downloaded_messages" not in columns:
        conn.execute(text("ALTER TABLE session ADD COLUMN downloaded_messages INTEGER NOT NULL DEFAULT 0"))


def _cover_reading_values(conn: Connection) -> None:
    """Version 1 -> 2: the reading index also holds `value`, so browse queries never read the table.

    Rebuilding it reads every reading once (seconds per million on a laptop).
    """
    conn.execute(text("DROP INDEX IF EXISTS ix_reading_session_category_time"))
    conn.execute(text(
        f"CREATE INDEX IF NOT EXISTS {READING_INDEX} ON reading (session_id, category_id, time_logged, value)"
    ))


MIGRATIONS: tuple[Migration, ...] = (_add_session_downloaded_messages, _cover_reading_values)
SCHEMA_VERSION = len(MIGRATIONS)


def read_schema_version(conn: Connection) -> int | None:
    """Return the stored schema version, or None when the database has no version row."""
    raw = conn.execute(select(Config.value).where(Config.key == SCHEMA_VERSION_KEY)).scalar_one_or_none()
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise StorageError(f"config row {SCHEMA_VERSION_KEY!r}: expected an integer, got {raw!r}") from exc


def ensure_schema(engine: Engine, force_drop: bool = False) -> int:
    """Create missing tables, run pending migrations and return the resulting version.

    `force_drop` drops every Blitz table first (all local data is lost).
    """
    with engine.begin() as conn:
        if force_drop:
            Base.metadata.drop_all(conn)
        existing = set(inspect(conn).get_table_names())
        brand_new = not existing.intersection(Base.metadata.tables)
        Base.metadata.create_all(conn)
        stored = read_schema_version(conn)
        version = SCHEMA_VERSION if brand_new and stored is None else (stored or 0)
        if version > SCHEMA_VERSION:
            raise StorageError(
                f"database schema version {version} is newer than this Blitz understands "
                f"(up to {SCHEMA_VERSION}); upgrade Blitz to open it"
            )
        for step in MIGRATIONS[version:]:
            step(conn)
        if stored is None:
            conn.execute(Config.__table__.insert().values(key=SCHEMA_VERSION_KEY, value=str(SCHEMA_VERSION)))
        elif stored != SCHEMA_VERSION:
            conn.execute(
                update(Config).where(Config.key == SCHEMA_VERSION_KEY).values(value=str(SCHEMA_VERSION))
            )
    return SCHEMA_VERSION
