"""Virtual BlitzExpansion boards on pseudo-terminals, for tests, demos and development.

`Firmware` is the board's protocol as a pure state machine (wire.md, quirks
included); `PtyBoard` and `PtyHost` put firmwares on real ptys; `Simulator`
is the API tests use and `blitz simulate` wraps.
"""

from blitz.simulator.faults import Faults
from blitz.simulator.firmware import (
    MAX_BUFFER_SIZE,
    RECEIVE_CHARS,
    Firmware,
    FirmwareCounters,
    TimestampMode,
    hex_field,
    parse_words,
)
from blitz.simulator.host import PtyHost
from blitz.simulator.models import BoardModel, MotorModel, WaveformModel, make_model, uniform
from blitz.simulator.pty_board import PtyBoard
from blitz.simulator.render import LINE_BYTES, render_rows, rows_to_lines
from blitz.simulator.simulator import BOARD_NAMES, SimulatedBoard, Simulator, resolve_board

__all__ = [
    "BOARD_NAMES",
    "LINE_BYTES",
    "MAX_BUFFER_SIZE",
    "RECEIVE_CHARS",
    "BoardModel",
    "Faults",
    "Firmware",
    "FirmwareCounters",
    "MotorModel",
    "PtyBoard",
    "PtyHost",
    "SimulatedBoard",
    "Simulator",
    "TimestampMode",
    "WaveformModel",
    "hex_field",
    "make_model",
    "parse_words",
    "render_rows",
    "resolve_board",
    "rows_to_lines",
    "uniform",
]
