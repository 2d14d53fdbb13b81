"""The online CLI commands with CliRunner, against the scripted loopback server."""

from __future__ import annotations

import io
import json
import socket
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from blitz.cli.layout import format_duration, sparkline, table
from blitz.cli.main import COMMANDS, cli
from blitz.data.database import DatabaseClient
from blitz.data.models import Cache, Notification, Session

from tests.client.conftest import basic_lines, mixed_lines
from tests.client.scripted_server import ScriptedServer

MINE = ["status", "start", "stop", "reset", "boards", "command", "live", "sessions", "download", "delete",
        "errors"]


def run(server: ScriptedServer, db: Path, *args: str, input: str | None = None) -> Result:
    env = {"BLITZ_PORT": str(server.port), "BLITZ_DB": str(db), "BLITZ_HOST": "127.0.0.1", "BLITZ_TOKEN": None}
    return CliRunner().invoke(cli, list(args), env=env, input=input, catch_exceptions=False)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "blitz.db"


@pytest.mark.parametrize("name", MINE)
def test_every_command_is_registered_with_an_example(name: str) -> None:
    assert name in COMMANDS
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output


def test_start_status_stop(server: ScriptedServer, db: Path) -> None:
    result = run(server, db, "start")
    assert (result.exit_code, result.stdout) == (0, "started session 1\n")
    assert run(server, db, "start").stdout == "already logging: session 1\n"
    assert run(server, db, "start", "--quiet").stdout == "1\n"
    status = run(server, db, "status")
    assert "logging:        yes, session 1" in status.stdout and "Blitz Basic expansion board" in status.stdout
    assert json.loads(run(server, db, "status", "--json").stdout)["session"] == 1
    assert json.loads(run(server, db, "stop", "--json").stdout) == {"session": 1}
    failed = run(server, db, "stop")
    assert failed.exit_code == 1
    assert failed.stdout == "" and failed.stderr == "Error: STOP: no session is running\n"


def test_boards_and_command(server: ScriptedServer, db: Path) -> None:
    boards = run(server, db, "boards")
    assert boards.stdout.splitlines()[1].split()[:3] == ["08", "ok", "/dev/pts/3"]
    assert json.loads(run(server, db, "boards", "--json").stdout)[0]["id"] == 8
    assert run(server, db, "command", "08", "0881").stdout == "0882\n"
    assert "BOARD 08 0881" in server.received
    missing = run(server, db, "command", "0x0c", "0881")
    assert missing.exit_code == 1 and missing.stderr == "Error: BOARD 0c 0881: no board 0c is connected\n"
    bad = run(server, db, "command", "08", "zz")
    assert bad.exit_code == 2 and "expected hex digits" in bad.stderr


def test_reset_asks_first(server: ScriptedServer, db: Path) -> None:
    server.add_session(basic_lines(2))
    declined = run(server, db, "reset", input="n\n")
    assert declined.exit_code == 1 and server.sessions
    assert run(server, db, "reset", "--yes").exit_code == 0
    assert server.sessions == {}


def test_sessions_download_delete(server: ScriptedServer, db: Path) -> None:
    first = server.add_session(mixed_lines(120))
    second = server.add_session(basic_lines(30))
    listed = json.loads(run(server, db, "sessions", "--json").stdout)
    assert [(s["id"], s["messages"], s["downloaded_messages"]) for s in listed] == [(2, 30, 0), (1, 120, 0)]
    text = run(server, db, "sessions").stdout.splitlines()
    assert text[0].split() == ["ID", "STARTED", "STOPPED", "DURATION", "MESSAGES", "DOWNLOADED", "AVAILABLE"]
    assert text[1].split()[-3:] == ["30", "0", "no"]

    result = run(server, db, "download", str(first), "--chunk", "50")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("session 1: 120 messages, 480 readings")
    assert "session 1 [" in result.stderr and "msg/s" in result.stderr  # progress on stderr
    again = json.loads(run(server, db, "download", "--all", "--json").stdout)
    assert [(r["session"], r["skipped"], r["messages"]) for r in again] == [(1, True, 0), (2, False, 30)]
    with DatabaseClient(path=str(db)) as database:
        assert database.stored_messages(first) == 120 and database.stored_messages(second) == 30
        assert len(database.get_session_readings(second)) == 150

    assert run(server, db, "delete", str(second), "--local", "--yes").exit_code == 0
    with DatabaseClient(path=str(db)) as database:
        assert database.stored_messages(second) == 0 and database.get_session_readings(second) == []
    assert second in server.sessions
    assert run(server, db, "delete", str(second), input="n\n").exit_code == 1
    assert run(server, db, "delete", str(second), "--yes").stdout == "session 2 deleted\n"
    assert second not in server.sessions
    with DatabaseClient(path=str(db)) as database:
        assert database.find(Session, {"ref_id": second}) == []
    gone = run(server, db, "delete", str(second), "--yes")
    assert gone.exit_code == 1 and gone.stderr == "Error: DELETE 2: no session 2 (server error 404)\n"


