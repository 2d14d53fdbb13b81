"""DELETE and RESET turned off for an unattended logger: refused, and Redis untouched.

A real `blitz server` with the commands disabled by a flag, an environment
variable or a config file key; an authenticated client asks anyway.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import redis

from tests.reliability.harness import Control, ServerProcess

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


@pytest.mark.parametrize(("args", "env", "file"), [
    (["--no-delete"], {}, "allow_reset = false\n"),
    (["--no-reset"], {"BLITZ_ALLOW_DELETE": "no"}, ""),
], ids=["flag-and-file", "env-and-flag"])
def test_disabled_delete_and_reset_are_refused_and_change_nothing(
        args: list[str], env: dict[str, str], file: str, redis_url: str, tmp_path: Path) -> None:
    prefix = f"rel-disabled-{uuid.uuid4().hex[:8]}:"
    extra = []
    if file:
        (tmp_path / "server.toml").write_text(f"[server]\n{file}", encoding="utf-8")
        extra = ["--config", str(tmp_path / "server.toml")]
    client = redis.Redis.from_url(redis_url)
    server = ServerProcess("--port", "0", "--no-scan", "--redis-url", redis_url, "--data-dir",
                           str(tmp_path / "data"), "--token", "t0ken", *args, *extra,
                           env={"BLITZ_REDIS_PREFIX": prefix, **env})
    try:
        control = Control(server.port())
        assert control.command("AUTH t0ken") == ["ACK"]
        for session in (1, 2):
            assert control.command("START") == [f"ACK {session}"]
            assert control.command("STOP") == [f"ACK {session}"]
        before = {key: client.dump(key) for key in client.scan_iter(match=prefix + "*")}
        assert control.command("DELETE 1") == ["ERROR 403 DELETE is disabled"]
        assert control.command("RESET") == ["ERROR 403 RESET is disabled"]
        assert {key: client.dump(key) for key in client.scan_iter(match=prefix + "*")} == before
        assert control.command("START") == ["ACK 3"]
        assert control.command("RESET") == ["ERROR 403 RESET is disabled"]  # does not even stop the session
        assert control.command("LOGGING") == ["INSESSION 3"]
        assert control.command("STOP") == ["ACK 3"]
        assert [line.split()[0] for line in control.command("SESSIONS")] == ["+3", "+2", "+1", "ACK"]
        control.close()
    finally:
        code = server.stop()
        for key in client.scan_iter(match=prefix + "*"):
            client.delete(key)
        client.close()
    assert code == 0 and "Traceback" not in server.text, server.text
