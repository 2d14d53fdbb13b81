"""The exceptions a Blitz client raises for failed connections and refused commands.

Each server answer that is not a success maps to one class, so a script can
catch exactly the case it handles (`except NoSession:`) and the CLI can print
any of them as one line.
"""

from __future__ import annotations

from blitz.errors import BlitzError, ProtocolError


class ClientError(BlitzError):
    """Base class of every error raised by the Blitz client."""


class ConnectionFailed(ClientError):
    """The server could not be reached, or the connection broke or timed out."""


class BadReply(ClientError, ProtocolError):
    """The server sent something the control protocol does not allow here."""


class ServerError(ClientError):
    """The server answered `ERROR <code> <reason>`."""

    def __init__(self, command: str, code: int, reason: str) -> None:
        super().__init__(f"{command}: {reason} (server error {code})")
        self.command = command
        self.code = code
        self.reason = reason


class AuthError(ServerError):
    """Error 401: a token is required, or the token given is wrong."""

    def __init__(self, command: str, code: int, reason: str) -> None:
        ServerError.__init__(self, command, code, reason)
        self.args = (f"{command}: {reason} (server error {code}; check --token / BLITZ_TOKEN)",)


class UnknownSession(ServerError):
    """Error 404: the logger holds no session with that number."""


class Refused(ClientError):
    """The server answered `NACK <reason>`: valid, but not in the current state."""

    def __init__(self, command: str, reason: str) -> None:
        super().__init__(f"{command}: refused: {reason}")
        self.command = command
        self.reason = reason


class NoSession(ClientError):
    """The command needs a running session and none is running."""

    def __init__(self, command: str) -> None:
        super().__init__(f"{command}: no session is running")
        self.command = command


class NoBoard(ClientError):
    """No board with that id is connected to the logger."""

    def __init__(self, command: str, board_id: str) -> None:
        super().__init__(f"{command}: no board {board_id} is connected")
        self.command = command
        self.board_id = board_id


class BoardErrorReply(ClientError):
    """The board answered a command with an error code, or not at all."""

    def __init__(self, command: str, board_id: str, reason: str) -> None:
        super().__init__(f"{command}: board {board_id} failed: {reason}")
        self.command = command
        self.board_id = board_id
        self.reason = reason


__all__ = [
    "AuthError",
    "BadReply",
    "BoardErrorReply",
    "ClientError",
    "ConnectionFailed",
    "NoBoard",
    "NoSession",
    "Refused",
    "ServerError",
    "UnknownSession",
]
