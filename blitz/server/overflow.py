"""Count the messages a board overwrote in its circular buffer, from its STATUS indices.

The firmware keeps a circular buffer of N messages (N is set in the sketch,
at most 1024 because STATUS carries 10-bit indices) of which at most N - 1
wait unsent; when more are logged before a TRANSMIT, the oldest unsent ones
are overwritten.  The board keeps no count of them, but every poll is
TRANSMIT and STATUS written back to back, and STATUS reports the send index,
which after a TRANSMIT is the number of messages logged since START, modulo
N.  With T lines received so far, the messages overwritten so far are
therefore known modulo N: `send index - T (mod N)`.

N itself is learned from the same numbers: a buffer size is kept as a
candidate only while it explains every poll (a batch never holds more than
N - 1 lines, an index is always below N, and a batch shorter than N - 1
lines means nothing was overwritten, so the index moved by exactly its
length).  The first wrap of the index leaves one candidate, usually within
a couple of seconds of logging; polls that might have overflowed before
then are kept and counted once N is known.

Overflow always leaves a batch of exactly N - 1 lines.  When it did, the
count is exact modulo N; which multiple of N (0 when fewer than 2N - 1
messages were logged between two polls) is taken from the timestamps:
the gap before the batch divided by the logging period.  So the count is
exact as long as that timestamp estimate is within N/2 messages of the
truth.  Without usable STATUS replies (a board that refuses them, a poll
that timed out, a BOARD command that STARTed the board) the counter falls
back to the timestamp estimate alone until the next START.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

#: Largest buffer the 10-bit STATUS indices can describe.
MAX_BUFFER_SIZE = 1024
_WRAP = 1 << 32  # board timestamps are unsigned 32-bit milliseconds
_INDEX_MASK = (1 << 10) - 1


@dataclass(frozen=True)
class BoardIndices:
    """What one STATUS reply (`<id>84<millis><payload>`) says."""

    millis: int
    logging: bool
    buffer_index: int
    send_index: int


def parse_status(line: str | bytes) -> BoardIndices | None:
    """Decode a STATUS reply line, or None when it is not one."""
    text = line.decode("ascii", "replace") if isinstance(line, (bytes, bytearray)) else line
    text = text.strip()
    if len(text) < 28 or text[2:4].lower() != "84":
        return None
    try:
        millis = int(text[4:12], 16)
        payload = int(text[12:28], 16)
    except ValueError:
        return None
    return BoardIndices(
        millis=millis,
        logging=bool(payload >> 63),
        buffer_index=(payload >> 53) & _INDEX_MASK,
        send_index=(payload >> 43) & _INDEX_MASK,
    )


class OverflowCounter:
    """Messages one board overwrote in the running session (see the module docstring)."""

    def __init__(self, max_pending: int = 4096) -> None:
        self._max_pending = max_pending
        self.exact_total = 0  # counted from STATUS indices
        self.estimated_total = 0  # counted from timestamps alone
        # Polls that may have overflowed while the size is unknown: (epoch, lines, index step, estimate).
        self._pending: list[tuple[int, int, int, float | None]] = []
        self._sizes: list[int] = []
        self._max_index = 0
        self._send_index = 0
        self._synced = False
        self._adoptable = False  # a fresh connection: the first STATUS may start the count
        self._origin_ms: int | None = None
        self._last_ts: int | None = None
        self._span_ms = 0
        self._intervals = 0
        # Since the last START ("epoch"): lines received, messages overwritten, and two
        # (messages logged, timestamp of the last one) points that give the logging period.
        self._epoch = 0
        self._epoch_received = 0
        self._epoch_lost = 0
        self._anchors: list[tuple[int, int]] = []
        self.new_board()

    # -- what the link tells ------------------------------------------------

    def new_board(self) -> None:
        """A board answered a handshake: it may be another sketch, learn its buffer size again."""
        self._lose_sync()
        self._sizes = list(range(2, MAX_BUFFER_SIZE + 1))
        self._max_index = 0
        self._adoptable = True

    def new_session(self) -> None:
        """A session starts: count from zero."""
        self._lose_sync()
        self.exact_total = self.estimated_total = 0

    def start(self, status: str | bytes | None) -> None:
        """The board STARTed; `status` is the STATUS reply read right after START (or None)."""
        indices = parse_status(status) if status is not None else None
        self._begin(indices, indices.millis if indices is not None else None)
        self._last_ts = None
        self._span_ms = self._intervals = 0

    def _begin(self, indices: BoardIndices | None, origin_ms: int | None) -> None:
        """Count from these indices on (a new epoch of the board's buffer)."""
        self._epoch += 1
        self._epoch_received = self._epoch_lost = 0
        self._anchors = []
        self._origin_ms = origin_ms
        self._synced = indices is not None and indices.logging
        self._send_index = indices.send_index if indices is not None else 0
        self._adoptable = False

    def lose_sync(self) -> None:
        """The indices can no longer be trusted until the next START (a timeout, a user command)."""
        self._lose_sync()

    def observe(self, lines: Sequence[bytes | str], status: str | bytes | None) -> int:
        """Take one poll's lines and the STATUS read after them; return the change of `total`."""
        before = self.total
        gap = self._gap(lines)
        indices = parse_status(status) if status is not None else None
        if not self._synced or indices is None:
            adopt = self._adoptable and indices is not None and indices.logging
            self._lose_sync()
            self.estimated_total += _conservative(gap)
            if adopt:  # a board still logging on a fresh connection (the server restarted)
                self._begin(indices, None)
        else:
            self._count(len(lines), indices, _unbiased(gap))
        return self.total - before

    @property
    def total(self) -> int:
        """Messages overwritten in this session so far (exact when `exact`)."""
        return self.exact_total + self.estimated_total + self._pending_total()

    def _pending_total(self) -> int:
        """The best count of the polls kept while the buffer size is unknown.

        Overflow leaves batches of exactly N - 1 lines, so of the sizes still
        possible only the smallest explains an overflow; every larger one
        means nothing was lost.  The timestamps choose between the two.
        """
        if not self._pending:
            return 0
        size = self._sizes[0]
        if_full = sum(_overwritten(lines, step, estimate, size) for _, lines, step, estimate in self._pending)
        estimated = sum(max(0.0, estimate) for *_, estimate in self._pending if estimate is not None)
        return if_full if estimated > if_full / 2 else 0

    @property
    def exact(self) -> bool:
        """True when every message counted so far was counted from the indices."""
        return self.estimated_total == 0 and not self._pending

    @property
    def buffer_size(self) -> int | None:
        """The board's buffer size once learned."""
        return self._sizes[0] if len(self._sizes) == 1 else None

    # -- the arithmetic ---------------------------------------------------------

    def _count(self, lines: int, indices: BoardIndices, estimate: float | None) -> None:
        self._epoch_received += lines
        step = indices.send_index - self._send_index
        self._send_index = indices.send_index
        self._max_index = max(self._max_index, indices.send_index, indices.buffer_index)
        sizes = [
            size for size in self._sizes
            if size > self._max_index and size > lines and (lines == size - 1 or (lines - step) % size == 0)
        ]
        if not sizes:  # no buffer size explains this poll: the board restarted unseen
            self._lose_sync()
            self.estimated_total += max(0, round(estimate)) if estimate is not None else 0
            return
        self._sizes = sizes
        better = self._anchored_estimate() if lines else None
        if better is not None:
            estimate = better
        if len(sizes) == 1:
            self._settle(sizes[0])
            lost = _overwritten(lines, step, estimate, sizes[0])
            self.exact_total += lost
            self._epoch_lost += lost
        else:
            possible = set(sizes)  # overflow needs a batch of size - 1 lines
            self._pending = [entry for entry in self._pending if entry[1] + 1 in possible]
            if lines + 1 in possible:
                self._pending.append((self._epoch, lines, step, estimate))
                if len(self._pending) > self._max_pending:
                    self._lose_sync()
                    return
        if lines and self._last_ts is not None and all(entry[0] != self._epoch for entry in self._pending):
            logged = self._epoch_received + self._epoch_lost  # the number of the last line sent: exact
            self._anchors = (self._anchors or [(logged, self._last_ts)])[:1] + [(logged, self._last_ts)]

    def _settle(self, size: int) -> None:
        for epoch, lines, step, estimate in self._pending:
            lost = _overwritten(lines, step, estimate, size)
            self.exact_total += lost
            if epoch == self._epoch:
                self._epoch_lost += lost
        self._pending = []

    def _anchored_estimate(self) -> float | None:
        """Messages lost before this batch, from the period the exact counts so far give.

        Once counts are exact, the number of the last message of every batch
        is known; two of them and their timestamps give the logging period far
        better than the spans of single batches, and the new batch's last
        timestamp then says how many messages were logged by now.
        """
        if len(self._anchors) < 2 or self._last_ts is None:
            return None
        (first_count, first_ts), (last_count, last_ts) = self._anchors
        span_ms = (last_ts - first_ts) % _WRAP
        if not self._span_ms < span_ms < _WRAP // 2:
            return None  # the batches' own spans cover more time: they give the better period
        period_ms = span_ms / (last_count - first_count)
        ahead_ms = (self._last_ts - last_ts) % _WRAP
        if ahead_ms >= _WRAP // 2:
            return None
        logged = last_count + ahead_ms / period_ms
        return logged - self._epoch_received - self._epoch_lost

    def _lose_sync(self) -> None:
        self.estimated_total += self._pending_total()
        self._pending = []
        self._anchors = []
        self._synced = False
        self._adoptable = False

    def _gap(self, lines: Sequence[bytes | str]) -> tuple[float, float] | None:
        """(ms between the previous message and this batch's first, logging period in ms), if known."""
        if not lines:
            return None
        try:
            first = int(lines[0][4:12], 16)
            last = int(lines[-1][4:12], 16)
        except ValueError:
            return None
        if len(lines) > 1:
            self._span_ms += (last - first) % _WRAP
            self._intervals += len(lines) - 1
        reference = self._last_ts
        if reference is None and self._origin_ms is not None:
            # millis() stamps come after the START's millis; getElapsed() stamps start near 0.
            reference = self._origin_ms if (first - self._origin_ms) % _WRAP < _WRAP // 2 else 0
        self._last_ts = last
        if reference is None or not self._span_ms:
            return None
        gap_ms = (first - reference) % _WRAP
        if gap_ms >= _WRAP // 2:  # the clock went back: a restart, not a gap
            return None
        return float(gap_ms), self._span_ms / self._intervals


def _unbiased(gap: tuple[float, float] | None) -> float | None:
    """Messages missing before a batch, as a number (for choosing the multiple of N)."""
    if gap is None:
        return None
    gap_ms, period_ms = gap
    return gap_ms / period_ms - 1


def _conservative(gap: tuple[float, float] | None) -> int:
    """Messages missing before a batch, allowing 1 ms of jitter (the fallback count)."""
    if gap is None:
        return 0
    gap_ms, period_ms = gap
    return max(0, round((gap_ms - 1) / period_ms) - 1)


def _overwritten(lines: int, step: int, estimate: float | None, size: int) -> int:
    """Messages overwritten before one poll, for a buffer of `size` messages."""
    if lines != size - 1:
        return 0
    residue = (step - lines) % size
    wraps = 0 if estimate is None else max(0, round((estimate - residue) / size))
    return residue + wraps * size


__all__ = ["MAX_BUFFER_SIZE", "BoardIndices", "OverflowCounter", "parse_status"]
