"""Headless Chromium against a real `blitz ui` whose logger is unreachable: sessions, charts, zoom, export, compare."""

from __future__ import annotations

import csv
import io
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from blitz.data.client_database import DatabaseClient
from blitz.data.models import Session

from tests.client.stack import stop_process
from tests.web.browser import Browser
from tests.web.harness import SampleSession, fill_sample, start_ui
from tests.web.test_api_series import expected_envelope

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


@dataclass
class OfflineUi:
    url: str
    db_path: Path
    samples: dict[int, SampleSession]
    logger_port: int


@pytest.fixture(scope="module")
def offline_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OfflineUi]:
    """`blitz ui` over a SQLite file of sample sessions, pointed at a port where no logger listens."""
    workdir = tmp_path_factory.mktemp("offline-ui")
    db_path = workdir / "lab.db"
    with DatabaseClient(path=str(db_path)) as database:
        samples = fill_sample(database)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        logger_port = sock.getsockname()[1]
    process, url = start_ui(["--port", "0", "--db", str(db_path), "--logger-port", str(logger_port)],
                            workdir / "ui.log", cwd=workdir)
    try:
        yield OfflineUi(url, db_path, samples, logger_port)
    finally:
        stop_process(process)


def open_session(browser: Browser, ui: OfflineUi, query: str) -> None:
    browser.driver.get(ui.url + "sessions/1?" + query)
    browser.wait(lambda d: d.execute_script("return window.blitzSession && window.blitzSession.overview"),
                 "the session overview")


def received(browser: Browser, name: str) -> dict:
    return browser.js("return window.blitzSeries[arguments[0]] || null;", name)


def test_the_session_chart_draws_what_the_database_holds(browser: Browser, offline_ui: OfflineUi) -> None:
    open_session(browser, offline_ui, "variable=alpha&variable=gamma")
    alpha = browser.wait(lambda d: received(browser, "alpha"), "alpha's series")
    gamma = browser.wait(lambda d: received(browser, "gamma"), "gamma's series")
    t, v = offline_ui.samples[1].variables["alpha"]
    width = alpha["width"]
    assert 400 <= width <= 1400  # the chart asked for its own pixel width
    assert alpha["mode"] == "envelope" and alpha["points"] <= 2 * width
    want = expected_envelope(t, v, alpha["start"], alpha["end"], width)
    assert (alpha["start"], alpha["end"]) == (int(t[0]), int(t[-1]))
    assert alpha["min"] == want["min"] and alpha["max"] == want["max"] and alpha["count"] == want["count"]
    gt, gv = offline_ui.samples[1].variables["gamma"]
    assert gamma["mode"] == "raw" and gamma["t"] == gt.tolist() and gamma["v"] == gv.tolist()
    # The canvas really shows the line: count pixels of the series colour (#1f6feb for the first variable).
    blue = browser.js(
        "const c = document.querySelector('canvas.plot[data-variable=alpha]');"
        "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;"
        "for (let i = 0; i < d.length; i += 4) if (d[i] < 80 && d[i+1] > 80 && d[i+1] < 150 && d[i+2] > 200) n++;"
        "return n;")
    assert blue > 500
    stats = {row.get_attribute("data-variable"): row.text for row in
             browser.driver.find_elements(By.CSS_SELECTOR, "#stats tr[data-variable]")}
    assert sorted(stats) == ["alpha", "beta", "gamma"]
    assert "6000" in stats["alpha"] and "2000" in stats["gamma"]
    banner = browser.driver.find_element(By.ID, "offline")
    assert banner.is_displayed() and "not reachable" in banner.text
    browser.screenshot("session")


