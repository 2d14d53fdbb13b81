"""One simulated board plugged into a pseudo-terminal.

The master side belongs to the simulator; the server opens the slave path
(`/dev/pts/N`, or the stable symlink) as if it were `/dev/ttyACM0`.  The
simulator does not keep the slave open itself, so it can tell when nobody
has the port open (the master reports a hang-up and reads fail with EIO):
output is then dropped, as a board's USB serial drops it, and an open can be
noticed to emulate the Arduino's reset-on-open.

Opens are noticed by probing hung-up masters on every host tick, so the
emulated reset starts up to one tick (10 ms by default) after the real open;
bytes a client writes in that gap are lost like those sent to a booting board.

Not thread-safe: a `PtyHost` calls every method from its one thread.
"""

from __future__ import annotations

import errno
import os
import select
import termios
import tty
from typing import Callable

from blitz.simulator.firmware import Firmware

#: Bytes read from a master in one call.
READ_CHUNK = 65536


class PtyBoard:
    """A Firmware on a pty pair, with an output queue and an optional stable symlink.

    `reset_delay_s`: None means the board ignores opens (like a board whose
    auto-reset is disabled); a number makes every open reboot the firmware
    and drop what arrives in the next `reset_delay_s` seconds, as the
    Arduino bootloader does after DTR resets it.
    """

    def __init__(
        self,
        firmware: Firmware,
        *,
        clock_s: Callable[[], float],
        link_path: str | None = None,
        reset_delay_s: float | None = None,
    ) -> None:
        self.firmware = firmware
        self.link_path = link_path
        self.reset_delay_s = reset_delay_s
        self.device_path: str | None = None
        self.master_fd: int | None = None
        #: True while some process has the slave open (as far as seen so far).
        self.connected = False
        self.plug_count = 0
        self.opens = 0
        self._clock_s = clock_s
        self._out = bytearray()
        self._deaf_until_s = 0.0

    @property
    def board_id(self) -> int:
        """The board's id byte."""
        return self.firmware.board_id

    @property
    def plugged(self) -> bool:
        """True while the board has a pty."""
        return self.master_fd is not None

    @property
    def wants_write(self) -> bool:
        """True while output waits for the pty to accept it."""
        return bool(self._out)

    # -- plugging ----------------------------------------------------------

    def plug(self) -> None:
        """Create a fresh pty (a new /dev/pts/N), boot the firmware, point the link at it."""
        if self.master_fd is not None:
            raise RuntimeError(f"board 0x{self.board_id:02x} is already plugged in")
        master, slave = os.openpty()
        try:
            tty.setraw(slave)  # no echo, no newline translation, 8-bit clean
            attrs = termios.tcgetattr(slave)
            attrs[4] = attrs[5] = termios.B57600  # cosmetic: what the sketch uses
            termios.tcsetattr(slave, termios.TCSANOW, attrs)
            self.device_path = os.ttyname(slave)
        finally:
            os.close(slave)  # a hang-up on the master now means "nobody has it open"
        os.set_blocking(master, False)
        self.master_fd = master
        self.connected = False
        self.plug_count += 1
        self._out.clear()
        self.firmware.reboot()
        if self.link_path is not None:
            temporary = f"{self.link_path}.{os.getpid()}.tmp"
            if os.path.lexists(temporary):
                os.unlink(temporary)
            os.symlink(self.device_path, temporary)
            os.replace(temporary, self.link_path)

    def unplug(self) -> None:
        """Close the pty: the server's reads and writes fail; the link disappears."""
        if self.master_fd is None:
            return
        self.firmware.poll()
        os.close(self.master_fd)
        self.master_fd = None
        self.connected = False
        self._out.clear()
        if self.link_path is not None and os.path.islink(self.link_path):
            if os.readlink(self.link_path) == self.device_path:
                os.unlink(self.link_path)

    # -- I/O (called by the host when poll says so) ------------------------

    def read_input(self) -> bool:
        """Read what the server wrote and answer it; False when nobody has the slave open."""
        assert self.master_fd is not None
        try:
            data = os.read(self.master_fd, READ_CHUNK)
        except BlockingIOError:
            return True
        except OSError as exc:
            if exc.errno == errno.EIO:
                self.hang_up()
                return False
            raise
        if not data:
            self.hang_up()
            return False
        if self._deaf_until_s and self._clock_s() < self._deaf_until_s:
            return True  # the bootloader is running: input is lost
        self._deaf_until_s = 0.0
        reply = self.firmware.receive(data)
        if reply:
            self._out += reply
            return self.write_output()
        return True

    def write_output(self) -> bool:
        """Write as much queued output as the pty takes; False on a hang-up."""
        assert self.master_fd is not None
        while self._out:
            try:
                written = os.write(self.master_fd, self._out)
            except BlockingIOError:
                return True
            except OSError as exc:
                if exc.errno == errno.EIO:
                    self.hang_up()
                    return False
                raise
            del self._out[:written]
        return True

    def hang_up(self) -> None:
        """Nobody has the slave open: drop output, as a board's USB serial does."""
        self.connected = False
        self._out.clear()
        if self.master_fd is not None:
            try:
                termios.tcflush(self.master_fd, termios.TCIOFLUSH)
            except termios.error:
                pass

    def check_opened(self) -> bool:
        """While hung up: True (and maybe reboot) once some process opened the slave."""
        assert self.master_fd is not None
        probe = select.poll()
        probe.register(self.master_fd, select.POLLIN)
        events = probe.poll(0)
        if events and events[0][1] & (select.POLLHUP | select.POLLERR):
            if events[0][1] & select.POLLIN:  # a client came and went unseen
                self.hang_up()
            return False
        self.connected = True
        self.opens += 1
        if self.reset_delay_s is not None:
            self.firmware.reboot()
            self._deaf_until_s = self._clock_s() + self.reset_delay_s if self.reset_delay_s > 0 else 0.0
        return True

    def __repr__(self) -> str:
        return f"<PtyBoard 0x{self.board_id:02x} {self.device_path or 'unplugged'}>"


__all__ = ["READ_CHUNK", "PtyBoard"]
