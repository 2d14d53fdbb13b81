"""The four boards Blitz knows out of the box (wire.md section 4)."""

from __future__ import annotations

from blitz.boards.definition import Board, Variable, packed


class BlitzBasicBoard(Board):
    """Blitz Basic: five 12-bit ADC channels in payload bits 0-59."""

    id = 0x08
    description = "Blitz Basic expansion board"
    variables = packed(
        [
            "adc_channel_one",
            "adc_channel_two",
            "adc_channel_three",
            "adc_channel_four",
            "adc_channel_five",
        ],
        12,
    )


class MotorBoard(Board):
    """Motor board: raw ADC, motor drive value and set point, 16 bits each."""

    id = 0x09
    description = "Motor expansion board"
    variables = packed(["raw_adc", "motor_value", "set_point"], 16)


_NETSCANNER_SCALE = 1e-6  # the bridge writes value * 1e6 + 2e6
_NETSCANNER_OFFSET = -2.0
NETSCANNER_PAYLOAD_BITS = 16 * 32


def _netscanner_channels(first: int) -> tuple[Variable, ...]:
    return packed(
        [f"Channel_{first + i}" for i in range(16)],
        32,
        scale=_NETSCANNER_SCALE,
        offset=_NETSCANNER_OFFSET,
        unit="kPa",
    )


class NetScannerBoard(Board):
    """NetScanner 9116 bridge, channels 1-16 (140-character lines)."""

    id = 0x0A
    description = "NetScanner ethernet interface, channels 1-16"
    payload_bits = NETSCANNER_PAYLOAD_BITS
    variables = _netscanner_channels(1)


class NetScannerBoardTwo(Board):
    """NetScanner 9116 bridge, channels 17-32 (140-character lines)."""

    id = 0x0B
    description = "NetScanner ethernet interface, channels 17-32"
    payload_bits = NETSCANNER_PAYLOAD_BITS
    variables = _netscanner_channels(17)


BUILTIN_BOARDS: tuple[type[Board], ...] = (
    BlitzBasicBoard,
    MotorBoard,
    NetScannerBoard,
    NetScannerBoardTwo,
)

__all__ = [
    "BUILTIN_BOARDS",
    "BlitzBasicBoard",
    "MotorBoard",
    "NETSCANNER_PAYLOAD_BITS",
    "NetScannerBoard",
    "NetScannerBoardTwo",
]
