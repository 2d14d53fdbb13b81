"""Random board definition files: a BoardDefinitionError or a board that works, nothing else.

blitz/boards/loader.py reads TOML written by users.  Whatever the document
holds (any keys, any value types, absurd numbers, text that is not TOML at
all) loading must either raise BoardDefinitionError naming the problem, or
give boards that decode lines: a board that loads and then breaks a download
is as bad as a crash.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from blitz.boards import decode_chunk
from blitz.boards.definition import Board
from blitz.boards.loader import board_from_table, load_board_file
from blitz.errors import BoardDefinitionError

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

BOARD_KEYS = ["id", "description", "payload_bits", "variable"]
VARIABLE_KEYS = ["name", "bits", "bit_offset", "signed", "scale", "offset", "unit"]

# -- a small TOML writer (tomllib only reads) ----------------------------------


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON's escapes are TOML's
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_value(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def toml_document(boards: Any, extra: dict[str, Any]) -> str:
    """`[[board]]` tables with `[[board.variable]]` sub-tables, plus extra top-level keys."""
    out = [f"{toml_value(key)} = {toml_value(value)}" for key, value in extra.items()]
    if not isinstance(boards, list):
        out.append(f"board = {toml_value(boards)}")
        return "\n".join(out) + "\n"
    for board in boards:
        out.append("[[board]]")
        variables = board.get("variable") if isinstance(board, dict) else None
        for key, value in (board.items() if isinstance(board, dict) else []):
            if key != "variable" or not isinstance(variables, list) or not all(isinstance(v, dict) for v in variables):
                out.append(f"{toml_value(key)} = {toml_value(value)}")
        if isinstance(variables, list) and all(isinstance(v, dict) for v in variables):
            for var in variables:
                out.append("[[board.variable]]")
                out.extend(f"{toml_value(k)} = {toml_value(v)}" for k, v in var.items())
    return "\n".join(out) + "\n"


# -- strategies ---------------------------------------------------------------------

scalars = st.one_of(
    st.integers(-(2**70), 2**70), st.integers(-3, 300),
    st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
    st.text(max_size=12), st.sampled_from(["adc", "x_1", "class", "1x", "", " ", "pressure"]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3), max_leaves=6)
names = st.one_of(st.sampled_from(["v", "adc_one", "adc_two", "t", "_x", "None", "for", "a-b", "é"]),
                  st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True))


@st.composite
def variables(draw: st.DrawFn) -> dict[str, Any]:
    var: dict[str, Any] = {}
    if draw(st.integers(0, 19)):
        var["name"] = draw(st.one_of(names, names, values))
    if draw(st.integers(0, 19)):
        var["bits"] = draw(st.one_of(st.integers(1, 16), st.integers(-2, 70), values))
    for key in ["bit_offset", "signed", "scale", "offset", "unit"]:
        if draw(st.booleans()):
            var[key] = draw({
                "bit_offset": st.one_of(st.integers(0, 70), st.integers(-(2**40), 2**70)),
                "signed": st.one_of(st.booleans(), values),
                "scale": st.one_of(st.floats(-1e6, 1e6), values, st.integers(-(2**1100), 2**1100)),
                "offset": st.one_of(st.floats(-1e6, 1e6), values, st.integers(-(2**1100), 2**1100)),
                "unit": st.one_of(st.text(max_size=5), values),
            }[key])
    if draw(st.integers(0, 19)) == 0:
        var[draw(st.text(min_size=1, max_size=6))] = draw(values)
    return var


@st.composite
def boards(draw: st.DrawFn) -> dict[str, Any]:
    board: dict[str, Any] = {}
    if draw(st.integers(0, 19)):
        board["id"] = draw(st.one_of(st.integers(0, 255), st.integers(0, 255), st.integers(-(2**40), 2**40), values))
    if draw(st.integers(0, 19)):
        board["description"] = draw(st.one_of(st.text(min_size=1, max_size=20), st.text(max_size=3), values))
    if draw(st.booleans()):
        board["payload_bits"] = draw(st.one_of(st.sampled_from([64, 128, 512, 60, 66, 0, -64]),
                                               st.integers(-(2**40), 2**70).map(lambda n: n * 4), values))
    if draw(st.integers(0, 19)):
        board["variable"] = draw(st.one_of(st.lists(variables(), min_size=1, max_size=6),
                                           st.lists(variables(), max_size=6), values))
    if draw(st.integers(0, 19)) == 0:
        board[draw(st.text(min_size=1, max_size=6))] = draw(values)
    return board


@st.composite
def valid_boards(draw: st.DrawFn) -> dict[str, Any]:
    """A board table that loads, for mutation."""
    count = draw(st.integers(1, 5))
    names_drawn = draw(st.lists(st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True), min_size=count,
                                max_size=count, unique=True).filter(lambda ns: not any(
                                    __import__("keyword").iskeyword(n) for n in ns)))
    board: dict[str, Any] = {"id": draw(st.integers(0, 255)), "description": draw(st.text(min_size=1, max_size=12)
                                                                                    .filter(str.strip))}
    if draw(st.booleans()):
        board["payload_bits"] = draw(st.sampled_from([64, 128, 512]))
    board["variable"] = []
    for name in names_drawn:
        var: dict[str, Any] = {"name": name, "bits": draw(st.integers(1, 12))}
        if draw(st.booleans()):
            var["signed"] = draw(st.booleans())
        if draw(st.booleans()):
            var["scale"] = draw(st.floats(-1e3, 1e3).filter(lambda x: x != 0))
        if draw(st.booleans()):
            var["offset"] = draw(st.floats(-1e3, 1e3))
        if draw(st.booleans()):
            var["unit"] = draw(st.text(max_size=4))
        board["variable"].append(var)
    return board


@st.composite
def mutated_boards(draw: st.DrawFn) -> dict[str, Any]:
    """A valid board with up to three random changes: a value replaced, a key removed or added."""
    board = draw(valid_boards())
    for _ in range(draw(st.integers(0, 3))):
        tables = [board] + [v for v in board["variable"] if isinstance(v, dict)] if isinstance(
            board.get("variable"), list) else [board]
        table = draw(st.sampled_from(tables))
        action = draw(st.sampled_from(["replace", "replace", "remove", "add"]))
        keys = sorted(table)
        if action == "add" or not keys:
            table[draw(st.sampled_from(VARIABLE_KEYS + BOARD_KEYS + ["junk"]))] = draw(values)
        elif action == "remove":
            del table[draw(st.sampled_from(keys))]
        else:
            table[draw(st.sampled_from(keys))] = draw(st.one_of(values, st.integers(-(2**70), 2**70)))
    return board


documents = st.builds(
    toml_document,
    st.one_of(*[st.lists(mutated_boards(), min_size=1, max_size=3)] * 4, st.lists(boards(), max_size=3), values),
    st.one_of(st.just({}), st.just({}), st.just({}), st.dictionaries(st.sampled_from(["boards", "x"]), values,
                                                                     max_size=1)),
)


# -- the oracle -----------------------------------------------------------------------


def check_works(board: Board) -> None:
    """A loaded board decodes a line of its size, alone and in a chunk."""
    assert 0 <= board.id <= 0xFF and board.variables
    rng = np.random.default_rng(board.id)
    hex_chars = board.payload_bits // 4
    payload = "".join("0123456789abcdef"[n] for n in rng.integers(0, 16, hex_chars))
    line = f"{board.id:02x}a000001000{payload}"
    values = board.decode(line)
    assert list(values) == board.variable_names
    chunk = decode_chunk([line, line], {board.id: board})
    assert chunk.decoded_messages == 2 and not chunk.errors
    assert len(chunk) == 2 * len(board.variables)


def load(path: Path, text: str) -> list[Board]:
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    return load_board_file(path)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=documents)
@example(text='[[board]]\nid = 32\ndescription = "big"\npayload_bits = 4000000000\n'
              '[[board.variable]]\nname = "v"\nbits = 8\n')
@example(text='[[board]]\nid = 32\ndescription = "huge"\n[[board.variable]]\nname = "v"\nbits = 8\n'
              f'scale = {2**1100}\n')
@example(text='[[board]]\nid = 32\ndescription = "inf"\n[[board.variable]]\nname = "v"\nbits = 8\nscale = inf\n')
def test_random_documents_load_or_say_what_is_wrong(tmp_path: Path, text: str) -> None:
    try:
        loaded = load(tmp_path / "boards.toml", text)
    except BoardDefinitionError as error:
        assert str(error).startswith(str(tmp_path / "boards.toml")), error
        return
    for board in loaded:
        check_works(board)
        for var in board.variables:
            assert math.isfinite(var.scale) and math.isfinite(var.offset), var


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=200))
def test_any_text_loads_or_says_what_is_wrong(tmp_path: Path, text: str) -> None:
    try:
        loaded = load(tmp_path / "boards.toml", text)
    except BoardDefinitionError:
        return
    for board in loaded:
        check_works(board)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(max_size=120), documents.map(lambda t: t.encode("utf-8") + b"\xff")))
@example(data=b'[[board]]\nid = 32\nn\x9f\x91e = "v"\n')
def test_any_bytes_load_or_say_what_is_wrong(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "boards.toml"
    path.write_bytes(data)
    try:
        loaded = load_board_file(path)
    except BoardDefinitionError as error:
        assert str(error).startswith(str(path)), error
        return
    for board in loaded:
        check_works(board)


@settings(max_examples=200, deadline=None)
@given(table=st.one_of(mutated_boards(), boards(), st.dictionaries(st.text(max_size=5), values, max_size=4)))
def test_tables_give_a_board_or_a_definition_error(table: dict[str, Any]) -> None:
    try:
        board = board_from_table(table)
    except BoardDefinitionError:
        return
    check_works(board)
