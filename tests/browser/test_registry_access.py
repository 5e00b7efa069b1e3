"""Registry access in a real Chromium: the owner allows a registry and switches it on; a member
reads the same list without any control to change it."""

from __future__ import annotations

import pytest

from policies.models import RegistryAccessPolicy
from policies.registry_access import update_registry_access
from tests.browser.conftest import BrowserPage
from tests.conftest import Cast

pytestmark = pytest.mark.browser

PAGE = "/orgs/acme/registry-access/"


def test_owner_adds_quay_and_switches_registry_access_on(
    browser_page: BrowserPage, cast: Cast
) -> None:
    page = browser_page.page
    browser_page.sign_in("olivia")
    browser_page.goto(PAGE)
    page.click("nav.tabs >> text=Registry access")
    page.fill("#id_host", "Quay.io")
    page.fill("#id_note", "vendor images")
    page.click("text=Add registry")
    page.locator("text=quay.io added to the allowed registries.").wait_for()
    row = page.locator("tr", has_text="quay.io")
    assert "vendor images" in row.inner_text()

    page.click("text=Turn registry access on")
    page.locator("text=Registry access is on: only the listed registries can be pulled.").wait_for()
    summary = page.inner_text(".summary")
    assert "images can be pulled only from docker.io, quay.io" in summary
    access = RegistryAccessPolicy.objects.get(org=cast.acme)
    assert access.enabled
    assert access.hosts == ["docker.io", "quay.io"]


def test_member_reads_the_list_without_controls(browser_page: BrowserPage, cast: Cast) -> None:
    update_registry_access(
        org=cast.acme,
        actor=cast.olivia,
        enabled=True,
        registries=["docker.io", {"host": "quay.io", "note": "vendor images"}],
    )
    page = browser_page.page
    browser_page.sign_in("mike")
    browser_page.goto(PAGE)
    assert page.is_visible("text=Only owners can change these settings.")
    assert page.locator("form:has(button)").filter(has_text="Registry").count() == 0
    assert page.locator("text=Add a registry").count() == 0
    assert page.locator("button", has_text="Remove").count() == 0
    assert "only from docker.io, quay.io" in page.inner_text(".summary")
    assert "vendor images" in page.locator("tr", has_text="quay.io").inner_text()
