"""Playwright (sync API) driving Debian's Chromium against pytest-django's live server.

Without ``/usr/bin/chromium`` the browser tests skip, except in CI (``CI=true``), where a
missing browser is a failure: CI installs the ``chromium`` package and must run them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PASSWORD
from tests.e2e import harness

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per module."""
    if not CHROMIUM.exists():
        harness.unavailable(f"{CHROMIUM} is missing (Debian package: chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an asyncio loop in this thread; Django would then refuse the
    # ORM calls the fixtures make. Allowed only while the browser tests run.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


class BrowserPage:
    """A page plus the console errors (CSP violations among them) it logged."""

    def __init__(self, page: Any, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.errors: list[str] = []
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def _on_console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def goto(self, path: str) -> None:
        self.page.goto(self.base_url + path)

    def sign_in(self, username: str) -> None:
        """Sign in through allauth's form, as a person would."""
        self.goto("/accounts/login/")
        self.page.fill("input[name=login]", username)
        self.page.fill("input[name=password]", PASSWORD)
        self.page.click("main form button[type=submit]")
        self.page.wait_for_url("**/orgs/")

    def confirm_password(self) -> None:
        """Answer allauth's "confirm your password" step before a sensitive action."""
        self.page.wait_for_url("**/accounts/reauthenticate/**")
        self.page.fill("input[name=password]", PASSWORD)
        self.page.click("main form button[type=submit]")


@pytest.fixture
def browser_page(browser: Any, live_server: Any, transactional_db: None) -> Iterator[BrowserPage]:
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = BrowserPage(context.new_page(), live_server.url)
    yield page
    context.close()
    assert page.errors == [], f"browser console errors: {page.errors}"
