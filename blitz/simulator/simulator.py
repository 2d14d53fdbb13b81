"""The simulator's Python API: virtual expansion boards on pseudo-terminals.

    with Simulator(["basic", "motor"], rate_hz=100, seed=1) as sim:
        port = serial.Serial(sim.boards[0].device_path, timeout=1)
        ...
        sim.boards[0].unplug(); sim.boards[0].replug()

Used by `blitz simulate`, the demo and every server test that needs a board.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict
from typing import Any, Callable, Mapping, Sequence, Union

from blitz.boards import BUILTIN_BOARDS, BlitzBasicBoard, Board, MotorBoard
from blitz.errors import BoardError
from blitz.protocol.constants import PAYLOAD_BITS
from blitz.simulator.faults import Faults
from blitz.simulator.firmware import Firmware, FirmwareCounters, TimestampMode
from blitz.simulator.host import PtyHost
from blitz.simulator.models import make_model
from blitz.simulator.pty_board import PtyBoard

BoardLike = Union[str, int, Board]

#: Board names `blitz simulate --board` accepts besides hex ids.
BOARD_NAMES: dict[str, type[Board]] = {"basic": BlitzBasicBoard, "motor": MotorBoard}


def resolve_board(spec: BoardLike) -> Board:
    """A Board from a name (`basic`, `motor`), a hex id (`08`, `0x0c`) or a Board.

    An id that is not built in gets the Basic board's layout under that id,
    so servers can be tested against a board they do not know.  The
    NetScanner ids (0x0a, 0x0b) are refused: that bridge is not a serial board.
    """
    if isinstance(spec, Board):
        return spec
    if isinstance(spec, str):
        name = spec.strip().lower()
        if name in BOARD_NAMES:
            return BOARD_NAMES[name]()
        try:
            board_id = int(name, 16)
        except ValueError:
            raise BoardError(
                f"unknown board {spec!r}: expected one of {', '.join(BOARD_NAMES)} or a hex id such as 08"
            ) from None
    else:
        board_id = int(spec)
    if not 0 <= board_id <= 0xFF:
        raise BoardError(f"board id must be 00-ff, got {spec!r}")
    for known in BUILTIN_BOARDS:
        if known.id == board_id:
            if known.payload_bits != PAYLOAD_BITS:
                raise BoardError(
                    f"board 0x{board_id:02x} ({known.description}) is not a serial board and cannot be simulated"
                )
            return known()
    return Board(
        id=board_id,
        description=f"simulated board 0x{board_id:02x} (Basic layout)",
        variables=BlitzBasicBoard.variables,
    )


class SimulatedBoard:
    """One board of a running Simulator: paths, counters, plug control, ground truth."""

    def __init__(self, host: PtyHost, pty_board: PtyBoard, seed: int) -> None:
        self._host = host
        self._pty = pty_board
        self.board = pty_board.firmware.model.board
        self.seed = seed

    @property
    def board_id(self) -> int:
        """The board's id byte."""
        return self.board.id

    @property
    def firmware(self) -> Firmware:
        """The state machine (touch it only through `call` while running)."""
        return self._pty.firmware

    @property
    def device_path(self) -> str | None:
        """The current slave path (`/dev/pts/N`), None while unplugged."""
        return self._pty.device_path if self._pty.plugged else None

    @property
    def link_path(self) -> str | None:
        """The stable symlink that follows the board across replugs, if any."""
        return self._pty.link_path

    @property
    def path(self) -> str:
        """What a server should open: the link if there is one, else the device."""
        return self.link_path or self._pty.device_path or ""

    @property
    def plugged(self) -> bool:
        """True while the board has a pty."""
        return self._pty.plugged

    @property
    def connected(self) -> bool:
        """True while some process has the port open (noticed within a tick)."""
        return self._pty.plugged and self._pty.connected

    def counters(self) -> FirmwareCounters:
        """Generated, transmitted, overwritten... messages so far (a copy)."""
        return self._host.call(self.firmware.snapshot)

    def status(self) -> dict[str, Any]:
        """Counters plus buffer state, as plain data (for JSON stats)."""

        def read() -> dict[str, Any]:
            firmware = self.firmware
            counts = asdict(firmware.snapshot())
            return {
                "board_id": f"{self.board_id:02x}",
                "device_path": self._pty.device_path,
                "link_path": self.link_path,
                "logging": firmware.logging,
                "pending": firmware.pending,
                "plugs": self._pty.plug_count,
                "opens": self._pty.opens,
                **counts,
            }

        return self._host.call(read)

    def expected_lines(self) -> list[str]:
        """Every data line generated so far, in order (Simulator(record=True))."""
        return self._host.call(self.firmware.generated_lines)

    def call(self, function: Callable[[Firmware], Any]) -> Any:
        """Run `function(firmware)` in the service thread (safe while running)."""
        return self._host.call(lambda: function(self.firmware))

    def unplug(self) -> None:
        """Pull the cable: the pty closes, the server's I/O fails, the link goes."""
        self._host.unplug(self._pty)

    def replug(self) -> None:
        """Plug in again: a new pty, a freshly booted board, the link repointed."""
        self._host.replug(self._pty)

    def __repr__(self) -> str:
        return f"<SimulatedBoard 0x{self.board_id:02x} {self.path or 'unplugged'}>"


