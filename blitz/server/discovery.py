"""Which serial ports to log: the configured ones plus USB serial ports found by scanning.

Configured entries may be device paths, stable symlinks or any pyserial URL
(`socket://host:port`, `rfc2217://host:port`, `loop://`); they are used as
given, whether or not they exist yet (a link retries until they appear).
Scanning uses `serial.tools.list_ports.comports()` and keeps ports with a USB
vendor id (Arduinos show up as ttyACM*/ttyUSB* with one), skipping legacy
ttyS* ports that every PC lists.  A port seen once keeps its link, which
retries when the device is gone; so a re-plugged board comes back whether it
returns under the same name or is found by the next scan under a new one.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterable

from serial.tools import list_ports

Comports = Callable[[], Iterable[Any]]


def scan_usb_ports(comports: Comports = list_ports.comports) -> list[str]:
    """Device paths of the USB serial ports present now, sorted."""
    found = []
    for port in comports():
        if getattr(port, "vid", None) is not None:
            found.append(str(port.device))
    return sorted(found)


def same_port(a: str, b: str) -> bool:
    """True when two names reach the same device (a symlink and its target)."""
    if a == b:
        return True
    if "://" in a or "://" in b:
        return False
    try:
        return os.path.realpath(a) == os.path.realpath(b)
    except OSError:
        return False


class PortWatcher:
    """Calls `add_port` once for every configured port and every new scanned one."""

    def __init__(
        self,
        configured: Iterable[str],
        add_port: Callable[[str], None],
        scan: bool = True,
        comports: Comports = list_ports.comports,
    ) -> None:
        self.configured = list(dict.fromkeys(configured))
        self.add_port = add_port
        self.scan = scan
        self.comports = comports
        self.known: list[str] = []

    def refresh(self) -> list[str]:
        """Add links for ports not seen before; returns the ports added now."""
        candidates = list(self.configured)
        if self.scan:
            try:
                candidates += scan_usb_ports(self.comports)
            except OSError:
                pass  # a failing scan (no /sys, permissions) leaves the configured ports
        added = []
        for port in candidates:
            if any(same_port(port, known) for known in self.known):
                continue
            self.known.append(port)
            self.add_port(port)
            added.append(port)
        return added
