"""Third-party boards from TOML definition files and the `blitz.boards` entry points."""

import textwrap

import pytest

from blitz.boards import load_board_file, load_boards
from blitz.errors import BoardDefinitionError

GOOD = """
[[board]]
id = 0x20
description = "Wind tunnel pressure board"

[[board.variable]]
name = "pressure"
bits = 16
scale = 0.01
offset = -5.0
unit = "kPa"

[[board.variable]]
name = "temperature"
bits = 12
signed = true

[[board.variable]]
name = "door_open"
bits = 1
bit_offset = 40
"""


def write(tmp_path, text, name="boards.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_definition_file_defines_a_working_board(tmp_path):
    (board,) = load_board_file(write(tmp_path, GOOD))
    assert board.id == 0x20 and board.description == "Wind tunnel pressure board"
    assert [(v.name, v.bit_offset, v.width) for v in board.variables] == [
        ("pressure", 0, 16),
        ("temperature", 16, 12),
        ("door_open", 40, 1),
    ]
    line = str(board.encode({"pressure": 12.5, "temperature": -3, "door_open": 1}))
    assert board.decode(line) == {"pressure": pytest.approx(12.5), "temperature": -3, "door_open": 1}


def test_load_boards_merges_builtins_and_files(tmp_path):
    write(tmp_path, GOOD, "a.toml")
    boards = load_boards([tmp_path], entry_points=False)
    assert sorted(boards) == [0x08, 0x09, 0x0A, 0x0B, 0x20]


def test_duplicate_ids_name_both_sources(tmp_path):
    path = write(tmp_path, GOOD.replace("0x20", "0x08"))
    with pytest.raises(BoardDefinitionError, match="0x08 from .*boards.toml is already defined by Blitz's built-in"):
        load_boards([path], entry_points=False)


@pytest.mark.parametrize(
    "text,expected",
    [
        ("[[board]]\nid = 1\n", "missing required key 'description'"),
        ('[[board]]\nid = "x"\ndescription = "d"\nvariable = [{name = "a", bits = 1}]', "id must be an integer"),
        ('[[board]]\nid = 1\ndescription = "d"\nvariable = [{name = "a", bitz = 1}]', "unknown key 'bitz'"),
        ('[[board]]\nid = 1\ndescription = "d"\nvariable = [{name = "a"}]', "missing required key 'bits'"),
        ('[[board]]\nid = 1\ndescription = "d"\nvariable = [{name = "a", bits = 70}]', "width must be an integer from 1 to 64"),
        ('[[board]]\nid = 1\ndescription = "d"\nvariable = [{name = "a", bits = 8, signed = "no"}]', "signed must be true or false"),
        ('[[board]]\nid = 1\ndescription = "d"\nvariable = []', "non-empty list"),
        ('[[board]]\nid = 1\ndescription = "d"\ncolour = 3\nvariable = [{name = "a", bits = 8}]', "unknown key 'colour'"),
        ('[[board]]\nid = 1\ndescription = "d"\nvariable = [{name = "a", bits = 60}, {name = "b", bits = 8}]', "past the 64-bit payload"),
        ("boards = 1", "unknown key 'boards'"),
        ("", "at least one [[board]]"),
        ("[[board]\n", "not valid TOML"),
    ],
)
def test_bad_definition_files_say_what_is_wrong(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(BoardDefinitionError) as info:
        load_board_file(path)
    assert expected in str(info.value)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(BoardDefinitionError, match="cannot read board definition file"):
        load_board_file(tmp_path / "nope.toml")


def _install_plugin(tmp_path, monkeypatch, value):
    """Make a real distribution with a `blitz.boards` entry point importable."""
    (tmp_path / "acme_boards.py").write_text(
        textwrap.dedent(
            """
            from blitz.boards import Board, Variable

            class AcmeBoard(Board):
                id = 0x42
                description = "ACME strain gauge board"
                variables = (Variable("strain", 0, 24, signed=True, scale=1e-6, unit="m/m"),)

            def many():
                return [AcmeBoard, Board(id=0x43, description="ACME two", variables=[Variable("x", 0, 8)])]

            NOT_A_BOARD = 3
            """
        )
    )
    dist = tmp_path / "acme_boards-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-boards\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[blitz.boards]\nacme = {value}\n")
    monkeypatch.syspath_prepend(str(tmp_path))


def test_entry_point_board_class(tmp_path, monkeypatch):
    _install_plugin(tmp_path, monkeypatch, "acme_boards:AcmeBoard")
    boards = load_boards()
    assert boards[0x42].description == "ACME strain gauge board"


def test_entry_point_callable_returning_boards(tmp_path, monkeypatch):
    _install_plugin(tmp_path, monkeypatch, "acme_boards:many")
    boards = load_boards()
    assert {0x42, 0x43} <= set(boards)


def test_broken_entry_point_is_named(tmp_path, monkeypatch):
    _install_plugin(tmp_path, monkeypatch, "acme_boards:NOT_A_BOARD")
    with pytest.raises(BoardDefinitionError, match="entry point 'acme'.*expected a Board"):
        load_boards()
