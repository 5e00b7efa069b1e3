"""What a person does in the Admin Console, in a real Chromium."""

from __future__ import annotations

import re

import pytest

from orgs.models import PersonalAccessToken
from policies.models import ImageAccessPolicy, RepositoryException
from policies.services import update_policy
from tests.browser.conftest import SCREENSHOTS, BrowserPage
from tests.conftest import Cast

pytestmark = pytest.mark.browser

IMAGE_ACCESS = "/orgs/acme/image-access/"
POLICY_CONTROLS = (
    "#id_enabled",
    "#id_allow_organization",
    "#id_allow_community",
    "#id_allow_verified_publisher",
    "#id_allow_official",
    "#id_audit_mode",
    "#id_block_image_load",
)


def acme_policy() -> ImageAccessPolicy:
    return ImageAccessPolicy.objects.get(org__slug="acme")


def test_owner_turns_on_image_access_and_allows_community_images(
    browser_page: BrowserPage, cast: Cast
) -> None:
    page = browser_page.page
    browser_page.sign_in("olivia")
    browser_page.goto(IMAGE_ACCESS)

    page.check("#id_enabled")
    page.check("#id_allow_community")
    page.click("text=Save changes")

    message = page.locator(".message.success")
    message.wait_for()
    assert message.inner_text() == "Saved: image access turned on; community images allowed."
    assert page.is_checked("#id_enabled")
    assert page.is_checked("#id_allow_community")
    policy = acme_policy()
    assert policy.enabled
    assert policy.allow_community
    assert "Last changed by olivia" in page.inner_text("#last-changed")
    page.screenshot(path=str(SCREENSHOTS / "image-access-owner.png"), full_page=True)


def test_member_sees_the_same_settings_read_only(browser_page: BrowserPage, cast: Cast) -> None:
    update_policy(
        org=cast.acme, actor=cast.olivia, changes={"enabled": True, "allow_community": True}
    )
    page = browser_page.page
    browser_page.sign_in("mike")
    browser_page.goto(IMAGE_ACCESS)

    for control in POLICY_CONTROLS:
        assert page.is_disabled(control), control
    assert page.is_checked("#id_enabled")
    assert page.is_checked("#id_allow_community")
    assert page.is_visible("text=Only owners can change these settings.")
    assert page.locator("text=Save changes").count() == 0
    summary = page.inner_text(".summary")
    assert "You can pull: Organization images, Community images" in summary
    assert "Owners are not restricted." in summary
    page.screenshot(path=str(SCREENSHOTS / "image-access-member.png"), full_page=True)


def test_member_token_is_shown_once_then_only_its_suffix(
    browser_page: BrowserPage, cast: Cast
) -> None:
    page = browser_page.page
    browser_page.sign_in("mike")
    page.click("header >> text=Tokens")
    page.fill("#id_name", "laptop")
    page.select_option("#id_scope", "read")
    page.check("text=90 days")
    page.click("text=Generate token")
    # Creating a token is a sensitive act: the password is asked again, then it goes ahead.
    browser_page.confirm_password()

    secret = page.inner_text("#new-token-value").strip()
    assert re.fullmatch(r"dckr_pat_[A-Za-z0-9_-]{27,}", secret)
    assert page.is_visible("text=This is the only time the token is shown.")
    assert page.get_attribute("button[data-copy]", "data-copy") == "new-token-value"

    page.reload()

    assert secret not in page.content()
    assert page.locator("#new-token-value").count() == 0
    assert page.is_visible(f"text=dckr_pat_…{secret[-4:]}")
    # The reload fetched the list; it did not re-submit the form and mint a second token.
    assert PersonalAccessToken.objects.filter(user=cast.mike).count() == 1


def test_owner_adds_and_removes_an_exception(browser_page: BrowserPage, cast: Cast) -> None:
    page = browser_page.page
    browser_page.sign_in("olivia")
    browser_page.goto("/orgs/acme/exceptions/")

    page.fill("#id_repository", "grafana/*")
    page.fill("#id_reason", "dashboards team")
    page.click("text=Add exception")
    page.locator(".message.success").wait_for()
    row = page.locator("tr", has_text="grafana/*")
    assert row.count() == 1
    assert "dashboards team" in row.inner_text()

    dialogs: list[str] = []

    def accept(dialog: object) -> None:
        dialogs.append(dialog.message)  # type: ignore[attr-defined]
        dialog.accept()  # type: ignore[attr-defined]

    page.once("dialog", accept)
    row.locator("button", has_text="Remove").click()
    page.locator("text=Exception for grafana/* removed.").wait_for()

    assert dialogs
    assert "grafana/*" in dialogs[0]
    assert page.locator("tr", has_text="grafana/*").count() == 0
    assert not RepositoryException.objects.filter(namespace="grafana").exists()


def test_image_access_form_works_with_the_keyboard_alone(
    browser_page: BrowserPage, cast: Cast
) -> None:
    page = browser_page.page
    browser_page.sign_in("olivia")
    browser_page.goto(IMAGE_ACCESS)

    def tab_to(selector: str) -> None:
        for _ in range(60):
            page.keyboard.press("Tab")
            if page.evaluate("(s) => document.activeElement.matches(s)", selector):
                return
        raise AssertionError(f"Tab never reached {selector}")

    tab_to("#id_enabled")
    # Focus must be visible to a keyboard user.
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    page.keyboard.press("Space")
    assert page.is_checked("#id_enabled")
    tab_to("#id_allow_community")
    page.keyboard.press("Space")
    tab_to("button[type=submit].primary")
    page.keyboard.press("Enter")

    page.locator(".message.success").wait_for()
    policy = acme_policy()
    assert policy.enabled
    assert policy.allow_community


def test_image_access_page_fits_a_phone(browser_page: BrowserPage, cast: Cast) -> None:
    page = browser_page.page
    browser_page.sign_in("mike")
    page.set_viewport_size({"width": 375, "height": 740})
    for path in (IMAGE_ACCESS, "/orgs/acme/members/", "/settings/tokens/"):
        browser_page.goto(path)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px on a phone"
