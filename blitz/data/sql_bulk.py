"""Write thousands of readings or cache rows per statement: multi-row INSERT, or COPY on PostgreSQL.

Downloads store millions of readings; building ORM objects or committing per row
would dominate the time, so rows go in as plain values through the driver.  On
SQLite one INSERT of a few hundred rows binds them all in C, about twice as
fast as executemany, which steps the statement once per row from Python.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, Literal, Union

import numpy as np
import numpy.typing as npt
from sqlalchemy import BigInteger, Connection, Float, Integer, Table

__all__ = [
    "ArrayLike",
    "ColumnKind",
    "copy_rows",
    "prepare_columns",
    "prepare_samples",
    "write_rows",
]

ArrayLike = Union[Sequence[int], Sequence[float], npt.NDArray[Any]]

ColumnKind = Literal["int32", "int64", "float64"]

#: Rows per SQLite INSERT statement (fewer when the build allows fewer bound variables).
SQLITE_ROWS_PER_INSERT = 500
_SQLITE_DEFAULT_VARIABLES = 999  # SQLITE_MAX_VARIABLE_NUMBER before SQLite 3.32
_SQLITE_LIMIT_VARIABLE_NUMBER = getattr(sqlite3, "SQLITE_LIMIT_VARIABLE_NUMBER", 9)

_INT_BOUNDS: dict[str, tuple[int, int]] = {
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
}


def prepare_columns(columns: dict[str, tuple[ArrayLike, ColumnKind]]) -> list[npt.NDArray[Any]]:
    """Convert each named sequence to a 1-D int64 or float64 array, checking shapes and values.

    Errors name the argument, the position and what was wrong, so a caller's bug
    is found before any row is written (and alike on every database).
    """
    arrays: list[npt.NDArray[Any]] = []
    lengths: dict[str, int] = {}
    for name, (values, kind) in columns.items():
        array = _to_array(name, values, kind)
        lengths[name] = len(array)
        arrays.append(array)
    if len(set(lengths.values())) > 1:
        described = ", ".join(f"{name}={length}" for name, length in lengths.items())
        raise ValueError(f"bulk insert: expected sequences of equal length, got {described}")
    return arrays


def prepare_samples(
    time_logged: ArrayLike, category_id: ArrayLike, value: ArrayLike
) -> list[npt.NDArray[Any]]:
    """The checked time, category id (int32 range) and value columns of readings and cache rows."""
    return prepare_columns(
        {
            "time_logged": (time_logged, "int64"),
            "category_id": (category_id, "int32"),
            "value": (value, "float64"),
        }
    )


def _first(name: str, mask: npt.NDArray[np.bool_], raw: npt.NDArray[Any], expected: str) -> ValueError:
    """The error for the first position where `mask` is False."""
    index = int(np.flatnonzero(~mask)[0])
    return ValueError(f"{name}[{index}]: expected {expected}, got {raw[index].item()!r}")


def _to_array(name: str, values: ArrayLike, kind: ColumnKind) -> npt.NDArray[Any]:
    """One column as a 1-D float64 array of finite values, or int64 of whole numbers within `kind`."""
    try:
        raw = np.asarray(values)
    except Exception as exc:  # ragged nested lists and the like
        raise ValueError(f"{name}: expected a 1-D sequence of numbers ({exc})") from exc
    if raw.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D sequence of numbers, got shape {raw.shape}")
    if raw.size == 0:
        return np.empty(0, dtype=np.float64 if kind == "float64" else np.int64)
    if raw.dtype.kind not in "biuf":
        position, bad = next(
            ((i, v) for i, v in enumerate(values) if not isinstance(v, (int, float, np.number))),
            (0, raw[0]),
        )
        raise ValueError(f"{name}[{position}]: expected a number, got {bad!r}")
    if kind == "float64":
        array = raw.astype(np.float64)
        finite = np.isfinite(array)
        if not finite.all():
            raise _first(name, finite, array, "a finite number")
        return array
    low, high = _INT_BOUNDS[kind]
    if raw.dtype.kind == "f":
        whole = np.isfinite(raw) & (np.floor(raw) == raw)
        if not whole.all():
            raise _first(name, whole, raw, "a whole number")
        inside = (raw >= float(low)) & (raw < float(high) + 1.0)
    elif raw.dtype.kind == "u":
        inside = raw <= np.uint64(high)
    else:
        wide = raw.astype(np.int64)
        inside = (wide >= low) & (wide <= high)
    if not inside.all():
        raise _first(name, inside, raw, f"an integer in [{low}, {high}]")
    return raw.astype(np.int64)


def write_rows(
    conn: Connection, table: Table, columns: Sequence[str], arrays: Sequence[npt.NDArray[Any]]
) -> int:
    """Insert the rows zipped from `arrays` (one per name in `columns`) into `table`.

    Runs inside the caller's transaction: SQLite gets multi-row INSERTs on the
    DBAPI cursor, PostgreSQL with psycopg a COPY, any other dialect a Core executemany.
    """
    unknown = [name for name in columns if name not in table.columns]
    if unknown or len(arrays) != len(columns) or not columns:
        raise ValueError(f"{table.name}: expected one array per column of {list(columns)}, unknown {unknown}")
    if len(arrays[0]) == 0:
        return 0
    dialect = conn.dialect
    if dialect.name == "sqlite":
        return _sqlite_insert(conn, table, columns, arrays)
    if dialect.name == "postgresql" and dialect.driver == "psycopg":
        block = _binary_copy_block(_binary_copy_types(table, columns), arrays)
        if block is not None:
            _copy_block(conn, table, columns, block)
            return len(arrays[0])
    rows = list(zip(*(array.tolist() for array in arrays)))
    if dialect.name == "postgresql" and dialect.driver == "psycopg":
        copy_rows(conn, table, columns, rows)
    else:
        conn.execute(table.insert(), [dict(zip(columns, row)) for row in rows])
    return len(rows)


def _sqlite_insert(
    conn: Connection, table: Table, columns: Sequence[str], arrays: Sequence[npt.NDArray[Any]]
) -> int:
    """INSERT the rows `SQLITE_ROWS_PER_INSERT` at a time, each statement binding all its values at once."""
    width = len(columns)
    count = len(arrays[0])
    flat: list[Any] = [None] * (width * count)
    for position, array in enumerate(arrays):  # row-major: row i's values at [i * width, (i + 1) * width)
        flat[position::width] = array.tolist()
    values = tuple(flat)  # a tuple is one positional parameter set to exec_driver_sql
    getlimit = getattr(conn.connection.driver_connection, "getlimit", None)  # Python 3.11+
    variables = getlimit(_SQLITE_LIMIT_VARIABLE_NUMBER) if getlimit is not None else _SQLITE_DEFAULT_VARIABLES
    per_statement = max(1, min(SQLITE_ROWS_PER_INSERT, variables // width))
    head = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES "
    row = "(" + ", ".join("?" * width) + ")"
    full = head + ", ".join([row] * per_statement)
    for start in range(0, count, per_statement):
        rows = min(per_statement, count - start)
        statement = full if rows == per_statement else head + ", ".join([row] * rows)
        conn.exec_driver_sql(statement, values[start * width : (start + rows) * width])
    return count


def _binary_copy_types(table: Table, columns: Sequence[str]) -> list[str] | None:
    """PostgreSQL type names for a binary COPY of `columns`, or None if one has no known mapping."""
    names: list[str] = []
    for name in columns:
        column_type = table.columns[name].type
        if isinstance(column_type, BigInteger):
            names.append("int8")
        elif isinstance(column_type, Integer):
            names.append("int4")
        elif isinstance(column_type, Float):
            names.append("float8")
        else:
            return None
    return names


_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension length
_COPY_TRAILER = b"\xff\xff"
_COPY_FIELDS = {"int4": ">i4", "int8": ">i8", "float8": ">f8"}  # network byte order, never NULL
_COPY_KINDS = {"int4": "iu", "int8": "iu", "float8": "fiu"}  # the numpy kinds each field takes


def _binary_copy_block(types: list[str] | None, arrays: Sequence[npt.NDArray[Any]]) -> bytes | None:
    """The whole binary COPY stream of the rows zipped from `arrays`, laid out by numpy.

    Every row is a field count, then each field's length and big-endian value:
    one structured array instead of psycopg formatting row by row in Python.
    None when a column cannot be laid out so (unknown type, or values that do
    not fit, which the row-by-row COPY then reports).
    """
    if types is None:
        return None
    fields: list[tuple[str, str]] = [("count", ">i2")]
    for index, name in enumerate(types):
        fields += [(f"size{index}", ">i4"), (f"value{index}", _COPY_FIELDS[name])]
    for name, array in zip(types, arrays):
        if array.dtype.kind not in _COPY_KINDS[name]:
            return None
        bounds = _INT_BOUNDS.get("int32" if name == "int4" else "int64")
        if name != "float8" and bounds is not None and (array.min() < bounds[0] or array.max() > bounds[1]):
            return None
    rows = np.empty(len(arrays[0]), dtype=np.dtype(fields))
    rows["count"] = len(types)
    for index, (name, array) in enumerate(zip(types, arrays)):
        rows[f"size{index}"] = np.dtype(_COPY_FIELDS[name]).itemsize
        rows[f"value{index}"] = array
    return _COPY_SIGNATURE + rows.tobytes() + _COPY_TRAILER


def _copy_block(conn: Connection, table: Table, columns: Sequence[str], block: bytes) -> None:
    """Send a complete binary COPY stream on the connection's open transaction."""
    driver_connection: Any = conn.connection.driver_connection
    with driver_connection.cursor() as cursor:
        with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(block)


def copy_rows(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Stream `rows` with psycopg's COPY FROM STDIN on the connection's open transaction.

    Binary format when every column type is known (faster: no text parsing on the
    server), text otherwise.
    """
    driver_connection: Any = conn.connection.driver_connection
    types = _binary_copy_types(table, columns)
    statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
    if types is not None:
        statement += " (FORMAT BINARY)"
    with driver_connection.cursor() as cursor:
        with cursor.copy(statement) as copy:
            if types is not None:
                copy.set_types(types)
            for row in rows:
                copy.write_row(row)
