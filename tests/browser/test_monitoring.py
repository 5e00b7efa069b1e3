"""Usage charts and the access request flow, in a real Chromium against the live server."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from django.core import mail

from orgs.models import TokenScope
from orgs.tokens import mint_token
from policies.events.rollups import roll_up_events
from policies.events.stream_drain import drain_stream
from policies.events.usage_reports import utc_today
from policies.models import AccessRequest, RepositoryException
from policies.services import update_policy
from tests.browser.conftest import SCREENSHOTS, BrowserPage
from tests.conftest import Cast
from tests.events.bulk_events import add_realistic_events

pytestmark = pytest.mark.browser
CUSTOM = "someuser/custom-image"


def decide(base_url: str, token: str, image: str) -> dict[str, Any]:
    """Ask the decision API of the live server, as an enforcer would."""
    request = urllib.request.Request(  # noqa: S310 (the live server's own http URL)
        f"{base_url}/api/v1/decisions",
        data=json.dumps({"images": [image], "orgs": ["acme"]}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        decision: dict[str, Any] = json.load(response)["decisions"][0]
    return decision


@pytest.fixture
def second_person(browser: Any, live_server: Any) -> Iterator[BrowserPage]:
    """Another person at another computer: a separate browser context (own cookies)."""
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = BrowserPage(context.new_page(), live_server.url)
    yield page
    context.close()
    assert page.errors == [], f"browser console errors: {page.errors}"


def test_member_is_denied_asks_for_access_owner_approves_next_pull_allowed(
    browser_page: BrowserPage, second_person: BrowserPage, live_server: Any, cast: Cast
) -> None:
    update_policy(org=cast.acme, actor=cast.olivia, changes={"enabled": True})
    token = mint_token(user=cast.mike, name="ci", scope=TokenScope.READ).plaintext

    denied = decide(live_server.url, token, CUSTOM)
    drain_stream()  # what the Celery worker does every few seconds when Redis is in use
    assert denied["allowed"] is False
    assert denied["reason"] == "image access denied: community images not allowed"

    # mike sees the denial on My access and asks for it from there.
    mike = browser_page.page
    browser_page.sign_in("mike")
    browser_page.goto("/orgs/acme/")
    mike.click("nav.tabs >> text=My access")
    denial = mike.locator("tr", has_text=CUSTOM)
    assert "1 denied" in denial.inner_text()
    denial.locator("a", has_text="Ask for access").click()
    assert mike.input_value("#id_repository") == CUSTOM
    assert mike.is_checked("input[name=kind][value=repository]")
    mike.fill("#id_justification", "Our integration tests run this image.")
    mike.click("button:has-text('Send request')")
    mike.locator(".message.success").wait_for()
    assert "will review your request for repository someuser/custom-image" in mike.inner_text(
        ".message.success"
    )
    mine = mike.locator("section[aria-labelledby=requests-heading]")
    assert "Pending" in mine.inner_text()
    assert mike.locator("tr", has_text=CUSTOM).first.locator("text=Requested").count() == 1
    (to_owner,) = mail.outbox
    assert to_owner.to == ["olivia@example.com"]

    # olivia opens Requests and approves with a comment.
    olivia = second_person.page
    second_person.sign_in("olivia")
    second_person.goto("/orgs/acme/")
    olivia.click("nav.tabs >> text=Requests")
    card = olivia.locator("article.request", has_text=CUSTOM)
    assert "Our integration tests run this image." in card.inner_text()
    card.locator("textarea").fill("Fine for the integration tests.")
    card.locator("button", has_text="Approve").click()
    olivia.locator(".message.success").wait_for()
    assert olivia.inner_text(".message.success") == (
        f"Approved mike's request for repository {CUSTOM}."
    )
    assert olivia.locator("text=No pending requests.").count() == 1

    request = AccessRequest.objects.get()
    assert request.status == "approved"
    assert RepositoryException.objects.get(org=cast.acme).repository == CUSTOM
    assert mail.outbox[-1].to == ["mike@example.com"]

    # mike's next pull is allowed, and My access says why.
    allowed = decide(live_server.url, token, CUSTOM)
    assert allowed["allowed"] is True
    assert allowed["reason"] == f"allowed by repository exception {CUSTOM}"
    mike.reload()
    mine = mike.locator("section[aria-labelledby=requests-heading]")
    assert "Approved" in mine.inner_text()
    assert "Fine for the integration tests." in mine.inner_text()


def test_usage_page_draws_its_charts(browser_page: BrowserPage, cast: Cast) -> None:
    today = utc_today()
    add_realistic_events(cast.acme, total=6000, days=30, today=today)
    roll_up_events(today=today)
    page = browser_page.page
    browser_page.sign_in("olivia")
    browser_page.goto("/orgs/acme/")
    page.click("nav.tabs >> text=Usage")
    page.click("nav.segmented >> text=Last 30 days")

    over_time = page.locator("svg#chart-over-time")
    assert over_time.is_visible()
    assert over_time.bounding_box()["width"] > 600
    assert page.locator("#chart-over-time g.column").count() == 30
    assert page.locator("#chart-over-time rect.bar-denied").count() == 30
    assert page.locator("#chart-by-category rect.bar").count() >= 3
    # The colours come from app.css (the CSP allows no inline style): a denied bar is red.
    fill = page.evaluate(
        "getComputedStyle(document.querySelector('#chart-over-time rect.bar-denied')).fill"
    )
    assert fill == "rgb(200, 50, 42)"
    assert page.locator("table.ranking").count() == 3  # repositories, members, registries
    # Without looking at the picture: the numbers are a click away, as a table.
    page.click("text=Show the numbers per day")
    assert page.locator("details[open] tbody tr").count() == 30

    page.click("details[open] summary")  # closed again for a tidy screenshot
    page.screenshot(path=str(SCREENSHOTS / "usage.png"), full_page=True)

    # A bar of the chart leads to that day's events.
    page.locator("#chart-over-time a").last.click(force=True)
    page.wait_for_url("**/usage/events/?day=*")
    assert page.locator("table.events tbody tr").count() > 0
