"""Write thousands of readings or cache rows per statement: executemany, or COPY on PostgreSQL.

Downloads store millions of readings; building ORM objects or committing per row
would dominate the time, so rows go in as plain tuples through the driver.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Union

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, Table

__all__ = ["ArrayLike", "copy_rows", "prepare_columns", "write_rows"]

ArrayLike = Union[Sequence[int], Sequence[float], npt.NDArray[Any]]

_INT64_MAX = np.iinfo(np.int64).max


def prepare_columns(columns: dict[str, tuple[ArrayLike, type]]) -> list[npt.NDArray[Any]]:
    """Convert each named sequence to a 1-D int64 or float64 array, checking shapes and values.

    Errors name the argument and what was wrong, so a caller's bug is found before
    any row is written.
    """
    arrays: list[npt.NDArray[Any]] = []
    lengths: dict[str, int] = {}
    for name, (values, kind) in columns.items():
        dtype = np.int64 if kind is int else np.float64
        array = _to_array(name, values, dtype)
        lengths[name] = len(array)
        arrays.append(array)
    if len(set(lengths.values())) > 1:
        described = ", ".join(f"{name}={length}" for name, length in lengths.items())
        raise ValueError(f"bulk insert: expected sequences of equal length, got {described}")
    return arrays


def _to_array(name: str, values: ArrayLike, dtype: type) -> npt.NDArray[Any]:
    """One column as a 1-D array of `dtype`; ints must be whole, floats finite."""
    try:
        raw = np.asarray(values)
    except Exception as exc:  # ragged nested lists and the like
        raise ValueError(f"{name}: expected a 1-D sequence of numbers ({exc})") from exc
    if raw.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D sequence of numbers, got shape {raw.shape}")
    if raw.size == 0:
        return np.empty(0, dtype=dtype)
    if raw.dtype.kind not in "biuf":
        position, bad = next(
            ((i, v) for i, v in enumerate(values) if not isinstance(v, (int, float, np.number))),
            (0, raw[0]),
        )
        raise ValueError(f"{name}[{position}]: expected a number, got {bad!r}")
    if dtype is np.float64:
        array = raw.astype(np.float64)
        if not np.isfinite(array).all():
            index = int(np.flatnonzero(~np.isfinite(array))[0])
            raise ValueError(f"{name}[{index}]: expected a finite number, got {array[index]!r}")
        return array
    if raw.dtype.kind == "f":
        whole = np.isfinite(raw) & (np.floor(raw) == raw) & (np.abs(raw) <= _INT64_MAX)
        if not whole.all():
            index = int(np.flatnonzero(~whole)[0])
            raise ValueError(f"{name}[{index}]: expected a whole number, got {raw[index]!r}")
    elif raw.dtype == np.uint64 and (raw > _INT64_MAX).any():
        index = int(np.flatnonzero(raw > _INT64_MAX)[0])
        raise ValueError(f"{name}[{index}]: expected a signed 64-bit integer, got {raw[index]!r}")
    return raw.astype(np.int64)


def write_rows(
    conn: Connection, table: Table, columns: Sequence[str], arrays: Sequence[npt.NDArray[Any]]
) -> int:
    """Insert the rows zipped from `arrays` (one per name in `columns`) into `table`.

    Runs inside the caller's transaction: SQLite gets one DBAPI executemany of
    tuples, PostgreSQL with psycopg a COPY, any other dialect a Core executemany.
    """
    unknown = [name for name in columns if name not in table.columns]
    if unknown or len(arrays) != len(columns) or not columns:
        raise ValueError(f"{table.name}: expected one array per column of {list(columns)}, unknown {unknown}")
    if len(arrays[0]) == 0:
        return 0
    rows = list(zip(*(array.tolist() for array in arrays)))
    dialect = conn.dialect
    if dialect.name == "sqlite":
        marks = ", ".join("?" for _ in columns)
        conn.exec_driver_sql(f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})", rows)
    elif dialect.name == "postgresql" and dialect.driver == "psycopg":
        copy_rows(conn, table.name, columns, rows)
    else:
        conn.execute(table.insert(), [dict(zip(columns, row)) for row in rows])
    return len(rows)


def copy_rows(conn: Connection, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
    """Stream `rows` with psycopg's COPY FROM STDIN on the connection's open transaction."""
    driver_connection: Any = conn.connection.driver_connection
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    with driver_connection.cursor() as cursor:
        with cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
