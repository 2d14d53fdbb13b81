"""docs/protocol.md is executable: its example conversations replay against the server.

Each fenced block holding `C:` / `S:` lines is one conversation with a fresh
server: the real BlitzLogger on fakeredis with no boards, behind the real
ControlProtocol and ServerConfig.  The same conversations also run against the
FakeLogger the other protocol tests use, which keeps that fake honest.  The
tables and numbers of the page are checked against the code too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import fakeredis
import pytest
from twisted.internet import task

from blitz.server import commands
from blitz.server.config import ServerConfig
from blitz.server.control_protocol import DEFAULT_MAX_PENDING_LINES
from blitz.server.live import DEFAULT_MAX_QUEUED_LINES
from tests.server.test_control_fakes import CHUNK_SIZES, Connection, FakeLogger

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
TEXT = DOC.read_text(encoding="utf-8")


@dataclass
class Conversation:
    token: str | None = None
    steps: list[tuple[str, list[str]]] = field(default_factory=list)

    @property
    def commands(self) -> list[str]:
        return [command for command, _ in self.steps]

    @property
    def replies(self) -> list[str]:
        return [line for _, lines in self.steps for line in lines]


def conversations(text: str) -> list[Conversation]:
    """Every fenced block of the page that holds a C:/S: conversation."""
    found = []
    for block in re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.M | re.S):
        if not re.search(r"^C: ", block, flags=re.M):
            continue
        conversation = Conversation()
        for line in block.splitlines():
            if line.startswith("# server token: "):
                conversation.token = line.split(": ", 1)[1]
            elif line.startswith("C: "):
                conversation.steps.append((line[3:], []))
            elif line.startswith("S: "):
                assert conversation.steps, f"S: line before any C: line: {line!r}"
                conversation.steps[-1][1].append(line[3:])
            elif line.strip() and not line.startswith("#"):
                raise AssertionError(f"unexpected line in a conversation: {line!r}")
        found.append(conversation)
    return found


def matches(pattern: str, line: str) -> bool:
    """`<words>` in a documented line stand for any one value."""
    parts = re.split(r"<[^<>]+>", pattern)
    return re.fullmatch(r"\S+".join(re.escape(part) for part in parts), line) is not None


class Server:
    """A ControlProtocol connection plus a way to let its pending work finish."""

    def __init__(self, conn: Connection, settle: Callable[[], None]) -> None:
        self.conn, self._settle = conn, settle

    def read(self, count: int) -> list[str]:
        """Run timers and Redis writes until `count` more lines arrived (or 600 steps)."""
        lines: list[str] = []
        for _ in range(600):
            lines += self.conn.output()
            if len(lines) >= count:
                break
            self._settle()
            self.conn.clock.advance(0.1)
        return lines


def real_server(token: str | None) -> Server:
    from blitz.data.redis_buffer import DatabaseServer
    from blitz.server.logger import BlitzLogger, LoggerOptions
    from blitz.server.redis_writer import RedisWriter

    clock = task.Clock()
    store = DatabaseServer(redis=fakeredis.FakeRedis(server=fakeredis.FakeServer()))
    holder: list[Any] = []
    # the writer's thread is replaced by write_once() calls on this thread
    writer = RedisWriter(store, lambda f, *a: f(*a),
                         notify=lambda severity, text: holder[0].notify(severity, text))
    logger = BlitzLogger(store, writer, clock, LoggerOptions(),
                         wall_clock=lambda: 1_700_000_000.0, monotonic=clock.seconds)
    holder.append(logger)
    conn = Connection(logger, ServerConfig(token=token), clock=clock)  # type: ignore[arg-type]

    def settle() -> None:
        for _ in range(20):
            writer.write_once()

    settle()
    return Server(conn, settle)


def fake_server(token: str | None) -> Server:
    conn = Connection(FakeLogger(), ServerConfig(token=token))  # type: ignore[arg-type]
    return Server(conn, lambda: None)


SERVERS = {"real logger": real_server, "fake logger": fake_server}
CONVERSATIONS = conversations(TEXT)


def test_the_page_has_the_conversations() -> None:
    assert len(CONVERSATIONS) >= 2
    assert any(c.token for c in CONVERSATIONS)
    assert len(CONVERSATIONS[0].steps) >= 15


def assert_transcript(expected: list[str], got: list[str]) -> None:
    assert len(got) == len(expected), f"expected {expected}, got {got}"
    for pattern, line in zip(expected, got):
        assert matches(pattern, line), f"expected {pattern!r}, got {line!r}"


@pytest.mark.parametrize("server", list(SERVERS))
@pytest.mark.parametrize("index", range(len(CONVERSATIONS)))
def test_conversation_step_by_step(index: int, server: str) -> None:
    conversation = CONVERSATIONS[index]
    replay = SERVERS[server](conversation.token)
    for command, expected in conversation.steps:
        replay.conn.feed(command.encode("utf-8") + b"\n")
        assert_transcript(expected, replay.read(len(expected)))
    assert replay.read(1) == []  # nothing more than documented


@pytest.mark.parametrize("server", list(SERVERS))
@pytest.mark.parametrize("index", range(len(CONVERSATIONS)))
def test_conversation_pipelined_in_small_chunks(index: int, server: str) -> None:
    conversation = CONVERSATIONS[index]
    data = "".join(command + "\n" for command in conversation.commands).encode("utf-8")
    for chunk in CHUNK_SIZES:
        replay = SERVERS[server](conversation.token)
        replay.conn.feed(data, chunk)
        assert_transcript(conversation.replies, replay.read(len(conversation.replies)))


def table_rows(heading: str) -> list[str]:
    """First cells of the body rows of the tables under a `## heading`."""
    section = TEXT.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    lines = section.splitlines()
    rows = []
    for line, following in zip(lines, lines[1:] + [""]):
        is_header = following.startswith("|---")
        if line.startswith("| ") and not is_header:
            rows.append(line.split("|")[1].strip())
    return rows


def test_every_command_is_documented_and_every_documented_command_exists() -> None:
    documented = set()
    for cell in table_rows("Commands"):
        for synopsis in re.findall(r"`([^`]+)`", cell):
            documented.add(synopsis.split()[0])
    assert documented == set(commands.SYNOPSES)


def test_every_error_code_and_terminal_word_the_server_sends_is_documented() -> None:
    sources = "".join((Path(commands.__file__).parent / name).read_text()
                      for name in ("control_protocol.py", "commands.py"))
    codes_sent = set(re.findall(r'"ERROR (\d{3}) ', sources))
    codes_documented = {row for row in table_rows("Terminal lines") if row.isdigit()}
    assert codes_sent and codes_sent <= codes_documented
    words_sent = set(re.findall(r'"(ACK|NACK|INSESSION|NOSESSION|NOBOARD|BOARDERROR|ERROR)\b', sources))
    words_documented = {re.sub(r"`", "", row).split()[0] for row in table_rows("Terminal lines")
                        if not row.isdigit()}
    assert words_sent == words_documented


def test_numbers_on_the_page_match_the_code() -> None:
    config = ServerConfig()
    assert f"longer than {config.max_line_bytes} bytes" in TEXT
    assert f"at most {DEFAULT_MAX_QUEUED_LINES} lines" in TEXT
    assert f"more than {DEFAULT_MAX_PENDING_LINES} received lines" in TEXT
    assert f"{commands.BOARD_LINE_MIN_CHARS} to {commands.BOARD_LINE_MAX_CHARS} hex digits" in TEXT
    assert "1 s for the first failure" in TEXT and "up to 30 s" in TEXT
    from blitz.server.control_protocol import ControlProtocol
    defaults = ControlProtocol.__init__.__kwdefaults__
    assert defaults["auth_delay_s"] == 1.0 and defaults["auth_max_delay_s"] == 30.0
