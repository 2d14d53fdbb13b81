"""The BlitzExpansion firmware (v1.3.x) as a pure state machine: bytes in, bytes out.

No I/O and no real time: the owner feeds received bytes to `receive()` and
sends what it returns; `poll()` lets time pass.  The clock is injected (ms).
Every quirk of wire.md is reproduced, because the server is developed against
this and must survive the first real board:

* Framing: `\\r` is ignored wherever it appears (so `\\r\\n` and `\\n` both end
  a line).  The receive buffer holds 27 characters plus the terminator.  When
  a 28th character arrives before `\\n` the firmware answers `<id>62` at once,
  and then keeps reading into its full buffer, discarding every character up
  to and including the next `\\n`: one `62` per over-long line, and nothing of
  that line is obeyed.
* Lines of 1-3 characters answer `<id>61`.  An EMPTY line answers `<id>61` and
  then runs as START (the firmware bug): `<id>40`, elapsed clock reset and
  every unsent message dropped.
* Fields are decoded one nibble per character, and a character that is not
  a hex digit (or lies past the end of the line) counts as 0, so `"8z"` is
  0x80.  The id byte is never checked.
* The four argument words are read at characters 12, 16, 20 and 24 only when
  27 characters arrived; word 4's last nibble is past the buffer and reads
  0.  Otherwise all four words are 0.

* START empties the buffer (buffer and send index back to 0: unsent
  messages are dropped and counted) and restarts the elapsed clock.  STOP
  keeps unsent messages, but TRANSMIT answers `66` until the next START
  drops them, so a server must TRANSMIT before it sends STOP.

Sampling is lazy: samples due since START are computed from the clock on
every call, in vectorised batches, so 5 kHz boards are cheap and exact.
Sample j (1-based since START) is taken at START + j / rate; one in every
`send_frequency + 1` samples is logged as a message.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from typing import Callable

import numpy as np

from blitz.protocol.constants import (
    COMMAND_HEX_CHARS,
    ERROR_CODES,
    Instruction,
    MessageType,
    ResponseCode,
)
from blitz.simulator.faults import BABBLE_LINE, Faults, garbage_line
from blitz.simulator.models import BoardModel
from blitz.simulator.render import LINE_BYTES, LineMatrix, render_rows, rows_to_lines

#: Characters the receive buffer holds before the terminator.
RECEIVE_CHARS = COMMAND_HEX_CHARS
#: Largest buffer the 10-bit STATUS indices can describe.
MAX_BUFFER_SIZE = 1024
_MASK32 = 0xFFFFFFFF
_HEX_VALUES = {c: int(c, 16) for c in "0123456789abcdefABCDEF"}
_WORD_STARTS = (12, 16, 20, 24)


class TimestampMode(str, Enum):
    """What the sketch puts in a data message's timestamp."""

    MILLIS = "millis"  #: ms since the board booted (the default sketch)
    ELAPSED = "elapsed"  #: ms since START, the sketch's `getElapsed()`


@dataclass
class FirmwareCounters:
    """What a board did since it was built (kept across reboots)."""

    samples: int = 0  #: samples taken while logging
    generated: int = 0  #: messages logged into the buffer
    transmitted: int = 0  #: data messages sent in TRANSMIT replies
    overwritten: int = 0  #: unsent messages lost because the buffer wrapped
    dropped: int = 0  #: unsent messages discarded by START (or a reboot)
    lines: int = 0  #: command lines received (over-long ones included)
    errors: int = 0  #: error replies (61-66) sent
    garbage: int = 0  #: invalid lines printed (Faults: garbage_every, babble)
    strays: int = 0  #: stray 40/61 replies printed (Faults: stray_every)


def hex_field(line: bytes, start: int, digits: int) -> int:
    """Decode `digits` characters from `start` as the firmware does.

    Each character is one nibble; anything that is not a hex digit, and any
    position past the end of the line, reads as 0.
    """
    value = 0
    for char in line[start : start + digits].decode("latin-1").ljust(digits, "\0"):
        value = value * 16 + _HEX_VALUES.get(char, 0)
    return value


def parse_words(line: bytes) -> tuple[int, int, int, int]:
    """The four argument words as the firmware reads them from one line."""
    if len(line) < RECEIVE_CHARS:
        return (0, 0, 0, 0)
    first, second, third, fourth = (hex_field(line, start, 4) for start in _WORD_STARTS)
    return (first, second, third, fourth)


