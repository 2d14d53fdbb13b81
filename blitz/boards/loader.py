"""Loading boards: built-ins, `blitz.boards` entry points and TOML definition files.

A user describes a new board in a TOML file without writing Python:

    [[board]]
    id = 0x20
    description = "Wind tunnel pressure board"
    payload_bits = 64            # optional, default 64; a multiple of 4 up to 4096

    [[board.variable]]
    name = "pressure"
    bits = 16                    # width in bits
    signed = false               # optional
    scale = 0.01                 # optional: value = raw * scale + offset
    offset = -5.0                # optional
    unit = "kPa"                 # optional
    # bit_offset = 0             # optional: default packs after the previous variable

A package can ship boards through the entry-point group `blitz.boards`; each
entry point names a Board subclass, a Board instance, or a callable returning
an iterable of those.
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Mapping

from blitz.boards.builtin import BUILTIN_BOARDS
from blitz.boards.definition import Board, Variable
from blitz.errors import BoardDefinitionError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

ENTRY_POINT_GROUP = "blitz.boards"

_BOARD_KEYS = {"id", "description", "payload_bits", "variable"}
_VARIABLE_KEYS = {"name", "bits", "bit_offset", "signed", "scale", "offset", "unit"}


def _check_keys(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise BoardDefinitionError(
            f"{where}: unknown key {unknown[0]!r} (expected one of {', '.join(sorted(allowed))})"
        )


def _expect(value: Any, kind: type | tuple[type, ...], what: str, where: str) -> Any:
    if isinstance(value, bool) and kind is not bool:
        raise BoardDefinitionError(f"{where}: {what} must be {_kind_name(kind)}, got {value!r}")
    if not isinstance(value, kind):
        raise BoardDefinitionError(f"{where}: {what} must be {_kind_name(kind)}, got {value!r}")
    return value


def _number(value: Any, what: str, where: str) -> float:
    """A scale or offset as a float; numbers a float cannot hold are refused."""
    number = _expect(value, (int, float), what, where)
    try:
        return float(number)
    except OverflowError:
        raise BoardDefinitionError(f"{where}: {what} must be a number, got an integer of "
                                   f"{len(str(abs(number)))} digits (not finite as a float)") from None


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def board_from_table(table: Mapping[str, Any], where: str = "board") -> Board:
    """Build a Board from one parsed `[[board]]` table, with clear errors."""
    _check_keys(table, _BOARD_KEYS, where)
    for required in ("id", "description", "variable"):
        if required not in table:
            raise BoardDefinitionError(f"{where}: missing required key {required!r}")
    board_id = _expect(table["id"], int, "id", where)
    where = f"{where} (id 0x{board_id:02x})" if 0 <= board_id <= 0xFF else where
    description = _expect(table["description"], str, "description", where)
    payload_bits = _expect(table.get("payload_bits", 64), int, "payload_bits", where)
    raw_variables = table["variable"]
    if not isinstance(raw_variables, list) or not raw_variables:
        raise BoardDefinitionError(f"{where}: 'variable' must be a non-empty list of [[board.variable]] tables")
    variables = []
    next_bit = 0
    for number, var in enumerate(raw_variables, start=1):
        var_where = f"{where}: variable {number}"
        if not isinstance(var, dict):
            raise BoardDefinitionError(f"{var_where}: expected a table, got {var!r}")
        _check_keys(var, _VARIABLE_KEYS, var_where)
        for required in ("name", "bits"):
            if required not in var:
                raise BoardDefinitionError(f"{var_where}: missing required key {required!r}")
        name = _expect(var["name"], str, "name", var_where)
        var_where = f"{where}: variable {name!r}"
        width = _expect(var["bits"], int, "bits", var_where)
        bit_offset = _expect(var.get("bit_offset", next_bit), int, "bit_offset", var_where)
        try:
            variable = Variable(
                name=name,
                bit_offset=bit_offset,
                width=width,
                signed=_expect(var.get("signed", False), bool, "signed", var_where),
                scale=_number(var.get("scale", 1.0), "scale", var_where),
                offset=_number(var.get("offset", 0.0), "offset", var_where),
                unit=_expect(var.get("unit", ""), str, "unit", var_where),
            )
        except BoardDefinitionError as exc:
            if str(exc).startswith(where):
                raise
            raise BoardDefinitionError(f"{where}: {exc}") from None
        variables.append(variable)
        next_bit = bit_offset + width
    try:
        return Board(id=board_id, description=description, variables=variables, payload_bits=payload_bits)
    except BoardDefinitionError as exc:
        raise BoardDefinitionError(f"{where}: {exc}") from None


def load_board_file(path: str | Path) -> list[Board]:
    """Read every board of a TOML definition file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BoardDefinitionError(f"{path}: cannot read board definition file ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise BoardDefinitionError(f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
                                   f"{exc.start})") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BoardDefinitionError(f"{path}: not valid TOML ({exc})") from None
    _check_keys(document, {"board"}, str(path))
    tables = document.get("board")
    if not isinstance(tables, list) or not tables:
        raise BoardDefinitionError(f"{path}: expected at least one [[board]] table")
    return [board_from_table(table, f"{path}: board {n}") for n, table in enumerate(tables, start=1)]


