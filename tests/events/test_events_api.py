"""The events API: owners read decision events, filtered, newest first, page by page."""

from __future__ import annotations

import datetime as dt
from http import HTTPStatus
from typing import Any

import pytest
from rest_framework.test import APIClient

from policies.events.usage_reports import utc_today
from tests.conftest import Cast, bearer
from tests.events.bulk_events import Pull, add_events

pytestmark = pytest.mark.django_db
EVENTS = "/api/v1/orgs/acme/events"
TODAY = utc_today()
CUSTOM = "someuser/custom-image"
EVENT_FIELDS = {
    "id",
    "image",
    "reference",
    "registry",
    "category",
    "allowed",
    "would_deny",
    "reason",
    "user",
    "enforcer",
    "client_host",
    "created_at",
}


def client_for(token: str) -> APIClient:
    return bearer(APIClient(), token)


def error_of(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body


@pytest.fixture
def events(cast: Cast) -> None:
    add_events(cast.acme, Pull("mike", "library/nginx", "official"), count=3, day=TODAY)
    add_events(
        cast.acme,
        Pull("mike", CUSTOM, "community", "denied"),
        count=2,
        day=TODAY - dt.timedelta(days=1),
    )
    add_events(
        cast.acme,
        Pull("erin", "other/tool", "community", "would_deny", enforcer="registry"),
        day=TODAY - dt.timedelta(days=20),
    )
    add_events(cast.acme, Pull("", "library/alpine", "official", enforcer="cli"), day=TODAY)
    add_events(cast.globex, Pull("charlie", "secret/repo", "community", "denied"), day=TODAY)


def test_owner_lists_events_newest_first_with_the_documented_fields(
    cast: Cast, tokens: dict[str, str], events: None
) -> None:
    response = client_for(tokens["olivia"]).get(EVENTS)

    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert set(body) == {"next", "previous", "results"}
    results = body["results"]
    assert len(results) == 7  # acme's only: globex's event is not there
    assert all(set(item) == EVENT_FIELDS for item in results)
    times = [item["created_at"] for item in results]
    assert times == sorted(times, reverse=True)
    denied = next(item for item in results if item["image"] == CUSTOM)
    assert denied | {"id": 0, "created_at": ""} == {
        "id": 0,
        "image": CUSTOM,
        "reference": f"docker.io/{CUSTOM}:latest",
        "registry": "docker.io",
        "category": "community",
        "allowed": False,
        "would_deny": False,
        "reason": "image access denied: community images not allowed",
        "user": "mike",
        "enforcer": "api",
        "client_host": "",
        "created_at": "",
    }
    anonymous = next(item for item in results if item["image"] == "alpine")
    assert anonymous["user"] is None


@pytest.mark.parametrize(
    ("query", "images"),
    [
        ({"user": "erin"}, {"other/tool"}),
        ({"repository": "library/nginx"}, {"nginx"}),
        ({"category": "community"}, {CUSTOM, "other/tool"}),
        ({"outcome": "denied"}, {CUSTOM}),
        ({"outcome": "would_deny"}, {"other/tool"}),
        ({"outcome": "allowed"}, {"nginx", "alpine"}),
        ({"enforcer": "cli"}, {"alpine"}),
        ({"days": "7"}, {"nginx", "alpine", CUSTOM}),
        ({"day": (TODAY - dt.timedelta(days=1)).isoformat()}, {CUSTOM}),
        ({"user": "mike", "outcome": "allowed"}, {"nginx"}),
    ],
)
def test_events_filter_like_the_page(
    cast: Cast, tokens: dict[str, str], events: None, query: dict[str, str], images: set[str]
) -> None:
    response = client_for(tokens["olivia"]).get(EVENTS, query)
    assert response.status_code == HTTPStatus.OK
    assert {item["image"] for item in response.json()["results"]} == images


def test_cursor_pages_cover_every_event_once(
    cast: Cast, tokens: dict[str, str], events: None
) -> None:
    api = client_for(tokens["olivia"])
    seen: list[int] = []
    url: str | None = f"{EVENTS}?page_size=2"
    pages = 0
    while url:
        body = api.get(url).json()
        assert len(body["results"]) <= 2
        seen.extend(item["id"] for item in body["results"])
        url = body["next"]
        pages += 1
    assert pages == 4
    assert len(seen) == len(set(seen)) == 7


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"category": "sometimes"}, "category"),
        ({"outcome": "maybe"}, "outcome"),
        ({"enforcer": "kubelet"}, "enforcer"),
        ({"days": "5"}, "days"),
        ({"day": "yesterday"}, "day"),
        ({"user": "x" * 151}, "user"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "lots"}, "page_size"),
        ({"page_size": "501"}, "page_size"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"usr": "mike"}, "usr"),
    ],
)
def test_bad_event_filters_are_400_naming_the_parameter(
    cast: Cast, tokens: dict[str, str], query: dict[str, str], field: str
) -> None:
    response = client_for(tokens["olivia"]).get(EVENTS, query)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    error = error_of(response)
    assert error["code"] == "invalid_request"
    assert error["message"].startswith(f"{field}: ")


@pytest.mark.parametrize(("who", "status"), [("erin", 403), ("mike", 403), ("charlie", 404)])
def test_only_owners_read_events(cast: Cast, tokens: dict[str, str], who: str, status: int) -> None:
    assert client_for(tokens[who]).get(EVENTS).status_code == status


def test_events_need_authentication(cast: Cast) -> None:
    assert APIClient().get(EVENTS).status_code == HTTPStatus.UNAUTHORIZED


def test_the_schema_documents_the_events_endpoint(cast: Cast, tokens: dict[str, str]) -> None:
    response = client_for(tokens["olivia"]).get("/api/schema/", {"format": "json"})
    assert response.status_code == HTTPStatus.OK
    paths = response.json()["paths"]
    assert {"get"} <= set(paths["/api/v1/orgs/{slug}/events"])
    parameters = {p["name"] for p in paths["/api/v1/orgs/{slug}/events"]["get"]["parameters"]}
    assert {"user", "repository", "category", "outcome", "enforcer", "cursor"} <= parameters
