"""Every form in the console refuses a POST without its CSRF token.

The test crawls the console as an owner, collects every ``<form method="post">`` it finds
and posts to each one without the token: all must answer 403 and change nothing.
"""

from __future__ import annotations

from html.parser import HTMLParser
from http import HTTPStatus
from urllib.parse import urljoin, urlsplit

import pytest
from django.test import Client

from orgs.models import ActivityLog, Membership
from orgs.services import invite
from policies.models import RepositoryException
from tests.conftest import Cast

pytestmark = pytest.mark.django_db
START = ["/orgs/", "/orgs/acme/", "/settings/tokens/", "/accounts/login/"]


class PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.forms: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "a" and attributes.get("href"):
            self.links.append(attributes["href"] or "")
        if tag == "form" and (attributes.get("method") or "get").lower() == "post":
            self.forms.append(attributes.get("action") or "")


def crawl(client: Client) -> set[str]:
    """Every POST form action reachable from the start pages (same site, console only)."""
    seen: set[str] = set()
    queue = list(START)
    actions: set[str] = set()
    while queue:
        url = queue.pop()
        path = urlsplit(url).path
        if path in seen or not path.startswith(("/orgs/", "/settings/", "/accounts/login")):
            continue
        seen.add(path)
        response = client.get(url)
        if response.status_code != HTTPStatus.OK or "html" not in response["Content-Type"]:
            continue
        parser = PageParser()
        parser.feed(response.content.decode())
        for form in parser.forms:
            actions.add(urlsplit(urljoin(url, form or url)).path)
        queue.extend(urljoin(url, link) for link in parser.links if not link.startswith("http"))
    return actions


def test_every_console_form_requires_the_csrf_token(cast: Cast) -> None:
    RepositoryException.objects.create(org=cast.acme, namespace="someuser", name="*")
    invite(actor=Membership.objects.get(org=cast.acme, user=cast.olivia), email="x@example.com")
    browser = Client()
    browser.force_login(cast.olivia)
    actions = crawl(browser)
    assert len(actions) >= 8, actions
    for expected in (
        "/orgs/acme/image-access/",
        "/orgs/acme/exceptions/",
        "/settings/tokens/",
        "/orgs/",
    ):
        assert expected in actions, (expected, actions)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(cast.olivia)
    before = ActivityLog.objects.count()
    for action in sorted(actions):
        response = strict.post(action, {"name": "x", "role": "owner", "enabled": "on"})
        assert response.status_code == HTTPStatus.FORBIDDEN, action
    assert ActivityLog.objects.count() == before
