"""Safe by default: loopback Host only, the token login and its cookie, security headers, bind refusal."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import pytest
from click.testing import CliRunner

from blitz.cli.main import cli
from blitz.errors import ConfigError
from blitz.web.security import AccessPolicy, is_loopback, safe_next_path

from tests.web.conftest import ConsoleFactory, RunningConsole
from tests.web.harness import SampleSession

pytestmark = pytest.mark.integration

TOKEN = "correct horse battery staple"


def test_non_loopback_binds_need_a_token() -> None:
    with pytest.raises(ConfigError, match="not a loopback address, without a token"):
        AccessPolicy("0.0.0.0")
    with pytest.raises(ConfigError, match="non-empty token"):
        AccessPolicy("192.168.1.5", "  ")
    assert AccessPolicy("0.0.0.0", "t").token_required
    assert not AccessPolicy("127.0.0.1").token_required
    assert [is_loopback(h) for h in ("127.0.0.1", "127.8.9.1", "::1", "[::1]", "localhost", "10.0.0.1", "example")] == [
        True, True, True, True, True, False, False]


def test_blitz_ui_refuses_a_public_bind_without_a_token(tmp_path) -> None:
    result = CliRunner().invoke(cli, ["ui", "--host", "0.0.0.0", "--no-browser", "--db", str(tmp_path / "x.db")],
                                env={"BLITZ_UI_TOKEN": None})
    assert result.exit_code == 1
    assert "refusing to serve the web console on 0.0.0.0" in result.output
    assert "--ui-token" in result.output
    assert not (tmp_path / "x.db").exists()  # refused before anything was opened


def test_next_paths_never_leave_the_site() -> None:
    assert safe_next_path("/sessions/3?variable=a") == "/sessions/3?variable=a"
    for bad in ("//evil.example/x", "http://evil.example/", "https:/x", "\\\\evil", "", None, "sessions"):
        assert safe_next_path(bad) == "/"


def test_every_response_carries_the_security_headers(console: RunningConsole) -> None:
    for path in ("/", "/api/status", "/static/chart.js", "/api/nothing"):
        headers = console.client.get(path).headers
        assert "default-src 'self'" in headers["content-security-policy"], path
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
    assert console.client.get("/api/status").headers["cache-control"] == "no-store"


def test_a_foreign_host_header_is_refused_on_loopback(console: RunningConsole) -> None:
    for host in ("evil.example", "evil.example:8080", "10.1.2.3"):
        reply = console.client.get("/api/status", headers={"Host": host})
        assert reply.status == 403
        assert "serves loopback only" in reply.json()["error"]
    for host in ("localhost:1", "127.0.0.1", "[::1]:8080"):
        assert console.client.get("/api/status", headers={"Host": host}).status == 200, host


def test_pages_and_assets_are_served_from_the_package(console: RunningConsole) -> None:
    for path, kind in [("/", "text/html"), ("/sessions", "text/html"), ("/sessions/1", "text/html"),
                       ("/compare", "text/html"), ("/static/style.css", "text/css"),
                       ("/static/dashboard.js", "text/javascript")]:
        reply = console.client.get(path)
        assert reply.status == 200 and reply.headers["content-type"].startswith(kind), path
    assert b"/static/session.js" in console.client.get("/sessions/1").body
    for path in ("/static/../app.py", "/static/%2e%2e%2fapp.py", "/static/app.py", "/static/nothing.js"):
        assert console.client.get(path).status == 404, path


def test_with_a_token_the_browser_logs_in_once(make_console: ConsoleFactory,
                                               samples: dict[int, SampleSession]) -> None:
    running = make_console(token=TOKEN)
    client = running.client
    assert client.get("/api/status").status == 401
    page = client.get("/sessions/1?variable=alpha")
    assert page.status == 303
    assert page.headers["location"] == "/login?next=%2Fsessions%2F1%3Fvariable%3Dalpha"
    assert client.get("/static/style.css").status == 200  # the login page needs its style
    login = client.get(page.headers["location"])
    assert login.status == 200 and 'name="token"' in login.text
    assert 'value="/sessions/1?variable=alpha"' in login.text

    form = {"Content-Type": "application/x-www-form-urlencoded"}
    began = time.monotonic()
    wrong = client.post("/login", urlencode({"token": "guess", "next": "/"}), headers=form)
    assert wrong.status == 403 and "not right" in wrong.text and "set-cookie" not in wrong.headers
    assert time.monotonic() - began >= 0.4  # wrong guesses are slow
    cross = client.post("/login", urlencode({"token": TOKEN}), headers=form, origin="http://evil.example")
    assert cross.status == 403 and "set-cookie" not in cross.headers

    right = client.post("/login", urlencode({"token": TOKEN, "next": "//evil.example/"}), headers=form)
    assert right.status == 303 and right.headers["location"] == "/"
    cookie = right.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert TOKEN not in cookie and "correct" not in cookie  # only an HMAC of the token
    value = cookie.split(";")[0]
    assert client.get("/api/status", headers={"Cookie": value}).json()["token_required"] is True
    assert client.get("/api/sessions/1/series?variable=alpha", headers={"Cookie": value}).status == 200
    assert client.get("/api/status", headers={"Cookie": value[:-2] + "00"}).status == 401