def test_download_needs_ids_or_all(server: ScriptedServer, db: Path) -> None:
    assert run(server, db, "download").exit_code == 2
    unknown = run(server, db, "download", "7")
    assert unknown.exit_code == 1 and "no session 7" in unknown.stderr


def test_download_reports_skipped_lines_and_errors_lists_them(server: ScriptedServer, db: Path) -> None:
    lines = basic_lines(10)
    lines[4] = "7f" + lines[4][2:]
    server.add_session(lines)
    result = run(server, db, "download", "1")
    assert "1 lines skipped" in result.stdout
    listed = run(server, db, "errors", "--server")
    assert "unknown boards" in listed.stdout and "board 09 lost" in listed.stdout
    cleared = json.loads(run(server, db, "errors", "--clear", "--json").stdout)
    assert cleared["cleared"] == 1 and len(cleared["local"]) == 1
    with DatabaseClient(path=str(db)) as database:
        assert database.all(Notification) == []


def test_live_prints_a_table_and_fills_the_cache(server: ScriptedServer, db: Path) -> None:
    server.add_session([], running=True)
    lines = basic_lines(20)
    threading.Timer(0.3, lambda: [server.push(line) for line in lines]).start()
    result = run(server, db, "live", "--seconds", "1", "--refresh", "0.1")
    assert result.exit_code == 0, result.stderr
    out = result.stdout.splitlines()
    assert out[0].split() == ["VARIABLE", "VALUE", "UNIT", "TREND", "COUNT"]
    assert out[1].split()[0] == "adc_channel_one" and out[1].split()[1] == "19" and out[1].split()[-1] == "20"
    assert "session 1: 20 lines, 100 readings, 100 cached" in result.stdout
    with DatabaseClient(path=str(db)) as database:
        assert len(database.all(Cache)) == 100
    snapshot = json.loads(run(server, db, "live", "--seconds", "0.2", "--json", "--no-cache").stdout)
    assert snapshot["lines"] == 0 and snapshot["cached"] == 0


@pytest.mark.parametrize("args", [["status"], ["stop"], ["sessions"], ["live", "--seconds", "1"],
                                  ["download", "--all"], ["errors", "--server"]])
def test_unreachable_server_is_one_line_and_exit_1(db: Path, args: list[str]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        env = {"BLITZ_TOKEN": None, "BLITZ_DB": str(db), "BLITZ_PORT": str(port)}
        result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"Error: cannot connect to the Blitz server at 127.0.0.1:{port}")


def test_wrong_token_is_one_line_and_exit_1(db: Path) -> None:
    with ScriptedServer(token="right") as server:
        result = CliRunner().invoke(cli, ["status", "--port", str(server.port), "--token", "wrong"])
        assert result.exit_code == 1
        assert result.stderr == "Error: AUTH: wrong token (server error 401; check --token / BLITZ_TOKEN)\n"
        ok = CliRunner().invoke(cli, ["status", "--port", str(server.port)], env={"BLITZ_TOKEN": "right"})
        assert ok.exit_code == 0


def test_layout_helpers() -> None:
    assert table(["A", "BB"], [[1, "x"], [22, "yyy"]], right=(0,)) == " A  BB\n 1  x\n22  yyy"
    assert format_duration(3723) == "1h 02m 03s" and format_duration(75) == "1m 15s"
    assert format_duration(None) == "-" and format_duration(2.25) == "2.2s"
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == "▁▂▃▄▅▆▇█"
    assert sparkline([5, 5, 5]) == "▁▁▁" and sparkline([]) == ""
    assert sparkline([0.0, 10.0], ascii_only=True) == "_@"


def test_tls_options(self_signed_cert: tuple[Path, Path]) -> None:
    import ssl

    cert, key = self_signed_cert
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with ScriptedServer(tls=context) as server:
        env = {"BLITZ_PORT": str(server.port), "BLITZ_TOKEN": None}
        ok = CliRunner().invoke(cli, ["boards", "--tls-ca", str(cert)], env=env)
        assert ok.exit_code == 0 and "Blitz Basic" in ok.stdout
        untrusted = CliRunner().invoke(cli, ["boards", "--tls", "--timeout", "2"], env=env)
        assert untrusted.exit_code == 1 and "CERTIFICATE_VERIFY_FAILED" in untrusted.stderr


