"""`blitz ui` as a command: help, config file and environment precedence, and clean one-line errors."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from blitz.cli.main import cli
from blitz.cli.ui import console_url

from tests.client.stack import stop_process
from tests.web.harness import BLITZ, WebClient, start_ui

pytestmark = pytest.mark.integration


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLITZ_")}
    env.update(extra)
    return env


def test_help_ends_with_examples() -> None:
    result = CliRunner().invoke(cli, ["ui", "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output and "blitz ui --logger-host" in result.output
    assert "BLITZ_UI_PORT" in result.output and "BLITZ_HOST" in result.output


def test_console_urls() -> None:
    assert console_url("127.0.0.1", 8080) == "http://127.0.0.1:8080/"
    assert console_url("0.0.0.0", 80) == "http://127.0.0.1:80/"
    assert console_url("::1", 9) == "http://[::1]:9/"
    assert console_url("lab-pc.local", 8080) == "http://lab-pc.local:8080/"


def test_the_config_file_sets_defaults_and_the_environment_wins(tmp_path: Path) -> None:
    config = tmp_path / "blitz.toml"
    config.write_text(
        '[server]\nport = 9999\n\n[ui]\nport = 0\nno_logger = true\ndb = "{}"\n'.format(tmp_path / "from-file.db"))
    process, url = start_ui(["--config", str(config)], tmp_path / "a.log", env=clean_env(), cwd=tmp_path)
    try:
        log = (tmp_path / "a.log").read_text()
        assert "no logger" in log and "from-file.db" in log
        assert WebClient(int(url.rsplit(":", 1)[1].strip("/"))).get("/api/status").status == 200
    finally:
        stop_process(process)
    env = clean_env(BLITZ_CONFIG=str(config), BLITZ_DB=str(tmp_path / "from-env.db"))
    process, _ = start_ui([], tmp_path / "b.log", env=env, cwd=tmp_path)
    try:
        log = (tmp_path / "b.log").read_text()
        assert "from-env.db" in log and "no logger" in log
    finally:
        stop_process(process)


def test_config_errors_name_the_file_and_key(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[ui]\nportt = 1\n")
    result = CliRunner().invoke(cli, ["ui", "--config", str(config)], env={"BLITZ_CONFIG": None})
    assert result.exit_code == 2
    assert "unknown key 'portt' in [ui]" in result.output and str(config) in result.output
    config.write_text("[ui\n")
    result = CliRunner().invoke(cli, ["ui", "--config", str(config)])
    assert result.exit_code == 2 and "cannot read" in result.output


def test_memory_databases_and_busy_ports_are_one_line_errors(tmp_path: Path) -> None:
    memory = subprocess.run([*BLITZ, "ui", "--no-browser", "--db", ":memory:"], capture_output=True, text=True,
                            timeout=30, env=clean_env(), cwd=tmp_path)
    assert memory.returncode == 1
    assert memory.stderr.strip() == "Error: --db: the console needs a database file or URL, not ':memory:'"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        taken = subprocess.run([*BLITZ, "ui", "--no-browser", "--no-logger", "--port", str(port),
                                "--db", str(tmp_path / "x.db")], capture_output=True, text=True, timeout=30,
                               env=clean_env(), cwd=tmp_path)
    assert taken.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in taken.stderr and "Traceback" not in taken.stderr


def test_the_browser_is_opened_on_the_console_unless_told_not_to(tmp_path: Path) -> None:
    opened = tmp_path / "opened.txt"
    # webbrowser runs $BROWSER with %s replaced by the URL; this one only writes the URL down.
    env = clean_env(BROWSER=f"sh -c 'echo \"$0\" > {opened}' %s")
    process, url = start_ui(["--port", "0", "--no-logger", "--db", str(tmp_path / "o.db")], tmp_path / "o.log",
                            env=env, cwd=tmp_path, open_browser=True)
    try:
        from tests.client.stack import wait_for

        assert wait_for(lambda: opened.exists() and opened.read_text().strip(), "the browser command") == url
    finally:
        stop_process(process)
    opened.unlink()
    process, _ = start_ui(["--port", "0", "--no-logger", "--db", str(tmp_path / "o.db")], tmp_path / "p.log",
                          env=env, cwd=tmp_path)
    try:
        time.sleep(1.0)
        assert not opened.exists()
    finally:
        stop_process(process)
