"""Headless Chromium for the page tests: Debian's `chromium` driven by Playwright (no browser download).

A missing browser or driver FAILS the test with what to install: `make test` installs both."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("VIDEOGAN_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# set to a folder to keep the pages' screenshots (docs/img is made this way)
SCREENSHOTS = os.environ.get("VIDEOGAN_SCREENSHOTS")


@contextmanager
def chromium():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: the browser tests need it (`make test` runs "
                    "`apt-get install -y chromium` as root; or set VIDEOGAN_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the browser tests need playwright: pip install -e '.[dev]'")
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"])
        try:
            yield browser
        finally:
            browser.close()


class Page:
    """A page that records console errors, failed requests and uncaught exceptions."""

    def __init__(self, browser, **context):
        self.context = browser.new_context(**{"viewport": {"width": 1000, "height": 720}, **context})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(f"console: {m.text}"))
        self.page.on("pageerror", lambda e: self.errors.append(f"exception: {e}"))
        self.page.on("requestfailed", lambda r: self.errors.append(f"request failed: {r.url} {r.failure}"))

    def screenshot(self, path: Path) -> Path:
        self.page.screenshot(path=str(path), full_page=True)
        if SCREENSHOTS:
            Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, Path(SCREENSHOTS) / path.name)
        return path


def broken_media(page) -> list[str]:
    """Every <img> and <video> on the page that did not render a picture."""
    return page.evaluate("""() => [...document.querySelectorAll('img, video')].filter(e =>
        e.tagName === 'IMG' ? !(e.complete && e.naturalWidth > 0) : !(e.readyState >= 2 && e.videoWidth > 0)
      ).map(e => e.tagName + ' ' + (e.currentSrc || e.src))""")


def wait_for_media(page, timeout_s: float = 10.0) -> list[str]:
    deadline = time.time() + timeout_s
    while (broken := broken_media(page)) and time.time() < deadline:
        time.sleep(0.1)
    return broken


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def study_server(study: Path):
    """`videogan study serve STUDY` on a free local port; yields its URL."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1] / "src"), *sys.path])}
    process = subprocess.Popen([sys.executable, "-m", "videogan.cli", "study", "serve", str(study), "--port", str(port)],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(url, timeout=1)
                break
            except OSError:
                if process.poll() is not None:
                    pytest.fail(f"study serve exited: {process.stdout.read()}")
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