class Firmware:
    """One expansion board: framing, commands, sampling and the circular buffer."""

    def __init__(
        self,
        model: BoardModel,
        *,
        clock_ms: Callable[[], float],
        buffer_size: int = 180,
        send_frequency: int = 0,
        timestamps: TimestampMode | str = TimestampMode.MILLIS,
        millis_offset_ms: int = 0,
        record: bool = False,
        faults: Faults | None = None,
    ) -> None:
        if not 2 <= buffer_size <= MAX_BUFFER_SIZE:
            raise ValueError(f"expected a buffer size of 2-{MAX_BUFFER_SIZE} messages, got {buffer_size!r}")
        if send_frequency < 0:
            raise ValueError(f"expected send_frequency >= 0, got {send_frequency!r}")
        if not model.rate_hz > 0:
            raise ValueError(f"expected a sample rate above 0 Hz, got {model.rate_hz!r}")
        self.model = model
        self.board_id = model.board.id
        self.buffer_size = buffer_size
        self.send_frequency = send_frequency
        self.timestamps = TimestampMode(timestamps)
        self.millis_offset_ms = millis_offset_ms
        self.counters = FirmwareCounters()
        self.faults = faults if faults is not None else Faults()
        self._fault_lines = 0  # data lines sent since construction, for the fault rotation
        self._clock_ms = clock_ms
        rate = model.rate_hz
        self._int_rate = int(rate) if float(rate).is_integer() else 0
        self._record: list[LineMatrix] | None = [] if record else None
        self._buffer = np.zeros((buffer_size, LINE_BYTES), dtype=np.uint8)
        self._sample_total = 0  # samples taken since construction: the model's index
        self.buffer_index = 0
        self.send_index = 0
        self.reboot()

    # -- state -------------------------------------------------------------

    def reboot(self) -> None:
        """Power-on state: not logging, empty buffers, millis() restarting at 0."""
        self._boot_ms = self._clock_ms()
        self.counters.dropped += self.pending
        self.logging = False
        self.buffer_index = 0
        self.send_index = 0
        self._line = bytearray()
        self._overflow = False
        self._start_us = 0
        self._taken = 0  # samples since START
        self._session_base = self._sample_total
        self.model.reset(self._sample_total)

    @property
    def pending(self) -> int:
        """Messages in the buffer not sent yet (at most buffer_size - 1)."""
        return (self.buffer_index - self.send_index) % self.buffer_size

    def _now_us(self) -> int:
        return round((self._clock_ms() - self._boot_ms) * 1000) + self.millis_offset_ms * 1000

    def millis(self) -> int:
        """The board's millis(): ms since boot, wrapping at 2**32."""
        return (self._now_us() // 1000) & _MASK32

    def snapshot(self) -> FirmwareCounters:
        """A copy of the counters, with every sample due by now taken."""
        self.poll()
        return replace(self.counters)

    def generated_lines(self) -> list[str]:
        """Every message generated so far, in order (only with `record=True`)."""
        if self._record is None:
            raise RuntimeError("generated_lines() needs a Firmware built with record=True")
        self.poll()
        if not self._record:
            return []
        return rows_to_lines(np.concatenate(self._record))

    # -- sampling ----------------------------------------------------------

    def poll(self) -> None:
        """Take every sample due by now (call it now and then while logging)."""
        if self.logging:
            self._sample_until(self._now_us())

    def _due(self, now_us: int) -> int:
        """Samples due since START at `now_us` (sample j is due at j / rate)."""
        if self._int_rate:
            return (now_us - self._start_us) * self._int_rate // 1_000_000
        return int((now_us - self._start_us) * self.model.rate_hz / 1e6)

    def _offset_us(self, js: np.ndarray) -> np.ndarray:
        """Microseconds from START to samples `js`, floored (exact for whole rates)."""
        if self._int_rate:
            return js * 1_000_000 // self._int_rate
        return np.floor(js * 1e6 / self.model.rate_hz).astype(np.int64)

    def _sample_until(self, now_us: int) -> None:
        due = self._due(now_us)
        if due <= self._taken:
            return
        every = self.send_frequency + 1
        logged = due // every - self._taken // every
        last_j = (due // every) * every
        self.counters.samples += due - self._taken
        self._sample_total = self._session_base + due
        self._taken = due
        if logged == 0:
            return
        keep = logged if self._record is not None else min(logged, self.buffer_size - 1)
        js = last_j - every * np.arange(keep - 1, -1, -1, dtype=np.int64)
        flags, payload = self.model.payloads(self._session_base + js - 1)
        stamp = (self._start_us + self._offset_us(js)) // 1000
        if self.timestamps is TimestampMode.ELAPSED:
            stamp -= self._start_us // 1000
        meta = (int(MessageType.DATA) << 5) | flags
        rows = render_rows(self.board_id, meta, stamp & _MASK32, payload)
        if self._record is not None:
            self._record.append(rows)
        self._store(rows[-min(keep, self.buffer_size) :], logged)

    def _store(self, rows: LineMatrix, logged: int) -> None:
        """Write the last rows of `logged` new messages into the circular buffer."""
        size = self.buffer_size
        waiting = self.pending + logged
        self.counters.generated += logged
        self.counters.overwritten += max(0, waiting - (size - 1))
        first_slot = (self.buffer_index + logged - len(rows)) % size
        slots = (first_slot + np.arange(len(rows))) % size
        self._buffer[slots] = rows
        self.buffer_index = (self.buffer_index + logged) % size
        self.send_index = (self.buffer_index - min(waiting, size - 1)) % size

    # -- receiving ---------------------------------------------------------

    def receive(self, data: bytes) -> bytes:
        """Feed received bytes; return everything the board prints in answer."""
        self.poll()
        data = bytes(data).replace(b"\r", b"")
        if self.faults.babble:
            return self._babble(data)
        out: list[bytes] = []
        position = 0
        while position <= len(data):
            end = data.find(b"\n", position)
            piece = data[position:] if end < 0 else data[position:end]
            if not self._overflow:
                room = RECEIVE_CHARS - len(self._line)
                self._line += piece[:room]
                if len(piece) > room:
                    self._overflow = True
                    self.counters.lines += 1
                    out.append(self._short(ResponseCode.BUFFER_FULL))
            if end < 0:
                break
            if not self._overflow:
                self.counters.lines += 1
                out.append(self._command(bytes(self._line)))
            self._line = bytearray()
            self._overflow = False
            position = end + 1
        return b"".join(out)

    def _short(self, code: int) -> bytes:
        if code in ERROR_CODES:
            self.counters.errors += 1
        return b"%02x%02x\r\n" % (self.board_id, code)

    def _command(self, line: bytes) -> bytes:
        """Obey one complete line (without terminator) and return the reply."""
        if not line:  # the firmware bug: too short, then run as START anyway
            return self._short(ResponseCode.TOO_SHORT) + self._start()
        if len(line) < 4:
            return self._short(ResponseCode.TOO_SHORT)
        meta = hex_field(line, 2, 2)
        kind = meta >> 5
        if kind == MessageType.START:
            if self.faults.start_reply == "ignore":
                return b""
            reply = self._start()
            return b"" if self.faults.start_reply == "silent" else reply
        if kind == MessageType.STOP:
            self.logging = False
            return self._short(ResponseCode.ACK)
        if kind == MessageType.INSTRUCTION:
            return self._instruction(meta, parse_words(line))
        if kind == MessageType.TRANSMIT:
            return self._transmit()
        return self._short(ResponseCode.UNKNOWN_MESSAGE)

    def _start(self) -> bytes:
        self.counters.dropped += self.pending
        self.buffer_index = 0
        self.send_index = 0
        self._start_us = self._now_us()
        self._taken = 0
        self._session_base = self._sample_total
        self.logging = True
        return self._short(ResponseCode.ACK)

    def _instruction(self, meta: int, words: tuple[int, int, int, int]) -> bytes:
        if meta == Instruction.ID:
            return self._short(ResponseCode.ID)
        if meta == Instruction.STATUS:
            payload = (int(self.logging) << 63) | (self.buffer_index << 53) | (self.send_index << 43)
            return render_rows(self.board_id, Instruction.STATUS_RESPONSE, self.millis(), payload).tobytes()
        if self.model.instruction(meta, words, self._sample_total):
            return b""
        return self._short(ResponseCode.UNKNOWN_INSTRUCTION)

    def _transmit(self) -> bytes:
        if not self.logging:
            return self._short(ResponseCode.NOT_LOGGING)
        start, end = self.send_index, self.buffer_index
        if start <= end:
            chunk = self._buffer[start:end].tobytes()
        else:
            chunk = self._buffer[start:].tobytes() + self._buffer[:end].tobytes()
        self.counters.transmitted += self.pending
        self.send_index = end
        if self.faults.garbage_every or self.faults.stray_every:
            chunk = self._with_faulty_lines(chunk)
        return chunk + self._short(ResponseCode.ACK)

    # -- faults (blitz.simulator.faults) ------------------------------------

    def _with_faulty_lines(self, chunk: bytes) -> bytes:
        """Insert invalid and stray lines between the data lines of a TRANSMIT reply."""
        out: list[bytes] = []
        garbage_every, stray_every = self.faults.garbage_every, self.faults.stray_every
        for start in range(0, len(chunk), LINE_BYTES):
            out.append(chunk[start : start + LINE_BYTES])
            self._fault_lines += 1
            if garbage_every and self._fault_lines % garbage_every == 0:
                out.append(garbage_line(self.counters.garbage) + b"\r\n")
                self.counters.garbage += 1
            if stray_every and self._fault_lines % stray_every == 0:
                code = ResponseCode.ACK if self.counters.strays % 2 == 0 else ResponseCode.TOO_SHORT
                out.append(b"%02x%02x\r\n" % (self.board_id, code))
                self.counters.strays += 1
        return b"".join(out)

    def _babble(self, data: bytes) -> bytes:
        """A babbling board: one line of noise per line received, nothing obeyed."""
        lines = data.count(b"\n")
        self.counters.lines += lines
        self.counters.garbage += lines
        return (BABBLE_LINE + b"\r\n") * lines


__all__ = [
    "MAX_BUFFER_SIZE",
    "RECEIVE_CHARS",
    "Firmware",
    "FirmwareCounters",
    "TimestampMode",
    "parse_words",
    "hex_field",
]
