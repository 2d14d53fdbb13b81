"""Headless Chromium against a real `blitz ui`, a real `blitz server` and simulated boards: live, start/stop, download."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from blitz.client.blocking import Client
from blitz.data.client_database import DatabaseClient
from blitz.data.models import Session
from blitz.data.redis_process import EmbeddedRedis

from tests.client.stack import Stack, stop_process
from tests.web.browser import Browser
from tests.web.harness import start_ui

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

TOKEN = "browser-logger-token"
VARIABLES = {"adc_channel_one", "adc_channel_two", "adc_channel_three", "adc_channel_four", "adc_channel_five",
             "raw_adc", "motor_value", "set_point"}


@dataclass
class LiveUi:
    url: str
    db_path: Path
    stack: Stack

    def client(self) -> Client:
        return Client("127.0.0.1", self.stack.port, token=TOKEN, timeout=10)


@pytest.fixture(scope="module")
def live_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveUi]:
    """redis-server, `blitz simulate` (Basic + Motor), `blitz server` and `blitz ui` over an empty SQLite file."""
    redis_dir = tempfile.mkdtemp(prefix="blitz-webui-")
    redis = EmbeddedRedis(redis_dir, appendonly=False)
    url = redis.start()
    workdir = tmp_path_factory.mktemp("live-ui")
    stack = Stack(workdir, url, TOKEN)
    process = None
    try:
        stack.start(rate_hz=100.0)
        db_path = workdir / "laptop.db"
        process, ui_url = start_ui(["--port", "0", "--db", str(db_path), "--logger-port", str(stack.port),
                                    "--token", TOKEN], workdir / "ui.log", cwd=workdir)
        yield LiveUi(ui_url, db_path, stack)
    finally:
        if process is not None:
            stop_process(process)
        stack.stop()
        redis.stop()
        shutil.rmtree(redis_dir, ignore_errors=True)


def text_of(browser: Browser, element_id: str) -> str:
    return browser.driver.find_element(By.ID, element_id).text


def board_rows(browser: Browser) -> list[list[str]]:
    """The boards table's cells, read in one go (the table is redrawn on every status event)."""
    return browser.js("return Array.from(document.querySelectorAll('#boards tr[data-board]'))"
                      ".map(tr => Array.from(tr.cells).map(td => td.textContent));")


def test_the_dashboard_starts_shows_changing_live_values_and_stops(browser: Browser, live_ui: LiveUi) -> None:
    browser.console_errors()
    browser.driver.get(live_ui.url)
    browser.wait(lambda d: text_of(browser, "state") == "idle", "the logger to show as idle")
    browser.wait(lambda d: len(board_rows(browser)) == 2, "two boards")
    browser.driver.find_element(By.ID, "start").click()
    browser.wait(lambda d: text_of(browser, "state") == "logging", "the logging state")
    with live_ui.client() as client:
        session = client.logging()
    assert session is not None and text_of(browser, "session") == str(session)
    assert f"started session {session}" in text_of(browser, "control-result")

    def values() -> dict:
        return browser.js("return Object.assign({}, window.blitzLive.values);")

    browser.wait(lambda d: VARIABLES <= set(values()), "every variable's live value")
    first, first_events = browser.js("return [Object.assign({}, window.blitzLive.values), window.blitzLive.events];")
    browser.wait(lambda d: any(values()[name] != first[name] for name in VARIABLES), "the live values to change")
    live = browser.js("return {events: window.blitzLive.events, frames: window.blitzLive.frames,"
                      " session: window.blitzLive.session};")
    assert live["session"] == session and live["events"] > first_events and live["frames"] >= 1
    tile = browser.driver.find_element(By.CSS_SELECTOR, ".tile[data-variable=adc_channel_one]")
    assert tile.find_element(By.CSS_SELECTOR, ".value").text not in ("", "–")
    rates = browser.wait(lambda d: (lambda rows: rows if len(rows) == 2 and all(
        r[1] == "ok" and r[3] not in ("–", "0.0") for r in rows) else None)(board_rows(browser)), "board rates")
    assert sorted(r[0].split()[0] for r in rates) == ["08", "09"]
    assert all(int(r[2]) > 0 and float(r[3]) > 0 for r in rates)
    time.sleep(1.5)  # let the rolling charts fill a little for the screenshot
    browser.screenshot("dashboard")
    browser.driver.find_element(By.ID, "stop").click()
    browser.wait(lambda d: text_of(browser, "state") == "idle", "the idle state after Stop")
    assert f"stopped session {session}" in text_of(browser, "control-result")
    with live_ui.client() as client:
        assert client.logging() is None
        assert session in {s.id for s in client.sessions()}
    assert browser.console_errors() == []


def test_a_session_downloads_with_its_progress_bar_reaching_100(browser: Browser, live_ui: LiveUi) -> None:
    with live_ui.client() as client:
        session = client.start().session_id
        time.sleep(1.5)
        client.stop()
        messages = {s.id: s.messages for s in client.sessions()}[session]
    assert messages > 100
    browser.driver.get(live_ui.url + "sessions")
    button = browser.wait(lambda d: d.find_elements(By.ID, f"download-{session}"), "the Download button")[0]
    row = browser.driver.find_element(By.CSS_SELECTOR, f"tr[data-session='{session}']")
    assert str(messages) in row.text and "not downloaded" in row.text
    button.click()
    browser.wait(lambda d: browser.js(
        "const p = (window.blitzSessions.progress[arguments[0]] || []); return p.length && p[p.length - 1] === 100;",
        session), "the progress bar to reach 100%")
    bar = browser.driver.find_element(By.ID, f"progress-{session}")
    assert bar.get_attribute("value") == "100" and bar.is_displayed()
    assert browser.driver.find_element(By.ID, f"percent-{session}").text.startswith("100%")
    browser.wait(lambda d: "downloaded" in d.find_element(By.CSS_SELECTOR, f"tr[data-session='{session}']").text
                 and "not downloaded" not in d.find_element(By.CSS_SELECTOR, f"tr[data-session='{session}']").text,
                 "the row to show the local copy")
    with DatabaseClient(path=str(live_ui.db_path)) as database:
        row_db = database.get(Session, {"ref_id": session})
        assert row_db is not None and row_db.available and row_db.downloaded_messages == messages
    browser.screenshot("sessions")
    browser.driver.get(live_ui.url + f"sessions/{session}?variable=adc_channel_one&variable=raw_adc")
    browser.wait(lambda d: d.execute_script(
        "return window.blitzSeries && window.blitzSeries.adc_channel_one && window.blitzSeries.raw_adc;"),
        "the downloaded session's charts")
    assert not browser.driver.find_element(By.ID, "offline").is_displayed()
    assert browser.console_errors() == []
    browser.screenshot("session-downloaded")
