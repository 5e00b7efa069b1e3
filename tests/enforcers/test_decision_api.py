"""``POST /api/v1/decisions``: a member's pulls decided end to end, and every error."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any
from unittest import mock

import pytest
from django.db import OperationalError
from rest_framework.test import APIClient

from orgs.models import Organization
from policies.models import ImageAccessPolicy
from policies.services import update_policy
from tests.conftest import Cast, bearer, stored_events

pytestmark = pytest.mark.django_db
URL = "/api/v1/decisions"


def ask(api: APIClient, token: str, body: Any, **extra: Any):
    return bearer(api, token).post(URL, body, format="json", **extra)


def decisions(response) -> dict[str, dict[str, Any]]:
    assert response.status_code == HTTPStatus.OK, response.content
    return {d["image"]: d for d in response.json()["decisions"]}


@pytest.fixture
def acme_on(cast: Cast) -> None:
    update_policy(org=cast.acme, actor=cast.olivia, changes={"enabled": True})


IMAGES = ["nginx", "someuser/custom-image", "acme/app:1.0", "ghcr.io/someuser/tool", "Foo"]


def test_member_gets_the_documented_decisions(
    acme_on: None, tokens: dict[str, str], api: APIClient
) -> None:
    result = decisions(ask(api, tokens["mike"], {"images": IMAGES}))
    nginx = result["nginx"]
    assert nginx == {
        "image": "nginx",
        "reference": "docker.io/library/nginx:latest",
        "registry": "docker.io",
        "registry_host": "docker.io",
        "repository": "library/nginx",
        "tag": "latest",
        "digest": None,
        "category": "official",
        "sponsored_oss": False,
        "scope": "governed",
        "allowed": True,
        "would_deny": False,
        "reason": "official images allowed",
        "org": "acme",
        "policy_version": 2,
        "exception_id": None,
        "registry_access_decided": False,
    }
    denied = result["someuser/custom-image"]
    assert denied["allowed"] is False
    assert denied["reason"] == "image access denied: community images not allowed"
    assert denied["category"] == "community"
    assert result["acme/app:1.0"]["allowed"] is True
    assert result["acme/app:1.0"]["category"] == "organization"
    other = result["ghcr.io/someuser/tool"]
    assert (other["allowed"], other["category"], other["scope"]) == (
        True,
        "other_registry",
        "not_governed",
    )
    assert result["Foo"] == {
        "image": "Foo",
        "error": "invalid reference format: repository name (library/Foo) must be lowercase",
    }


def test_owner_bypasses_and_outsider_org_off_allows(
    acme_on: None, tokens: dict[str, str], api: APIClient
) -> None:
    olivia = decisions(ask(api, tokens["olivia"], {"image": "someuser/custom-image"}))
    assert olivia["someuser/custom-image"]["allowed"] is True
    assert olivia["someuser/custom-image"]["reason"] == "owners are not restricted"
    charlie = decisions(ask(APIClient(), tokens["charlie"], {"image": "someuser/custom-image"}))
    assert charlie["someuser/custom-image"]["allowed"] is True
    assert charlie["someuser/custom-image"]["org"] == "globex"


def test_owner_allowing_community_over_the_api_lets_mike_pull(
    acme_on: None, tokens: dict[str, str]
) -> None:
    mike, olivia = APIClient(), APIClient()
    before = decisions(ask(mike, tokens["mike"], {"image": "someuser/custom-image"}))
    patch = bearer(olivia, tokens["olivia"]).patch(
        "/api/v1/orgs/acme/image-access", {"allow_community": True}, format="json"
    )
    assert patch.status_code == HTTPStatus.OK
    after = decisions(ask(mike, tokens["mike"], {"image": "someuser/custom-image"}))
    assert after["someuser/custom-image"]["allowed"] is True
    assert (
        after["someuser/custom-image"]["policy_version"]
        > before["someuser/custom-image"]["policy_version"]
    )
    forbidden = mike.patch(
        "/api/v1/orgs/acme/image-access", {"allow_community": False}, format="json"
    )
    assert forbidden.status_code == HTTPStatus.FORBIDDEN
    assert ImageAccessPolicy.objects.get(org__slug="acme").allow_community is True


def test_named_org_decides(
    acme_on: None, cast: Cast, tokens: dict[str, str], api: APIClient
) -> None:
    result = decisions(ask(api, tokens["mike"], {"image": "someuser/x", "orgs": ["acme"]}))
    assert result["someuser/x"]["allowed"] is False
    Organization.objects.filter(slug="globex").update(enforce_sign_in=True)
    result = decisions(ask(APIClient(), tokens["mike"], {"image": "nginx", "orgs": ["globex"]}))
    assert result["nginx"]["allowed"] is False
    assert result["nginx"]["reason"] == "sign-in required: sign in as a member of globex"


def test_every_decision_is_recorded_as_an_event(
    acme_on: None, cast: Cast, tokens: dict[str, str], api: APIClient
) -> None:
    ask(api, tokens["mike"], {"images": IMAGES}, HTTP_USER_AGENT="ci-checker/1.0")
    events = stored_events().order_by("image")
    assert events.count() == 4  # "Foo" is an error, not a decision
    denied = events.get(image="someuser/custom-image")
    assert (denied.allowed, denied.username, denied.enforcer, denied.org) == (
        False,
        "mike",
        "api",
        cast.acme,
    )
    assert denied.user_agent == "ci-checker/1.0"
    assert denied.token_id is not None


@pytest.mark.parametrize("via", ["lean", "drf"])
def test_daemon_plugin_names_itself_and_its_host(
    acme_on: None, cast: Cast, tokens: dict[str, str], api: APIClient, via: str
) -> None:
    extra = {} if via == "lean" else {"HTTP_ACCEPT": "application/json; indent=2"}
    body = {"images": ["nginx", "someuser/custom-image"], "enforcer": "daemon", "host": "build-01"}
    result = decisions(ask(api, tokens["mike"], body, **extra))
    assert result["someuser/custom-image"]["allowed"] is False
    events = stored_events()
    assert {(e.image, e.enforcer, e.client_host) for e in events} == {
        ("nginx", "daemon", "build-01"),
        ("someuser/custom-image", "daemon", "build-01"),
    }


def test_load_decision_follows_the_organization(
    acme_on: None, cast: Cast, tokens: dict[str, str], api: APIClient
) -> None:
    body = {"action": "load", "enforcer": "daemon", "host": "build-01"}
    allowed = ask(api, tokens["mike"], body)
    assert allowed.status_code == HTTPStatus.OK, allowed.content
    assert allowed.json()["image_load"]["allowed"] is True
    update_policy(org=cast.acme, actor=cast.olivia, changes={"block_image_load": True})
    denied = ask(api, tokens["mike"], body).json()
    assert denied == {
        "decisions": [],
        "image_load": {
            "allowed": False,
            "would_deny": False,
            "reason": "image access denied: docker load and docker import are not allowed by acme",
            "org": "acme",
            "policy_version": 3,
        },
    }
    assert ask(api, tokens["olivia"], body).json()["image_load"]["allowed"] is True
    unknown = ask(api, tokens["mike"], {**body, "orgs": ["nope"]})
    assert unknown.status_code == HTTPStatus.BAD_REQUEST
    assert not stored_events().exists()


def test_callers_that_do_not_name_themselves_are_the_api(
    acme_on: None, tokens: dict[str, str], api: APIClient
) -> None:
    ask(api, tokens["mike"], {"image": "nginx"})
    event = stored_events().get()
    assert (event.enforcer, event.client_host) == ("api", "")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({}, "images: list at least one image"),
        ({"images": []}, "images: list at least one image"),
        ({"images": "nginx"}, "images: "),
        ({"images": [1, 2]}, "images"),
        ({"images": ["nginx"] * 101}, "at most 100 images per call"),
        ({"image": ""}, "image: "),
        ({"image": "nginx", "images": ["nginx"]}, "either image or images"),
        ({"image": "nginx", "orgs": "acme"}, "orgs"),
        ({"image": "nginx", "orgs": ["not a slug!"]}, "orgs"),
        ({"image": "nginx", "action": "push"}, "action"),
        ({"image": "nginx", "colour": "blue"}, "colour: unknown field"),
        ({"image": "x" * 2000}, "image: "),
        ({"image": "nginx", "enforcer": "registry"}, "enforcer: "),
        ({"action": "load", "images": ["nginx"]}, "a load decision takes no images"),
        ({"image": "nginx", "enforcer": ["daemon"]}, "enforcer: "),
        ({"image": "nginx", "host": "build 01"}, "host: expected a host name"),
        ({"image": "nginx", "host": "-build"}, "host: expected a host name"),
        ({"image": "nginx", "host": "h\u00e9te"}, "host: expected a host name"),
        ({"image": "nginx", "host": 7}, "host: must be a string"),
        ({"image": "nginx", "host": ""}, "host: "),
        ({"image": "nginx", "host": "h" * 254}, "host: "),
        ([1, 2, 3], "send a JSON object"),
    ],
)
def test_malformed_bodies_get_400_naming_the_field(
    cast: Cast, tokens: dict[str, str], api: APIClient, body: Any, fragment: str
) -> None:
    response = ask(api, tokens["mike"], body)
    assert response.status_code == HTTPStatus.BAD_REQUEST, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert fragment in error["message"]
    assert not stored_events().exists()


def test_body_that_is_not_json_gets_400(cast: Cast, tokens: dict[str, str], api: APIClient) -> None:
    response = bearer(api, tokens["mike"]).post(
        URL, data="{not json", content_type="application/json"
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"]["code"] == "malformed_request"


def test_form_encoded_body_gets_415(cast: Cast, tokens: dict[str, str], api: APIClient) -> None:
    response = bearer(api, tokens["mike"]).post(URL, data={"image": "nginx"})
    assert response.status_code == HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    assert response.json()["error"]["message"] == "send the request body as application/json"


def test_missing_credentials_get_401(api: APIClient, db: None) -> None:
    response = api.post(URL, {"image": "nginx"}, format="json")
    assert response.status_code == HTTPStatus.UNAUTHORIZED


def test_session_is_not_accepted_for_decisions(cast: Cast, client) -> None:
    client.force_login(cast.mike)
    response = client.post(URL, {"image": "nginx"}, content_type="application/json")
    assert response.status_code == HTTPStatus.UNAUTHORIZED


def test_get_is_not_allowed(cast: Cast, tokens: dict[str, str], api: APIClient) -> None:
    response = bearer(api, tokens["mike"]).get(URL)
    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_unreadable_policy_fails_closed_with_503(
    cast: Cast, tokens: dict[str, str], api: APIClient
) -> None:
    bearer(api, tokens["mike"])
    api.get("/api/v1/me")  # authenticate once so the failure below hits the policy read
    with mock.patch(
        "policies.snapshot_store.load_catalog", side_effect=OperationalError("connection refused")
    ):
        response = api.post(URL, {"image": "nginx"}, format="json")
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response["Retry-After"]
    assert response.json()["error"]["code"] == "policy_unavailable"
