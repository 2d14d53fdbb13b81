"""Keep the local session list in step with the logger's, and decide which sessions are viewable.

A session is available when every message the logger reported for it
(`number_of_readings`) is stored locally (`downloaded_messages`).  The count is
kept per session because one message holds several readings, so counting
reading rows cannot tell a complete download from a partial one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, bindparam, delete, select, update

from blitz.data.models import Session
from blitz.data.sql_upsert import insert_missing

__all__ = [
    "SessionInfo",
    "availability_rule",
    "parse_session_list",
    "refresh_availability",
    "replace_session_list",
]

_RUNNING = ("None", "none", "null", "")


@dataclass(frozen=True)
class SessionInfo:
    """One logger session as reported over the wire; `time_stopped` None while it runs."""

    ref_id: int
    time_started: int | None
    time_stopped: int | None
    number_of_readings: int


def availability_rule() -> ColumnElement[bool]:
    """SQL truth of "every reported message is stored"; an empty session has nothing to view."""
    return and_(Session.number_of_readings > 0, Session.downloaded_messages >= Session.number_of_readings)


def _parse_int(value: Any, where: str, nullable: bool) -> int | None:
    """An int from an int or a decimal string; None/"None" only where `nullable`."""
    if value is None or (isinstance(value, str) and value.strip() in _RUNNING):
        if nullable:
            return None
        raise ValueError(f"{where}: expected an integer, got {value!r}")
    if isinstance(value, bool):
        raise ValueError(f"{where}: expected an integer, got the boolean {value!r}")
    if isinstance(value, int):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = int(value.strip())
        except ValueError:
            raise ValueError(f"{where}: expected an integer, got {value!r}") from None
    else:
        raise ValueError(f"{where}: expected an integer or its string, got {value!r}")
    if parsed < 0:
        raise ValueError(f"{where}: expected a value >= 0, got {parsed}")
    return parsed


def parse_session_list(sessions_list: Iterable[Any]) -> list[SessionInfo]:
    """Parse `[ref_id, time_started, time_stopped, number_of_readings]` items (ints or wire strings).

    An item may also be one wire string `"<id> <start> <end or None> <count>"`.
    Raises ValueError naming the item and field that is wrong.
    """
    if isinstance(sessions_list, (str, bytes)):
        raise ValueError(f"sessions_list: expected a list of sessions, got the string {sessions_list!r}")
    parsed: dict[int, SessionInfo] = {}
    for index, item in enumerate(sessions_list):
        fields: Sequence[Any] = item.split() if isinstance(item, str) else item
        if not isinstance(fields, Sequence) or len(fields) != 4:
            raise ValueError(
                f"sessions_list[{index}]: expected [ref_id, time_started, time_stopped, "
                f"number_of_readings], got {item!r}"
            )
        where = f"sessions_list[{index}]"
        ref_id = _parse_int(fields[0], f"{where} ref_id", nullable=False)
        assert ref_id is not None
        count = _parse_int(fields[3], f"{where} number_of_readings", nullable=False)
        assert count is not None
        info = SessionInfo(
            ref_id=ref_id,
            time_started=_parse_int(fields[1], f"{where} time_started", nullable=True),
            time_stopped=_parse_int(fields[2], f"{where} time_stopped", nullable=True),
            number_of_readings=count,
        )
        if ref_id in parsed:
            raise ValueError(f"{where}: session {ref_id} is listed twice")
        parsed[ref_id] = info
    return list(parsed.values())


def refresh_availability(conn: Connection, ref_id: int | None = None) -> None:
    """Recompute `available` for one session (by logger number) or, with None, for all."""
    statement = update(Session).values(available=availability_rule())
    if ref_id is not None:
        statement = statement.where(Session.ref_id == ref_id)
    conn.execute(statement)


def replace_session_list(conn: Connection, sessions: Sequence[SessionInfo]) -> None:
    """Make the local list match `sessions`, keeping each session's stored-message count.

    Sessions the logger no longer lists are dropped, except those with messages
    stored here: their readings stay browsable instead of being orphaned.
    """
    known = set(conn.execute(select(Session.ref_id)).scalars())
    wanted = {info.ref_id for info in sessions}
    stale = [ref for ref in known if ref not in wanted]
    if stale:
        conn.execute(delete(Session).where(Session.ref_id.in_(stale), Session.downloaded_messages == 0))
    if sessions:
        insert_missing(conn, Session.__table__, [_values(info) for info in sessions], "ref_id")
        conn.execute(
            update(Session)
            .where(Session.ref_id == bindparam("b_ref_id"))
            .values(
                time_started=bindparam("b_time_started"),
                time_stopped=bindparam("b_time_stopped"),
                number_of_readings=bindparam("b_number_of_readings"),
            ),
            [{f"b_{key}": value for key, value in _values(info).items()} for info in sessions],
        )
    refresh_availability(conn)


def _values(info: SessionInfo) -> dict[str, Any]:
    return {
        "ref_id": info.ref_id,
        "time_started": info.time_started,
        "time_stopped": info.time_stopped,
        "number_of_readings": info.number_of_readings,
    }
