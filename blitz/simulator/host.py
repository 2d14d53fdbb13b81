"""The thread that services many PtyBoards with one poll loop.

One thread and level-triggered `poll()` over every master: a busy master is
read 64 KiB at a time and answered with one write, so ten boards at 5,000
lines/s each cost a few hundred system calls per second, not one per byte.
Boards that nobody has open are taken out of the poll set (their masters
report a hang-up continuously) and probed on every tick instead.
"""

from __future__ import annotations

import os
import queue
import select
import threading
import time
from concurrent.futures import Future
from typing import Callable, Sequence, TypeVar

from blitz.simulator.pty_board import PtyBoard

T = TypeVar("T")

_READ = select.POLLIN | select.POLLPRI
_WRITE = select.POLLOUT


class PtyHost:
    """Runs boards' I/O in a background thread; `call()` runs code in that thread.

    `tick_s` bounds how late an open of a hung-up port is noticed;
    `sample_tick_s` is how often every board takes its due samples (sampling
    is lazy, so this only keeps counters fresh and each batch small).
    """

    def __init__(
        self,
        boards: Sequence[PtyBoard],
        *,
        tick_s: float = 0.01,
        sample_tick_s: float = 0.1,
        clock_s: Callable[[], float] = time.monotonic,
    ) -> None:
        self.boards = list(boards)
        self.tick_s = tick_s
        self.sample_tick_s = sample_tick_s
        self._next_sample_s = 0.0
        self._clock_s = clock_s
        self._calls: queue.SimpleQueue[tuple[Callable[[], object], Future[object]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._wake_r, self._wake_w = -1, -1
        self._poller = select.poll()
        self._registered: dict[int, tuple[PtyBoard, int]] = {}
        self.error: BaseException | None = None

    # -- life cycle --------------------------------------------------------

    def start(self) -> None:
        """Plug every board in and start the service thread."""
        if self._thread is not None:
            raise RuntimeError("the host is already running")
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._poller.register(self._wake_r, select.POLLIN)
        for board in self.boards:
            if not board.plugged:
                board.plug()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="blitz-simulator", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the thread, then unplug every board."""
        if self._thread is None:
            return
        self._stopping = True
        self._wake()
        self._thread.join(timeout_s)
        self._thread = None
        for board in self.boards:
            board.unplug()
        self._poller = select.poll()
        self._registered.clear()
        os.close(self._wake_r)
        os.close(self._wake_w)

    @property
    def running(self) -> bool:
        """True while the service thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def call(self, function: Callable[[], T], timeout_s: float = 5.0) -> T:
        """Run `function` in the service thread and return its result.

        Boards and their fds belong to that thread; other threads change
        them only through here (closing an fd under a running poll would
        race with fd reuse).
        """
        if not self.running:
            return function()
        future: Future[object] = Future()
        self._calls.put((function, future))
        self._wake()
        return future.result(timeout_s)  # type: ignore[return-value]

    def unplug(self, board: PtyBoard) -> None:
        """Close a board's pty, as if its USB cable were pulled."""

        def pull() -> None:
            self._forget(board)
            board.unplug()

        self.call(pull)

    def replug(self, board: PtyBoard) -> None:
        """Plug a board in again: new pty, fresh boot, link repointed."""

        def again() -> None:
            self._forget(board)
            board.unplug()
            board.plug()

        self.call(again)

    # -- the loop ------------------------------------------------------------

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except BlockingIOError:
            pass

    def _forget(self, board: PtyBoard) -> None:
        fd = board.master_fd
        if fd is not None and fd in self._registered:
            self._poller.unregister(fd)
            del self._registered[fd]

    def _watch(self, board: PtyBoard) -> None:
        """Register or update a connected board's fd with the events it needs."""
        fd = board.master_fd
        if fd is None or not board.connected:
            self._forget(board)
            return
        mask = _READ | (_WRITE if board.wants_write else 0)
        current = self._registered.get(fd)
        if current is None:
            self._poller.register(fd, mask)
        elif current[1] != mask:
            self._poller.modify(fd, mask)
        self._registered[fd] = (board, mask)

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # noqa: BLE001 - reported through .error
            self.error = exc
            raise

    def _loop(self) -> None:
        next_tick = 0.0
        while not self._stopping:
            now = self._clock_s()
            if now >= next_tick:
                self._tick()
                next_tick = now + self.tick_s
            timeout_ms = max(0, int((next_tick - now) * 1000) + 1)
            for fd, events in self._poller.poll(timeout_ms):
                if fd == self._wake_r:
                    self._run_calls()
                    continue
                entry = self._registered.get(fd)
                if entry is None:
                    continue
                board = entry[0]
                alive = True
                if events & _READ:
                    alive = board.read_input()
                elif events & (select.POLLHUP | select.POLLERR | select.POLLNVAL):
                    board.hang_up()
                    alive = False
                if alive and events & _WRITE:
                    board.write_output()
                self._watch(board)

    def _run_calls(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass
        while True:
            try:
                function, future = self._calls.get_nowait()
            except queue.Empty:
                return
            try:
                future.set_result(function())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                future.set_exception(exc)

    def _tick(self) -> None:
        """Let time pass on every board and notice ports that were opened."""
        now = self._clock_s()
        sample = now >= self._next_sample_s
        if sample:
            self._next_sample_s = now + self.sample_tick_s
        for board in self.boards:
            if not board.plugged:
                continue
            if sample:
                board.firmware.poll()
            if not board.connected and board.check_opened():
                self._watch(board)


__all__ = ["PtyHost"]
