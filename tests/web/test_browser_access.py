"""Access in a real browser: the token login page and its cookie, and a public bind without a token refused."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By

from tests.client.stack import stop_process
from tests.web.browser import Browser
from tests.web.harness import BLITZ, start_ui

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

UI_TOKEN = "lab-console-7f3a"


@pytest.fixture
def guarded_ui(tmp_path: Path) -> Iterator[str]:
    """`blitz ui` on loopback with a UI token (as a public bind would need), without a logger."""
    process, url = start_ui(["--port", "0", "--db", str(tmp_path / "t.db"), "--no-logger", "--ui-token", UI_TOKEN],
                            tmp_path / "ui.log", cwd=tmp_path)
    try:
        yield url
    finally:
        stop_process(process)


def test_the_page_asks_for_the_token_once_and_keeps_it_in_a_strict_httponly_cookie(
        browser: Browser, guarded_ui: str) -> None:
    driver = browser.driver
    driver.delete_all_cookies()
    driver.get(guarded_ui + "sessions")
    browser.wait(lambda d: "/login?next=%2Fsessions" in d.current_url, "the login page")
    token_box = driver.find_element(By.ID, "token")
    token_box.send_keys("not-the-token")
    driver.find_element(By.ID, "login").click()
    browser.wait(lambda d: "not right" in d.find_element(By.ID, "message").text, "the wrong-token message")
    assert driver.get_cookie("blitz_ui") is None
    browser.screenshot("login")
    driver.find_element(By.ID, "token").send_keys(UI_TOKEN)
    driver.find_element(By.ID, "login").click()
    browser.wait(lambda d: d.current_url == guarded_ui + "sessions", "the page asked for")
    browser.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "#sessions td"), "the sessions table")
    cookie = driver.get_cookie("blitz_ui")
    assert cookie is not None and cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert UI_TOKEN not in cookie["value"]
    assert "blitz_ui" not in browser.js("return document.cookie;")  # scripts cannot read it
    status = browser.driver.execute_async_script(
        "const done = arguments[0]; fetch('/api/status').then(r => r.json()).then(done);")
    assert status["token_required"] is True and status["logger"]["error"] == "started without a logger"
    driver.get(guarded_ui)  # no second login
    browser.wait(lambda d: d.find_element(By.ID, "state").text == "not reachable", "the dashboard")
    assert "started without a logger" in driver.find_element(By.ID, "offline").text
    driver.delete_all_cookies()


def test_a_public_bind_without_a_token_is_refused(browser: Browser, tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = subprocess.run([*BLITZ, "ui", "--host", "0.0.0.0", "--port", str(port), "--no-browser",
                             "--db", str(tmp_path / "p.db")], capture_output=True, text=True, timeout=30,
                            env={k: v for k, v in os.environ.items() if k != "BLITZ_UI_TOKEN"})
    assert result.returncode == 1
    assert "refusing to serve the web console on 0.0.0.0" in result.stderr
    assert "Traceback" not in result.stderr
    try:  # nothing was bound: the browser finds no console
        browser.driver.get(f"http://127.0.0.1:{port}/")
        page = browser.driver.page_source
    except WebDriverException as exc:
        page = str(exc)
    assert "ERR_CONNECTION_REFUSED" in page
    browser.screenshot("refused-public-bind")
