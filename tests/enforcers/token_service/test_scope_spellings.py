"""``/v2/token`` decides every spelling of a Docker Hub repository the same way.

A scope's name is a repository path on the mirrored registry. A mirror sends what the client
asked for (``someuser/custom-image``), but a client can talk to the token service directly
and spell the name, or an operator the upstream, any way it likes. Whatever the spelling, a
member of an organization that denies community images gets no pull of a community
repository; a name the registry itself would refuse (upper case) is never granted.
``IMAGEACCESS_REGISTRY_ORGS`` naming an organization the caller is not a member of never
loosens the caller's own organization's decision.
"""

from __future__ import annotations

import base64
from http import HTTPStatus
from typing import Any

import pytest
from django.test import Client

from orgs.models import Organization
from policies.enforcers.token_service.jwt_tokens import verify_registry_token
from policies.enforcers.token_service.signing import signing_key
from policies.services import update_policy
from tests.conftest import Cast

pytestmark = pytest.mark.django_db
URL = "/v2/token"
SERVICE = "mirror.test"
COMMUNITY_DENIAL = "image access denied: community images not allowed"


@pytest.fixture(autouse=True)
def _private_key(tmp_path, settings) -> None:
    settings.REGISTRY_KEY_FILE = tmp_path / "token.key"
    signing_key.cache_clear()


@pytest.fixture
def acme_denies_community(cast: Cast) -> None:
    update_policy(
        org=cast.acme,
        actor=cast.olivia,
        changes={"enabled": True, "allow_official": True, "allow_community": False},
    )


def basic(username: str, secret: str) -> dict[str, Any]:
    raw = base64.b64encode(f"{username}:{secret}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {raw}"}


def request_pull(client: Client, name: str, token: str, username: str = "mike") -> Any:
    return client.get(
        URL, {"service": SERVICE, "scope": f"repository:{name}:pull"}, **basic(username, token)
    )


def granted(response: Any) -> list[str]:
    """Repository names the response grants pull on (none for a refusal)."""
    if response.status_code != HTTPStatus.OK:
        return []
    claims = verify_registry_token(
        response.json()["token"],
        public_key=signing_key().public_key,
        issuer="imageaccess",
        service=SERVICE,
    )
    return [entry["name"] for entry in claims["access"] if "pull" in entry["actions"]]


COMMUNITY_SPELLINGS = [
    "someuser/custom-image",
    "docker.io/someuser/custom-image",
    "index.docker.io/someuser/custom-image",
    "registry-1.docker.io/someuser/custom-image",
    "registry.hub.docker.com/someuser/custom-image",
    "someuser/custom-image:latest",
    "someuser/custom-image@sha256:" + "a" * 64,
    "someuser/nested/custom-image",
    "library/../someuser/custom-image",
    "someuser//custom-image",
    "SOMEUSER/custom-image",
    "someuser/Custom-Image",
    "Someuser/custom-image",
    "REGISTRY-1.DOCKER.IO/someuser/custom-image",
    "registry-1.docker.io:443/someuser/custom-image",
    "localhost/someuser/custom-image",
    "localhost:5000/someuser/custom-image",
    "ghcr.io/someuser/custom-image",
    "%73omeuser/custom-image",
    " someuser/custom-image",
]


@pytest.mark.parametrize("name", COMMUNITY_SPELLINGS)
def test_community_repository_is_never_granted_to_a_member_whatever_the_spelling(
    acme_denies_community: None, tokens: dict[str, str], client: Client, name: str
) -> None:
    response = request_pull(client, name, tokens["mike"])
    assert granted(response) == [], (name, response.content)
    assert response.status_code in (HTTPStatus.OK, HTTPStatus.UNAUTHORIZED, HTTPStatus.BAD_REQUEST)


