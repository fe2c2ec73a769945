"""Browser test fixtures: one fleet per session, Debian's Chromium via Playwright, screenshots as artifacts."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.harness import Fleet, running_fleet
from tests.timing import scaled

CHROMIUM = os.environ.get("CAMFLEET_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright  # noqa: E402

#: Every wait on page state (navigation, a locator, an `expect`) has this deadline. It only bounds how long a
#: broken test hangs: a page that is right passes at once, however loaded the machine.
PAGE_TIMEOUT_MS = scaled(60_000)
expect.set_options(timeout=PAGE_TIMEOUT_MS)


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    root = Path(tempfile.mkdtemp(prefix="camfleet-browser-"))
    try:
        with running_fleet(root) as f:
            yield f
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    # Never `playwright install`: the tests drive the distribution's Chromium (apt-get install chromium).
    # Module scope: the sync API runs an event loop on this thread while it lives, which would break the
    # pytest-asyncio tests that follow in the same session.
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/bootstrap installs it (apt-get install chromium)")
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    # No background networking, updates or sync: on a closed network Chromium's own connections only fail
    # and add load.
    b = playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
              "--disable-sync", "--no-first-run"],
    )  # fmt: skip
    yield b
    b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    ctx.set_default_timeout(PAGE_TIMEOUT_MS)
    ctx.set_default_navigation_timeout(PAGE_TIMEOUT_MS)
    p = ctx.new_page()
    yield p
    ctx.close()


def login(page: Page, fleet: Fleet, username: str) -> None:
    page.goto(fleet.controller.url + "/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(fleet.people.password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(fleet.controller.url + "/")


def shot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
