"""Board definitions, the built-in boards, plug-in loading and BoardManager.

Pure code: BoardManager writes through whatever database object it is given
(duck-typed), so this package never imports SQLAlchemy, Redis or Twisted.
"""

from blitz.boards.builtin import (
    BUILTIN_BOARDS,
    BlitzBasicBoard,
    MotorBoard,
    NetScannerBoard,
    NetScannerBoardTwo,
)
from blitz.boards.chunk import DecodedChunk, decode_chunk
from blitz.boards.definition import Board, Variable, packed
from blitz.boards.loader import load_board_file, load_boards
from blitz.boards.manager import BoardManager, parse_board_id

__all__ = [
    "BUILTIN_BOARDS",
    "BlitzBasicBoard",
    "Board",
    "BoardManager",
    "DecodedChunk",
    "MotorBoard",
    "NetScannerBoard",
    "NetScannerBoardTwo",
    "Variable",
    "decode_chunk",
    "load_board_file",
    "load_boards",
    "packed",
    "parse_board_id",
]
