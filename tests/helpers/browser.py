"""Headless Chromium for page tests: Debian's /usr/bin/chromium driven by Playwright's Python API.

Nothing is downloaded: Playwright is pointed at the system executable. Without a browser the
tests are skipped, unless EQVL_REQUIRE_BROWSER=1 (set by CI), where a missing browser fails.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from typing import Iterator

import pytest

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def chromium_path() -> str | None:
    for candidate in (os.environ.get("EQVL_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def require_chromium() -> str:
    """The browser's path, or skip (fail when EQVL_REQUIRE_BROWSER=1)."""
    path = chromium_path()
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        path = None
    if path is None:
        if os.environ.get("EQVL_REQUIRE_BROWSER") == "1":
            pytest.fail("headless Chromium + playwright are required (EQVL_REQUIRE_BROWSER=1); run `make chromium`")
        pytest.skip("no /usr/bin/chromium or playwright; `make chromium` installs the browser")
    return path


@contextlib.contextmanager
def browser_page(width: int = 1280, height: int = 900) -> Iterator["object"]:
    """A Playwright page in a fresh headless Chromium profile; closed on exit."""
    from playwright.sync_api import sync_playwright

    path = require_chromium()
    with sync_playwright() as pw:  # Playwright gives each launch a fresh temporary profile
        browser = pw.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS)
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()
