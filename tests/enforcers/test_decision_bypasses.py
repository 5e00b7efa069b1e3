"""The decision API cannot be walked around: Hub spellings, and which organization decides."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from policies.services import update_policy
from tests.conftest import Cast, bearer, stored_events
from tests.engine.test_decide import HUB_SPELLINGS

pytestmark = pytest.mark.django_db
URL = "/api/v1/decisions"


@pytest.fixture
def acme_on(cast: Cast) -> None:
    update_policy(org=cast.acme, actor=cast.olivia, changes={"enabled": True})


@pytest.fixture
def globex_on(cast: Cast) -> None:
    from django.contrib.auth import get_user_model

    gina = get_user_model().objects.get(username="gina")
    update_policy(org=cast.globex, actor=gina, changes={"enabled": True})


def ask(token: str, body: Any, **extra: Any):
    return bearer(APIClient(), token).post(URL, body, format="json", **extra)


def only_decision(response) -> dict[str, Any]:
    assert response.status_code == HTTPStatus.OK, response.content
    (decision,) = response.json()["decisions"]
    return decision


@pytest.mark.parametrize("image", HUB_SPELLINGS)
def test_every_spelling_of_docker_hub_is_denied_like_docker_io(
    acme_on: None, tokens: dict[str, str], image: str
) -> None:
    decision = only_decision(ask(tokens["mike"], {"image": image}))
    assert decision["allowed"] is False
    assert decision["reason"] == "image access denied: community images not allowed"
    assert decision["category"] == "community"
    assert decision["repository"] == "someuser/custom-image"
    assert decision["scope"] == "governed"


@pytest.mark.parametrize("via", ["lean", "drf"])
def test_the_reference_reported_is_the_one_docker_parses(
    acme_on: None, tokens: dict[str, str], via: str
) -> None:
    extra = {} if via == "lean" else {"HTTP_ACCEPT": "application/json; indent=2"}
    image = "REGISTRY-1.DOCKER.IO:443/someuser/custom-image"
    decision = only_decision(ask(tokens["mike"], {"image": image}, **extra))
    assert decision["reference"] == f"{image}:latest"
    assert decision["registry"] == "REGISTRY-1.DOCKER.IO:443"
    assert decision["allowed"] is False


@pytest.mark.parametrize("via", ["lean", "drf"])
def test_an_unknown_organization_is_a_400_naming_it(
    acme_on: None, tokens: dict[str, str], via: str
) -> None:
    extra = {} if via == "lean" else {"HTTP_ACCEPT": "application/json; indent=2"}
    body = {"image": "someuser/custom-image", "orgs": ["acme", "doesnotexist"]}
    response = ask(tokens["mike"], body, **extra)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json() == {
        "error": {"code": "unknown_organization", "message": "unknown organization: doesnotexist"}
    }
    assert not stored_events().exists()


def test_organizations_are_named_without_regard_to_case(
    acme_on: None, tokens: dict[str, str]
) -> None:
    decision = only_decision(ask(tokens["mike"], {"image": "someuser/x", "orgs": ["ACME"]}))
    assert (decision["allowed"], decision["org"]) == (False, "acme")


def test_naming_an_org_the_caller_is_not_in_never_loosens_their_own_orgs_denial(
    acme_on: None, cast: Cast, tokens: dict[str, str]
) -> None:
    # mike belongs to acme only; globex has image access off and does not enforce sign-in.
    decision = only_decision(ask(tokens["mike"], {"image": "someuser/x", "orgs": ["globex"]}))
    assert decision["allowed"] is False
    assert decision["org"] == "acme"
    assert decision["reason"] == "image access denied: community images not allowed"


def test_events_go_only_to_the_callers_own_organizations(
    acme_on: None, cast: Cast, tokens: dict[str, str]
) -> None:
    ask(tokens["mike"], {"images": ["someuser/x", "nginx"], "orgs": ["globex"]})
    cast.globex.enforce_sign_in = True
    cast.globex.save()
    ask(tokens["mike"], {"image": "nginx", "orgs": ["globex"]})
    events = stored_events()
    assert events.count() == 3
    assert not events.filter(org=cast.globex).exists()
    sign_in = events.get(reason__startswith="sign-in required")
    assert sign_in.org is None
    assert not sign_in.allowed


def test_a_member_of_a_named_org_is_decided_by_it(
    acme_on: None, globex_on: None, cast: Cast, tokens: dict[str, str]
) -> None:
    decision = only_decision(ask(tokens["charlie"], {"image": "nginx", "orgs": ["acme", "globex"]}))
    assert (decision["allowed"], decision["org"]) == (True, "globex")
    assert stored_events().get().org == cast.globex


@pytest.mark.parametrize(
    "image",
    [
        "REGISTRY-1.DOCKER.IO/someuser/custom-image",
        "registry-1.docker.io:443/someuser/custom-image",
    ],
)
def test_classify_command_sees_every_hub_spelling_as_docker_hub(
    acme_on: None, cast: Cast, capsys: pytest.CaptureFixture[str], image: str
) -> None:
    call_command("classify", image, "--user", "mike", "--org", "ACME")
    out = capsys.readouterr().out
    assert "category:  community" in out
    assert "DENIED under acme" in out
    assert "catalog:   not in the catalog" in out


def test_classify_command_refuses_an_unknown_organization(cast: Cast) -> None:
    with pytest.raises(CommandError, match="unknown organization: nowhere"):
        call_command("classify", "nginx", "--org", "Nowhere")


def test_classify_command_shows_a_registry_access_denial(
    acme_on: None, cast: Cast, capsys: pytest.CaptureFixture[str]
) -> None:
    from policies.registry_access import update_registry_access

    update_registry_access(org=cast.acme, actor=cast.olivia, enabled=True)
    call_command("classify", "GHCR.io:443/someuser/tool", "--user", "olivia")
    out = capsys.readouterr().out
    assert "registry:  ghcr.io\n" in out
    assert "DENIED under acme" in out
    assert "reason:    registry access to ghcr.io:443 is not allowed" in out
    assert "decided by registry access management" in out
