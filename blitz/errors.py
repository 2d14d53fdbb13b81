"""The exception hierarchy every Blitz error derives from.

One base class lets the CLI turn any expected failure into a one-line message
without catching programming errors by accident.
"""

from __future__ import annotations


class BlitzError(Exception):
    """Base class of every error Blitz raises on purpose."""


class MessageError(BlitzError, ValueError):
    """A line from or to a board is not a valid message (wire.md)."""


class BoardError(BlitzError):
    """A board is unknown, misdefined, or cannot decode a message."""


class BoardDefinitionError(BoardError, ValueError):
    """A board definition (Python or TOML) is invalid."""


class StorageError(BlitzError):
    """Redis or the SQL database failed or holds unexpected data."""


class ConfigError(BlitzError, ValueError):
    """A configuration value (flag, environment, file) is invalid."""


class ProtocolError(BlitzError):
    """The control protocol between client and server was violated."""
