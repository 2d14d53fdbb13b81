"""The SQL tables of the client's local store, as SQLAlchemy 2 typed models.

Table and attribute names are fixed by api.md; users' scripts query them.
Times are integer milliseconds since the Unix epoch, stored as BIGINT.
"""

from __future__ import annotations

from typing import Any, ClassVar, Optional

from sqlalchemy import BigInteger, Boolean, Float, Index, Integer, String, Table, Text, false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "Base",
    "Cache",
    "Category",
    "Config",
    "Notification",
    "Reading",
    "Session",
]

#: The readings' query index: (session_id, category_id, time_logged, value).
READING_INDEX = "ix_reading_session_category_time_value"


class Base(DeclarativeBase):
    """Declarative base of every Blitz model; `to_dict` uses the table's columns."""

    __table__: ClassVar[Table]  # every Blitz model maps one plain Table

    def to_dict(self) -> dict[str, Any]:
        """Return the row as a plain dict keyed by attribute name (for JSON and export)."""
        return {column.key: getattr(self, column.key) for column in self.__table__.columns}

    def __repr__(self) -> str:
        fields = ", ".join(f"{key}={value!r}" for key, value in self.to_dict().items())
        return f"{type(self).__name__}({fields})"


class Session(Base):
    """A logging session the logger reported; `ref_id` is the logger's session number."""

    __tablename__ = "session"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref_id: Mapped[int] = mapped_column(Integer, unique=True)
    available: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    time_started: Mapped[Optional[int]] = mapped_column(BigInteger)
    time_stopped: Mapped[Optional[int]] = mapped_column(BigInteger)
    number_of_readings: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Messages of this session stored locally; availability is computed from it
    # (a message holds several readings, so reading rows cannot tell).
    downloaded_messages: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Reading(Base):
    """One decoded variable value of a stored session.

    The index covers every column the browse queries read (statistics, chart
    envelopes, pages, exports), so they never visit the table's rows.
    """

    __tablename__ = "reading"
    __table_args__ = (
        Index(READING_INDEX, "session_id", "category_id", "time_logged", "value"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    session_id: Mapped[int] = mapped_column(Integer)
    time_logged: Mapped[int] = mapped_column(BigInteger)
    category_id: Mapped[int] = mapped_column(Integer)
    value: Mapped[float] = mapped_column(Float)


class Category(Base):
    """A variable name such as `adc_channel_one`; readings refer to it by id."""

    __tablename__ = "category"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    variable_name: Mapped[str] = mapped_column(String(255), unique=True)


class Cache(Base):
    """A live value received outside a download, shown by the live view."""

    __tablename__ = "cache"
    __table_args__ = (Index("ix_cache_category_time", "category_id", "time_logged"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    time_logged: Mapped[int] = mapped_column(BigInteger)
    category_id: Mapped[int] = mapped_column(Integer)
    value: Mapped[float] = mapped_column(Float)


class Config(Base):
    """One client setting; values are strings, one row per key."""

    __tablename__ = "config"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    value: Mapped[str] = mapped_column(Text)


class Notification(Base):
    """An error or warning shown to the user until handled."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    time_logged: Mapped[int] = mapped_column(BigInteger)
    severity: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    description: Mapped[str] = mapped_column(Text)
