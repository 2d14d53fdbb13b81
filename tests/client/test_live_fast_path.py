"""The blocking client's shortcut for `!LIVE` lines gives exactly what `parse_push` gives."""

from __future__ import annotations

import socket
import threading

from blitz.client import reply_parser as rp
from blitz.client.blocking import Client

ODD_PUSHES = [
    "!LIVE 3 0820000003e8000102030405060a",  # the common case
    "!LIVE 3 0820000003e8000102030405060a\r",  # CRLF ending
    "!LIVE 3   0820000003e8000102030405060a  ",  # extra blanks around the line
    "!LIVE 12 ",  # an empty line
    "!live 3 0820000003e8000102030405060a",  # lower-case kind: the general parser
    "!LIVE +4 0820000003e8000102030405060a",  # not plain digits: the general parser
    "!NOTE 1700000000000 2 board 08 lost",
    "!DROPPED 5",
]


def serve(server_end: socket.socket) -> None:
    """Answer LIVE ON with ACK and the pushes, LIVE OFF with ACK."""
    with server_end, server_end.makefile("rb") as commands:
        for raw in commands:
            command = raw.decode().strip()
            server_end.sendall(b"ACK\n")
            if command == "LIVE ON":
                server_end.sendall("".join(line + "\n" for line in ODD_PUSHES).encode())
            elif command == "LIVE OFF":
                return


def test_live_pushes_parse_like_parse_push() -> None:
    client_end, server_end = socket.socketpair()
    responder = threading.Thread(target=serve, args=(server_end,), daemon=True)
    responder.start()
    received: list[rp.Push] = []
    with Client(socket_factory=lambda address, timeout: client_end, timeout=5.0, retries=1) as client:
        for pushes in client.live(seconds=0.3, idle_s=0.05):
            received.extend(pushes)
    responder.join(5)
    assert received == [rp.parse_push(text.rstrip("\r")[1:]) for text in ODD_PUSHES]
