"""The NetScanner 9116 text protocol and its encoding as board 0x0A/0x0B lines.

Pure code (wire.md section 4): the commands the bridge sends, parsing of the
scanner's replies, and the 140-character upper-case line
`<id>50<elapsed ms><16 x 8 hex>` that lets the rest of Blitz treat the
scanner as one more board.
"""

from __future__ import annotations

from dataclasses import dataclass

from blitz.errors import BoardError

#: TCP port the scanner listens on.
NETSCANNER_PORT = 9000
#: Power-up clear, reset, EU conversion psi -> kPa, then the read command.
INIT_COMMANDS: tuple[str, ...] = ("A", "B", "v01101 6.894757")
#: Read high-precision data, all 16 channels, decimal format.
READ_COMMAND = "rFFFF0"
CHANNELS = 16
#: The meta byte of bridge lines: type 2 with flag 1 set (wire.md).
BRIDGE_META = 0x50
#: Lines carry `value * 1e6 + 2e6` as unsigned 32 bits.
SCALE = 1_000_000
OFFSET_KPA = 2.0
MIN_KPA = -OFFSET_KPA
MAX_KPA = (0xFFFFFFFF - OFFSET_KPA * SCALE) / SCALE

_NAK_MEANINGS = {
    0x01: "undefined command received",
    0x03: "input buffer overrun",
    0x04: "invalid ASCII character received",
    0x05: "data field error",
    0x07: "specified limits invalid",
    0x08: "invalid parameter",
    0x09: "insufficient source air to shift calibration valve",
    0x0A: "calibration valve not in requested position",
}


class NetScannerError(BoardError):
    """The scanner answered with an error or with something unreadable."""


@dataclass(frozen=True)
class EncodedReading:
    """One bridge line, and how many channels had to be clamped to fit it."""

    line: str
    clamped: tuple[int, ...] = ()  # 1-based channel numbers (within the device)


def parse_ack(reply: str) -> None:
    """Accept an `A` acknowledge; raise NetScannerError for `Nxx` or anything else."""
    text = reply.strip()
    if text == "A":
        return
    if len(text) == 3 and text[0] == "N":
        try:
            code = int(text[1:], 16)
        except ValueError:
            pass
        else:
            meaning = _NAK_MEANINGS.get(code, "unknown error")
            raise NetScannerError(f"NetScanner refused the command: N{code:02X} ({meaning})")
    raise NetScannerError(f"expected 'A' or 'Nxx' from the NetScanner, got {text[:40]!r}")


def parse_readings(reply: str, channels: int = CHANNELS) -> list[float]:
    """Parse a `rFFFF0` reply into values for channels 1..N (device order reversed).

    The scanner sends the highest channel first, each value after a space.
    """
    text = reply.strip()
    if text.startswith("N") and len(text) == 3:
        parse_ack(text)
    fields = text.split()
    if len(fields) != channels:
        raise NetScannerError(f"expected {channels} readings from the NetScanner, got {len(fields)} ({text[:60]!r})")
    try:
        values = [float(field) for field in fields]
    except ValueError:
        raise NetScannerError(f"expected decimal readings from the NetScanner, got {text[:60]!r}") from None
    if any(value != value or value in (float("inf"), float("-inf")) for value in values):
        raise NetScannerError(f"the NetScanner sent a value that is not a number ({text[:60]!r})")
    values.reverse()
    return values


def encode_reading(board_id: int, elapsed_ms: int, values: list[float]) -> EncodedReading:
    """Build the bridge line for one scan (values for channels 1..16 in order).

    A value below -2.0 kPa (or above the 32-bit ceiling) cannot be encoded:
    it is clamped, and the channel is named in `clamped` so it can be reported.
    """
    if len(values) != CHANNELS:
        raise NetScannerError(f"expected {CHANNELS} values to encode, got {len(values)}")
    if not 0 <= board_id <= 0xFF:
        raise NetScannerError(f"expected a board id 0-255, got {board_id}")
    clamped = []
    words = []
    for channel, value in enumerate(values, start=1):
        if value < MIN_KPA or value > MAX_KPA:
            clamped.append(channel)
            value = min(max(value, MIN_KPA), MAX_KPA)
        words.append(f"{int(round(value * SCALE + OFFSET_KPA * SCALE)):08X}")
    stamp = elapsed_ms & 0xFFFFFFFF
    line = f"{board_id:02X}{BRIDGE_META:02X}{stamp:08X}" + "".join(words)
    return EncodedReading(line=line, clamped=tuple(clamped))


__all__ = [
    "CHANNELS",
    "EncodedReading",
    "INIT_COMMANDS",
    "NETSCANNER_PORT",
    "NetScannerError",
    "READ_COMMAND",
    "encode_reading",
    "parse_ack",
    "parse_readings",
]