class Simulator:
    """Virtual expansion boards on pseudo-terminals, serviced by one thread.

    Every board gets the same settings; the n-th board sharing an id uses
    `seed + n` so that duplicates differ.  `clock_s` is the time source in
    seconds (monotonic), injected for tests.  `faults` gives boards (by id)
    faults to have (blitz.simulator.faults).
    """

    def __init__(
        self,
        boards: Sequence[BoardLike] = ("basic",),
        *,
        rate_hz: float = 100.0,
        buffer_size: int = 180,
        seed: int = 0,
        send_frequency: int = 0,
        timestamps: TimestampMode | str = TimestampMode.MILLIS,
        millis_offset_ms: int = 0,
        link_dir: str | os.PathLike[str] | None = None,
        reset_delay_s: float | None = None,
        record: bool = False,
        clock_s: Callable[[], float] = time.monotonic,
        tick_s: float = 0.01,
        faults: Mapping[int, Faults] | None = None,
    ) -> None:
        if not boards:
            raise BoardError("expected at least one board to simulate")
        if not rate_hz > 0:
            raise ValueError(f"expected a sample rate above 0 Hz, got {rate_hz!r}")
        self.link_dir = os.fspath(link_dir) if link_dir is not None else None
        pty_boards: list[PtyBoard] = []
        seeds: list[int] = []
        seen: dict[int, int] = {}
        for spec in boards:
            board = resolve_board(spec)
            occurrence = seen.get(board.id, 0)
            seen[board.id] = occurrence + 1
            board_seed = seed + occurrence
            firmware = Firmware(
                make_model(board, board_seed, rate_hz),
                clock_ms=lambda: clock_s() * 1000.0,
                buffer_size=buffer_size,
                send_frequency=send_frequency,
                timestamps=timestamps,
                millis_offset_ms=millis_offset_ms,
                record=record,
                faults=(faults or {}).get(board.id),
            )
            link = None
            if self.link_dir is not None:
                name = f"board-{board.id:02x}" + (f"-{occurrence + 1}" if occurrence else "")
                link = os.path.join(self.link_dir, name)
            pty_boards.append(PtyBoard(firmware, clock_s=clock_s, link_path=link, reset_delay_s=reset_delay_s))
            seeds.append(board_seed)
        self.host = PtyHost(pty_boards, tick_s=tick_s, clock_s=clock_s)
        self.boards = [SimulatedBoard(self.host, pty, s) for pty, s in zip(pty_boards, seeds)]

    def start(self) -> "Simulator":
        """Create the ptys (and links) and start serving them."""
        if self.link_dir is not None:
            os.makedirs(self.link_dir, exist_ok=True)
        self.host.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every pty (links are removed)."""
        self.host.stop()

    def __enter__(self) -> "Simulator":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def board(self, board_id: int) -> SimulatedBoard:
        """The first board with this id."""
        for board in self.boards:
            if board.board_id == board_id:
                return board
        raise BoardError(f"no simulated board with id 0x{board_id:02x}")

    def stats(self) -> list[dict[str, Any]]:
        """`SimulatedBoard.status()` of every board."""
        return [board.status() for board in self.boards]


__all__ = ["BOARD_NAMES", "BoardLike", "SimulatedBoard", "Simulator", "resolve_board"]