@pytest.mark.parametrize(
    "upstream",
    [
        "docker.io",
        "index.docker.io",
        "registry-1.docker.io",
        "registry.hub.docker.com",
        "Registry-1.Docker.IO",
        "registry-1.docker.io:443",
    ],
)
def test_every_spelling_of_docker_hub_as_the_upstream_is_governed(
    acme_denies_community: None, tokens: dict[str, str], client: Client, settings, upstream: str
) -> None:
    # The mirror's own configuration names registry-1.docker.io: an operator may well copy it.
    settings.REGISTRY_UPSTREAM = upstream
    denied = request_pull(client, "someuser/custom-image", tokens["mike"])
    assert denied.status_code == HTTPStatus.UNAUTHORIZED, denied.content
    assert denied.json()["errors"][0] == {"code": "DENIED", "message": COMMUNITY_DENIAL}
    for official in ("nginx", "library/nginx"):
        assert granted(request_pull(client, official, tokens["mike"])) == [official]


@pytest.mark.parametrize("name", ["nginx", "library/nginx"])
def test_official_image_is_granted_under_its_exact_scope_name(
    acme_denies_community: None, tokens: dict[str, str], client: Client, name: str
) -> None:
    # The registry compares access names exactly: the grant must echo the name asked for.
    assert granted(request_pull(client, name, tokens["mike"])) == [name]


@pytest.mark.parametrize("name", ["NGINX", "Library/nginx", "library/Nginx", "LIBRARY/NGINX"])
def test_upper_case_names_the_registry_would_refuse_are_never_granted(
    acme_denies_community: None, tokens: dict[str, str], client: Client, name: str
) -> None:
    for username in ("mike", "olivia"):  # not even to an owner, who bypasses the policy
        assert granted(request_pull(client, name, tokens[username], username)) == [], name


def test_several_scopes_are_each_decided(
    acme_denies_community: None, tokens: dict[str, str], client: Client, settings
) -> None:
    settings.REGISTRY_DENIAL = "empty_grant"
    response = client.get(
        URL,
        {
            "service": SERVICE,
            "scope": [
                "repository:library/nginx:pull",
                "repository:registry-1.docker.io/someuser/custom-image:pull",
                "repository:someuser/custom-image:pull",
                "repository:SOMEUSER/custom-image:pull",
            ],
        },
        **basic("mike", tokens["mike"]),
    )
    assert granted(response) == ["library/nginx"]


# --------------------------------------------------------------------------------------------
# IMAGEACCESS_REGISTRY_ORGS never loosens a decision


@pytest.fixture
def permissive_org(cast: Cast) -> Organization:
    """An organization that allows community images and that mike is not a member of."""
    from orgs.services import create_organization

    loose = create_organization(creator=cast.charlie, slug="loose", name="Loose")
    update_policy(org=loose, actor=cast.charlie, changes={"enabled": False})
    return loose


@pytest.mark.parametrize(
    "named",
    [
        ["loose"],
        ["globex"],
        ["loose", "globex"],
        ["loose", "acme"],
        ["LOOSE"],
        ["Acme"],
    ],
)
def test_named_orgs_the_caller_is_not_a_member_of_never_loosen_a_decision(
    acme_denies_community: None,
    permissive_org: Organization,
    tokens: dict[str, str],
    client: Client,
    settings,
    named: list[str],
) -> None:
    settings.REGISTRY_ORGS = named
    response = request_pull(client, "someuser/custom-image", tokens["mike"])
    assert granted(response) == [], (named, response.content)
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["errors"][0] == {"code": "DENIED", "message": COMMUNITY_DENIAL}


def test_named_orgs_still_decide_for_their_own_members(
    acme_denies_community: None,
    permissive_org: Organization,
    tokens: dict[str, str],
    client: Client,
    settings,
) -> None:
    # Control: charlie, owner of "loose" (image access off), pulls through a mirror naming it.
    settings.REGISTRY_ORGS = ["loose", "acme"]
    assert granted(request_pull(client, "someuser/custom-image", tokens["charlie"], "charlie")) == [
        "someuser/custom-image"
    ]


@pytest.mark.parametrize(
    "name",
    ["library/nginx\n", "library/nginx\r", "library/nginx:1", "library//nginx", "a" * 256],
)
def test_a_scope_whose_name_breaks_the_reference_grammar_is_refused(
    tokens: dict[str, str], client: Client, name: str
) -> None:
    response = request_pull(client, name, tokens["mike"])
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "malformed scope" in response.json()["errors"][0]["message"]
