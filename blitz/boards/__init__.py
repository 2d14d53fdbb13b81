"""Board definitions, the built-in boards, plug-in loading and BoardManager.

Pure code apart from BoardManager, which writes through whatever database
object it is given (duck-typed, so this package never imports SQLAlchemy).
"""

from blitz.boards.builtin import (
    BUILTIN_BOARDS,
    BlitzBasicBoard,
    MotorBoard,
    NetScannerBoard,
    NetScannerBoardTwo,
)
from blitz.boards.definition import Board, Variable, packed

__all__ = [
    "BUILTIN_BOARDS",
    "BlitzBasicBoard",
    "Board",
    "MotorBoard",
    "NetScannerBoard",
    "NetScannerBoardTwo",
    "Variable",
    "packed",
]