def test_zoom_asks_for_a_narrower_window(browser: Browser, offline_ui: OfflineUi) -> None:
    open_session(browser, offline_ui, "variable=alpha")
    first = browser.wait(lambda d: received(browser, "alpha"), "alpha's series")
    full_span = first["end"] - first["start"]
    canvas = browser.driver.find_element(By.CSS_SELECTOR, "canvas.plot[data-variable=alpha]")
    canvas.click()
    canvas.send_keys("+")
    canvas.send_keys("+")
    canvas.send_keys("+")

    def zoomed() -> dict | None:
        data = received(browser, "alpha")
        return data if data["end"] - data["start"] < full_span / 6 else None

    data = browser.wait(lambda d: zoomed(), "a series for the zoomed window")
    log = browser.js("return window.blitzFetchLog.filter(e => e.variable === 'alpha');")
    assert len(log) >= 2 and log[-1]["end"] - log[-1]["start"] < log[0]["end"] - log[0]["start"]
    t, v = offline_ui.samples[1].variables["alpha"]
    inside = (t >= data["start"]) & (t <= data["end"])
    assert data["mode"] == "raw"  # eight times narrower: few enough readings to send them all
    assert data["t"] == t[inside].tolist() and data["v"] == v[inside].tolist()
    canvas.send_keys(Keys.ARROW_RIGHT)
    panned = browser.wait(lambda d: (lambda s: s if s["start"] > data["start"] else None)(received(browser, "alpha")),
                          "a series for the panned window")
    assert panned["end"] - panned["start"] == pytest.approx(data["end"] - data["start"], abs=2)
    browser.screenshot("session-zoom")
    browser.driver.find_element(By.ID, "reset").click()
    browser.wait(lambda d: received(browser, "alpha")["end"] - received(browser, "alpha")["start"] == full_span,
                 "the whole session again")


def test_transforms_change_the_drawn_values_not_the_data(browser: Browser, offline_ui: OfflineUi) -> None:
    open_session(browser, offline_ui, "variable=gamma")
    browser.wait(lambda d: received(browser, "gamma"), "gamma's series")
    gv = offline_ui.samples[1].variables["gamma"][1]

    def drawn(index: int) -> float:
        return browser.js("return window.blitzSession.charts.gamma.chart.layers[0].y[arguments[0]];", index)

    for field, text in (("scale", "2"), ("offset", "-1")):
        box = browser.driver.find_element(By.ID, f"t-gamma-{field}")
        box.clear()
        box.send_keys(text)
    browser.wait(lambda d: drawn(0) == 2 * gv[0] - 1, "the scaled and offset layer")
    assert browser.js("return window.blitzSession.charts.gamma.chart.layers[0].y.length;") == gv.size
    assert received(browser, "gamma")["v"][0] == gv[0]  # the fetched data is untouched
    average = browser.driver.find_element(By.ID, "t-gamma-average")
    average.clear()
    average.send_keys("5")
    browser.wait(lambda d: drawn(2) != 2 * gv[2] - 1, "the moving average")
    assert drawn(2) == pytest.approx(2 * gv[0:5].mean() - 1)
    browser.screenshot("session-transforms")


def test_an_export_link_downloads_the_csv(browser: Browser, offline_ui: OfflineUi) -> None:
    open_session(browser, offline_ui, "variable=beta")
    link = browser.driver.find_element(By.ID, "export-csv")
    assert link.get_attribute("href").endswith("/api/sessions/1/export?format=csv")
    for old in browser.downloads.glob("*"):
        old.unlink()
    link.click()
    target = browser.downloads / "blitz-session-1.csv"
    browser.wait(lambda d: target.exists() and not list(browser.downloads.glob("*.crdownload")), "the CSV file")
    time.sleep(0.2)
    rows = list(csv.reader(io.StringIO(target.read_text())))
    assert rows[0] == ["time_s", "time_utc", "alpha", "beta", "gamma"]
    beta = offline_ui.samples[1].variables["beta"][1]
    assert [float(r[3]) for r in rows[1:]] == beta.tolist()
    browser.screenshot("session-export")


