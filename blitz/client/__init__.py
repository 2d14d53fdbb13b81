"""The Blitz client: talk to a logging server, download sessions, watch live values.

`Client` is the blocking facade for scripts and the CLI; `blitz.client.protocol`
holds the Twisted protocol (imported on demand, so scripts need no reactor).
"""

from blitz.client.blocking import Client
from blitz.client.download import Downloader, DownloadProgress, DownloadReport
from blitz.client.errors import (
    AuthError,
    BadReply,
    BoardErrorReply,
    ClientError,
    ConnectionFailed,
    NoBoard,
    NoSession,
    Refused,
    ServerError,
    UnknownSession,
)
from blitz.client.live import LiveValue, LiveView
from blitz.client.reply_parser import (
    BoardInfo,
    DownloadResult,
    LivePush,
    NoteInfo,
    SessionInfo,
    StartResult,
)

__all__ = [
    "AuthError",
    "BadReply",
    "BoardErrorReply",
    "BoardInfo",
    "Client",
    "ClientError",
    "ConnectionFailed",
    "DownloadProgress",
    "DownloadReport",
    "DownloadResult",
    "Downloader",
    "LivePush",
    "LiveValue",
    "LiveView",
    "NoBoard",
    "NoSession",
    "NoteInfo",
    "Refused",
    "ServerError",
    "SessionInfo",
    "StartResult",
    "UnknownSession",
]
