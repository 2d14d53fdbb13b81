"""Headless Debian Chromium driven by selenium, offline: never downloads a browser or a driver.

Chromium is started with a fresh profile and every background-networking
feature off, so the only traffic is to the console on 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
DOC_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
#: Every run keeps its screenshots out of the work tree; BLITZ_UPDATE_SCREENSHOTS=1
#: writes them into docs/screenshots for the user guide instead.
SCREENSHOTS = (
    DOC_SCREENSHOTS
    if os.environ.get("BLITZ_UPDATE_SCREENSHOTS") == "1"
    else Path(os.environ.get("BLITZ_SCREENSHOT_DIR", Path(tempfile.gettempdir()) / "blitz-screenshots"))
)
FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--disable-domain-reliability",
    "--no-default-browser-check", "--no-proxy-server", "--metrics-recording-only",
    "--window-size=1280,900", "--force-device-scale-factor=1",
]


class Browser:
    """One Chromium with its private profile and download folder."""

    def __init__(self) -> None:
        os.environ["SE_OFFLINE"] = "true"  # selenium-manager must not fetch anything
        self.profile = Path(tempfile.mkdtemp(prefix="blitz-chromium-"))
        self.downloads = self.profile / "downloads"
        self.downloads.mkdir()
        options = Options()
        options.binary_location = CHROMIUM
        for flag in FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={self.profile / 'profile'}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # console messages, for the tests
        options.add_experimental_option("prefs", {
            "download.default_directory": str(self.downloads),
            "download.prompt_for_download": False,
            "safebrowsing.enabled": False,
        })
        self.driver: WebDriver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.driver.set_page_load_timeout(20)
        self.driver.set_script_timeout(20)

    def quit(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)

    def wait(self, condition: Callable[[WebDriver], Any], what: str, timeout_s: float = 10.0) -> Any:
        """Poll `condition(driver)` until truthy (a stale element counts as not yet); fail naming `what`."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                value = condition(self.driver)
            except StaleElementReferenceException:  # the page redrew that element meanwhile: look again
                value = None
            if value:
                return value
            time.sleep(0.05)
        banner = self.driver.execute_script(
            "const e = document.getElementById('error'); return e ? e.textContent : '';")
        raise AssertionError(f"timed out after {timeout_s} s waiting for {what}; page error: {banner!r}")

    def console_errors(self) -> list[str]:
        """Console errors since the last call (failed loads, script errors, CSP violations)."""
        return [entry["message"] for entry in self.driver.get_log("browser") if entry["level"] == "SEVERE"]

    def js(self, script: str, *args: Any) -> Any:
        """Run `script` (a function body) in the page and return its value."""
        return self.driver.execute_script(script, *args)

    def screenshot(self, name: str) -> Path:
        """Save the viewport as <name>.png under SCREENSHOTS (docs/screenshots on request)."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path
