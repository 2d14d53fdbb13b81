"""Configurations that would leave the control port open are refused.

An empty token is no token: refused wherever it comes from (the Python
API, a flag, the environment, a config file).  A server listening beyond
loopback without a token refuses to start, whichever way the host is given
(tests/server/test_server_process.py covers `--host 0.0.0.0`).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from twisted.internet import task

from blitz.errors import ConfigError
from blitz.server.auth import TokenGate
from blitz.server.config import ServerConfig, load_config
from tests.reliability.harness import ServerProcess

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


@pytest.mark.parametrize("token", ["", " ", "\t"])
def test_an_empty_token_is_refused(token: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="token must not be empty"):
        ServerConfig(token=token)
    with pytest.raises(ValueError, match="token must not be empty"):
        TokenGate(token, task.Clock())
    with pytest.raises(ConfigError, match="token must not be empty"):
        load_config({}, {"BLITZ_TOKEN": token})
    config = tmp_path / "server.toml"
    config.write_text(f'token = "{token}"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="token must not be empty"):
        load_config({}, {}, config)


@pytest.mark.parametrize(("args", "env", "file"), [
    (["--host", "0.0.0.0", "--token", ""], {}, ""),
    ([], {"BLITZ_HOST": "::"}, ""),
    ([], {}, 'host = "192.0.2.10"\n'),
    ([], {"BLITZ_TOKEN": " "}, '[server]\nhost = "0.0.0.0"\n'),
], ids=["flag-with-empty-token", "env-ipv6-any", "config-file", "config-file-blank-env-token"])
def test_a_public_host_without_a_real_token_does_not_start(args: list[str], env: dict[str, str], file: str,
                                                            tmp_path: Path) -> None:
    extra = []
    if file:
        (tmp_path / "server.toml").write_text(file, encoding="utf-8")
        extra = ["--config", str(tmp_path / "server.toml")]
    server = ServerProcess("--port", "0", "--no-scan", "--data-dir", str(tmp_path / "data"), *args, *extra,
                           env=env)
    code = server.process.wait(30)
    server.stop()
    assert code == 1, server.text
    assert "listening on" not in server.text
    assert "token must not be empty" in server.text or "without a token" in server.text, server.text
    assert not (tmp_path / "data").exists()  # refused before starting anything