def test_shell_completion_of_commands_and_local_session_ids(server: ScriptedServer, db: Path) -> None:
    import os
    import subprocess
    import sys

    script = Path(sys.executable).with_name("blitz")  # completion keys on the program name
    if not script.exists():
        pytest.skip("the blitz console script is not installed next to this Python")
    for lines in (basic_lines(2), basic_lines(3), basic_lines(4)):
        server.add_session(lines)
    assert run(server, db, "sessions").exit_code == 0

    def complete(words: str, store: Path) -> list[str]:
        cword = len(words.split()) - (0 if words.endswith(" ") else 1)
        env = dict(os.environ, _BLITZ_COMPLETE="bash_complete", COMP_WORDS=words, COMP_CWORD=str(cword),
                   BLITZ_DB=str(store))
        out = subprocess.run([str(script)], env=env, capture_output=True, text=True, timeout=30)
        return [line.split(",", 1)[1] for line in out.stdout.splitlines() if line]

    commands = complete("blitz st", db)
    assert {"start", "status", "stop"} <= set(commands) and all(c.startswith("st") for c in commands)
    assert complete("blitz download ", db) == ["3", "2", "1"]
    assert complete("blitz delete 2", db) == ["2"]
    nothing = db.parent / "nothing.db"
    assert complete("blitz download ", nothing) == [] and not nothing.exists()


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_screen_redraws_in_place_on_a_terminal() -> None:
    from blitz.cli.live import Screen

    terminal = FakeTerminal()
    screen = Screen(terminal)
    screen.draw("a\nb")
    screen.draw("c\nd\ne")
    screen.draw("f")
    assert terminal.getvalue() == "a\nb\n\x1b[2F\x1b[Jc\nd\ne\n\x1b[3F\x1b[Jf\n"


def test_progress_line_rewrites_one_line_on_a_terminal_and_prints_lines_otherwise() -> None:
    from blitz.cli.sessions import ProgressLine
    from blitz.client.download import DownloadProgress

    terminal = FakeTerminal()
    line = ProgressLine(terminal, interval_s=0)
    line(DownloadProgress(3, 500, 1000, 2500.0, 0.2))
    line(DownloadProgress(3, 1000, 1000, 2500.0, 0.0))
    line.end()
    text = terminal.getvalue()
    assert text.count("\r\x1b[K") == 2 and text.endswith("\n") and text.count("\n") == 1
    assert " 50% 500/1,000 msgs  2,500 msg/s  ETA 0.2s" in text and "[" + "#" * 30 + "]" in text

    plain = io.StringIO()
    quiet = ProgressLine(plain, plain_interval_s=3600)
    for done in range(100, 1001, 100):
        quiet(DownloadProgress(4, done, 1000, 10.0, None))
    assert plain.getvalue().count("\n") == 2  # the first update and the final one
    assert "\x1b" not in plain.getvalue() and "ETA -" in plain.getvalue()


BOARD_FILE = """
[[board]]
id = 0x7f
description = "Wind tunnel pressure board"

[[board.variable]]
name = "pressure"
bits = 16
scale = 0.01
unit = "kPa"
"""


def test_a_board_definition_file_decodes_a_session_again(server: ScriptedServer, db: Path, tmp_path: Path) -> None:
    lines = basic_lines(4) + [f"7fa0{i:08x}{(1000 + i) << 48:016x}" for i in range(6)]
    session = server.add_session(lines)
    first = json.loads(run(server, db, "download", str(session), "--json").stdout)[0]
    assert first["readings"] == 4 * 5 and first["unknown_boards"] == {"7f": 6}

    board_file = tmp_path / "boards" / "tunnel.toml"
    board_file.parent.mkdir()
    board_file.write_text(BOARD_FILE)
    assert run(server, db, "delete", str(session), "--local", "--yes").exit_code == 0
    again = json.loads(run(server, db, "download", str(session), "--json", "--boards",
                           str(board_file.parent)).stdout)[0]
    assert again["readings"] == 4 * 5 + 6 and again["unknown_boards"] == {} and again["offset"] == 0
    with DatabaseClient(path=str(db)) as database:
        pressure = database.get_or_create_category("pressure")
        values = sorted(r.value for r in database.get_session_readings(session) if r.category_id == pressure)
    assert values == pytest.approx([10.0 + i / 100 for i in range(6)])
    broken = board_file.parent / "broken.toml"
    broken.write_text("[[board]]\nid = 0x7e\n")
    bad = run(server, db, "download", str(session), "--boards", str(broken))
    assert bad.exit_code == 1 and bad.stderr.startswith("Error: ") and "description" in bad.stderr