def test_compare_overlays_two_sessions_with_stats(browser: Browser, offline_ui: OfflineUi) -> None:
    browser.driver.get(offline_ui.url + "compare?a=1&b=2&variable=alpha")
    state = browser.wait(lambda d: d.execute_script(
        "const s = window.blitzCompare; return s && s.series.a && s.series.b && s.comparison ? s : null;"),
        "both series and the comparison")
    a, b = state["series"]["a"], state["series"]["b"]
    assert (a["session"], b["session"], a["variable"]) == (1, 2, "alpha")
    t2, v2 = offline_ui.samples[2].variables["alpha"]
    assert b["mode"] == "raw" and b["t"] == t2.tolist() and np.array_equal(b["v"], v2)
    layers = browser.js("return window.blitzCompare && document.getElementById('plot') && "
                        "window.blitzFetchLog.slice(-2).map(e => e.session);")
    assert sorted(layers) == [1, 2]
    rows = {row.get_attribute("data-variable"): row.text
            for row in browser.driver.find_elements(By.CSS_SELECTOR, "#stats tr[data-variable]")}
    assert sorted(rows) == ["alpha", "beta", "gamma"]
    assert rows["gamma"].split()[1:3] == ["2000", "–"]  # only in session 1
    browser.screenshot("compare")


def test_sessions_page_offline_and_deleting_a_local_copy(browser: Browser, offline_ui: OfflineUi) -> None:
    browser.driver.get(offline_ui.url + "sessions")
    browser.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "#sessions tr[data-session]"), "the session rows")
    rows = browser.driver.find_elements(By.CSS_SELECTOR, "#sessions tr[data-session]")
    assert [r.get_attribute("data-session") for r in rows] == ["3", "2", "1"]
    assert "downloaded" in rows[2].text and "running" in rows[0].text
    assert not browser.driver.find_elements(By.CSS_SELECTOR, "button[id^=download-]")  # no logger, no download
    banner = browser.driver.find_element(By.ID, "offline")
    assert banner.is_displayed() and f"127.0.0.1:{offline_ui.logger_port}" in banner.text
    browser.screenshot("sessions-offline")
    browser.driver.find_element(By.ID, "delete-2").click()
    dialog = browser.driver.find_element(By.ID, "confirm-delete")
    browser.wait(lambda d: dialog.is_displayed(), "the confirmation dialog")
    assert not browser.driver.find_element(By.ID, "delete-everywhere").is_enabled()
    browser.screenshot("sessions-delete")
    browser.driver.find_element(By.ID, "delete-local").click()
    browser.wait(lambda d: "not downloaded" in d.find_element(By.CSS_SELECTOR, "tr[data-session='2']").text,
                 "session 2 to lose its local copy")
    with DatabaseClient(path=str(offline_ui.db_path)) as database:
        row = database.get(Session, {"ref_id": 2})
        assert row is not None and row.downloaded_messages == 0 and row.available is False
        assert database.get(Session, {"ref_id": 1}).available is True


def test_pages_load_without_console_errors(browser: Browser, offline_ui: OfflineUi) -> None:
    """No script error, failed asset or Content-Security-Policy violation on any page."""
    browser.console_errors()
    for path, ready in [("", "#state"), ("sessions", "#sessions tr[data-session]"),
                        ("sessions/1", "#stats tr[data-variable]"), ("compare", "#stats tr[data-variable]")]:
        browser.driver.get(offline_ui.url + path)
        browser.wait(lambda d: d.find_elements(By.CSS_SELECTOR, ready), f"/{path} to be ready")
        assert browser.console_errors() == [], path
    browser.driver.get(offline_ui.url + "sessions/3")
    browser.wait(lambda d: d.find_element(By.ID, "error").is_displayed(), "the error banner")
    assert "session 3 has not been downloaded" in browser.driver.find_element(By.ID, "error").text
    browser.screenshot("session-not-downloaded")