def _as_boards(obj: Any, source: str) -> list[Board]:
    """Turn what an entry point gives into Board instances."""
    if isinstance(obj, type) and issubclass(obj, Board):
        return [obj()]
    if isinstance(obj, Board):
        return [obj]
    if callable(obj):
        produced = obj()
        items = [produced] if isinstance(produced, Board) or not isinstance(produced, Iterable) else list(produced)
        boards: list[Board] = []
        for item in items:
            if isinstance(item, Board) or (isinstance(item, type) and issubclass(item, Board)):
                boards.extend(_as_boards(item, source))
            else:
                raise BoardDefinitionError(f"{source}: the callable returned {item!r}, not a Board")
        if not boards:
            raise BoardDefinitionError(f"{source}: the callable returned no boards")
        return boards
    raise BoardDefinitionError(f"{source}: expected a Board subclass, instance or callable, got {obj!r}")


def load_entry_point_boards() -> list[Board]:
    """Boards that installed packages register in the `blitz.boards` group."""
    boards: list[Board] = []
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        source = f"entry point {entry_point.name!r} ({entry_point.value})"
        try:
            loaded = entry_point.load()
        except Exception as exc:  # a broken plug-in must say which one it is
            raise BoardDefinitionError(f"{source}: cannot be loaded ({exc})") from exc
        boards.extend(_as_boards(loaded, source))
    return boards


def _definition_files(paths: Iterable[str | Path]) -> list[Path]:
    files: list[Path] = []
    for path in map(Path, paths):
        files.extend(sorted(path.glob("*.toml")) if path.is_dir() else [path])
    return files


def load_boards(definition_paths: Iterable[str | Path] = (), entry_points: bool = True) -> dict[int, Board]:
    """All boards by id: built-ins, then entry points, then definition files.

    `definition_paths` may name TOML files or folders of them.  Two boards
    with one id are an error naming both, since a silent override would decode
    a session with the wrong layout.
    """
    found: dict[int, tuple[Board, str]] = {}

    def add(board: Board, source: str) -> None:
        if board.id in found:
            raise BoardDefinitionError(
                f"board id 0x{board.id:02x} from {source} is already defined by {found[board.id][1]}"
            )
        found[board.id] = (board, source)

    for board_class in BUILTIN_BOARDS:
        add(board_class(), "Blitz's built-in boards")
    if entry_points:
        for board in load_entry_point_boards():
            add(board, f"entry point group {ENTRY_POINT_GROUP!r}")
    for path in _definition_files(definition_paths):
        for board in load_board_file(path):
            add(board, str(path))
    return {board_id: board for board_id, (board, _) in found.items()}


__all__ = [
    "ENTRY_POINT_GROUP",
    "board_from_table",
    "load_board_file",
    "load_boards",
    "load_entry_point_boards",
]
