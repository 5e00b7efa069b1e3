"""Registry access REST endpoint: reading, switching, the allowlist, decisions and bad input."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import pytest
from rest_framework.test import APIClient

from orgs.models import ActivityLog, Organization, TokenScope
from orgs.tokens import mint_token
from policies.models import RegistryAccessPolicy
from tests.conftest import Cast, bearer

pytestmark = pytest.mark.django_db
URL = "/api/v1/orgs/acme/registry-access"


def client_for(token: str) -> APIClient:
    return bearer(APIClient(), token)


def decide(token: str, image: str) -> dict[str, Any]:
    response = client_for(token).post("/api/v1/decisions", {"image": image}, format="json")
    assert response.status_code == HTTPStatus.OK, response.content
    decision: dict[str, Any] = response.json()["decisions"][0]
    return decision


@pytest.mark.parametrize("who", ["olivia", "erin", "mike"])
def test_every_member_reads_it_off_with_docker_hub_listed(
    cast: Cast, tokens: dict[str, str], who: str
) -> None:
    response = client_for(tokens[who]).get(URL)
    assert response.status_code == HTTPStatus.OK
    assert response.json() | {"updated_at": None} == {
        "enabled": False,
        "registries": [{"host": "docker.io", "note": "Docker Hub"}],
        "version": 1,
        "updated_by": None,
        "updated_at": None,
    }


def test_owner_switches_it_on_with_a_list_normalized_versioned_and_logged(
    cast: Cast, tokens: dict[str, str]
) -> None:
    body = {
        "enabled": True,
        "registries": [
            {"host": "docker.io", "note": "Docker Hub"},
            {"host": " GHCR.io:443 ", "note": "our packages"},
            "*.corp.example.com",
        ],
    }
    response = client_for(tokens["olivia"]).patch(URL, body, format="json")
    assert response.status_code == HTTPStatus.OK, response.content
    data = response.json()
    assert data["enabled"] is True
    assert data["registries"] == [
        {"host": "docker.io", "note": "Docker Hub"},
        {"host": "ghcr.io", "note": "our packages"},
        {"host": "*.corp.example.com", "note": ""},
    ]
    assert (data["version"], data["updated_by"]) == (2, "olivia")
    entry = ActivityLog.objects.get(action="registry_access.updated")
    assert entry.before == {"enabled": False, "registries": ["docker.io"]}
    assert entry.after == {
        "enabled": True,
        "registries": ["docker.io", "ghcr.io", "*.corp.example.com"],
    }
    # Decisions report the organization's policy version: enforcers that cache by it see this.
    image_access = client_for(tokens["olivia"]).get("/api/v1/orgs/acme/image-access").json()
    assert image_access["version"] == 2
    again = client_for(tokens["olivia"]).patch(URL, body, format="json").json()
    assert again["version"] == 2  # no change, no new version, no log entry
    assert ActivityLog.objects.filter(action="registry_access.updated").count() == 1


def test_decisions_follow_the_list_for_owners_and_members_alike(
    cast: Cast, tokens: dict[str, str]
) -> None:
    owner = client_for(tokens["olivia"])
    assert decide(tokens["mike"], "quay.io/someone/tool")["allowed"] is True  # off: allowed
    owner.patch(URL, {"enabled": True, "registries": ["docker.io", "ghcr.io"]}, format="json")
    for who in ("olivia", "mike"):
        denied = decide(tokens[who], "QUAY.IO/someone/tool:1")
        assert denied["allowed"] is False
        assert denied["reason"] == "registry access to quay.io is not allowed"
        assert denied["registry_access_decided"] is True
        allowed = decide(tokens[who], "ghcr.io/someone/tool")
        assert allowed["allowed"] is True
        assert allowed["registry_access_decided"] is False
        assert decide(tokens[who], "registry-1.docker.io/library/nginx")["allowed"] is True
    owner.patch(URL, {"registries": [{"host": "ghcr.io"}]}, format="json")
    hub = decide(tokens["olivia"], "Registry-1.Docker.IO:443/library/nginx")
    assert hub["allowed"] is False
    assert hub["reason"] == "registry access to registry-1.docker.io:443 is not allowed"


def test_audit_mode_records_would_deny_and_allows(cast: Cast, tokens: dict[str, str]) -> None:
    owner = client_for(tokens["olivia"])
    owner.patch("/api/v1/orgs/acme/image-access", {"audit_mode": True}, format="json")
    owner.patch(URL, {"enabled": True, "registries": ["docker.io"]}, format="json")
    decision = decide(tokens["mike"], "ghcr.io/someone/tool")
    assert (decision["allowed"], decision["would_deny"]) == (True, True)
    assert decision["reason"] == "audit mode: registry access to ghcr.io is not allowed"


def test_turning_it_on_without_business_is_refused(cast: Cast, tokens: dict[str, str]) -> None:
    Organization.objects.filter(slug="acme").update(plan="team")
    response = client_for(tokens["olivia"]).patch(URL, {"enabled": True}, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"] == {
        "code": "plan_required",
        "message": "registry access management requires a Business subscription",
    }
    assert not RegistryAccessPolicy.objects.filter(enabled=True).exists()


@pytest.mark.parametrize("who", ["erin", "mike"])
def test_non_owners_cannot_write(cast: Cast, tokens: dict[str, str], who: str) -> None:
    response = client_for(tokens[who]).patch(URL, {"enabled": True}, format="json")
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert not RegistryAccessPolicy.objects.filter(enabled=True).exists()


def test_a_token_without_admin_scope_cannot_write(cast: Cast) -> None:
    token = mint_token(user=cast.olivia, name="pull", scope=TokenScope.READ).plaintext
    response = client_for(token).patch(URL, {"enabled": True}, format="json")
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert "admin scope" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ([True], "send a JSON object"),
        ({"enabled": "yes"}, "enabled: must be true or false"),
        ({"allowlist": []}, "allowlist: not a setting of registry access"),
        ({"registries": "ghcr.io"}, "registries: give a list"),
        ({"registries": [42]}, "registry 1: give an object with a host"),
        ({"registries": [{"host": "ghcr.io", "extra": 1}]}, "registry 1: unknown field extra"),
        ({"registries": ["docker.io", "https://ghcr.io"]}, "registry 2: 'https://ghcr.io'"),
        ({"registries": ["ghcr.io/someone"]}, "host name only"),
        ({"registries": ["ghcr..io"]}, "not a valid host name"),
        ({"registries": ["ghcr.io:99999"]}, "invalid port"),
        ({"registries": ["*.com"]}, "top-level domain"),
        ({"registries": ["ghcr.io", "GHCR.IO:443"]}, "registry 2: ghcr.io is already in the list"),
        ({"registries": ["index.docker.io", "docker.io"]}, "docker.io is already in the list"),
        ({"registries": [{"host": "ghcr.io", "note": "x" * 201}]}, "at most 200 characters"),
        ({"registries": [{"host": "ghcr.io", "note": "a\nb"}]}, "one line of text"),
        ({"registries": [{"host": "ghcr.io", "note": 5}]}, "the note must be text"),
        ({"registries": [f"r{n}.example.com" for n in range(1001)]}, "at most 1000 registries"),
    ],
)
def test_bad_input_gets_400_and_changes_nothing(
    cast: Cast, tokens: dict[str, str], body: object, fragment: str
) -> None:
    response = client_for(tokens["olivia"]).patch(URL, body, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST, response.content
    assert fragment in response.json()["error"]["message"]
    assert not RegistryAccessPolicy.objects.filter(version__gt=1).exists()
    assert not ActivityLog.objects.filter(action="registry_access.updated").exists()


def test_a_thousand_registries_are_accepted(cast: Cast, tokens: dict[str, str]) -> None:
    hosts = [f"r{n}.example.com" for n in range(1000)]
    response = client_for(tokens["olivia"]).patch(URL, {"registries": hosts}, format="json")
    assert response.status_code == HTTPStatus.OK
    assert len(response.json()["registries"]) == 1000


def test_a_warm_decision_runs_no_sql(
    cast: Cast, tokens: dict[str, str], django_assert_num_queries
) -> None:
    owner = client_for(tokens["olivia"])
    owner.patch(URL, {"enabled": True, "registries": ["docker.io"]}, format="json")
    decide(tokens["mike"], "ghcr.io/someone/tool")  # warms the token and snapshot caches
    with django_assert_num_queries(0):
        assert decide(tokens["mike"], "ghcr.io/someone/tool")["allowed"] is False
