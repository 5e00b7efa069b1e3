"""``/v2/token`` through Django's test client: credentials, scopes, decisions, errors."""

from __future__ import annotations

import base64
from http import HTTPStatus
from typing import Any
from unittest import mock

import pytest
from django.db import OperationalError
from django.test import Client

from orgs.models import Organization
from orgs.tokens import mint_token, revoke_token
from policies.enforcers.token_service.jwt_tokens import verify_registry_token
from policies.enforcers.token_service.signing import signing_key
from policies.services import update_policy
from tests.conftest import Cast, stored_events

pytestmark = pytest.mark.django_db
URL = "/v2/token"
SERVICE = "mirror.test"


@pytest.fixture(autouse=True)
def _private_key(tmp_path, settings) -> None:
    settings.REGISTRY_KEY_FILE = tmp_path / "token.key"
    signing_key.cache_clear()


@pytest.fixture
def acme_on(cast: Cast) -> None:
    update_policy(org=cast.acme, actor=cast.olivia, changes={"enabled": True})


def basic(username: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{username}:{secret}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {raw}"}


def get(client: Client, *scopes: str, auth: dict[str, str] | None = None, **params: str) -> Any:
    query: dict[str, Any] = {"service": SERVICE, **params}
    if scopes:
        query["scope"] = list(scopes)
    headers: dict[str, Any] = dict(auth or {})
    return client.get(URL, query, **headers)


def claims(response) -> dict[str, Any]:
    assert response.status_code == HTTPStatus.OK, response.content
    body = response.json()
    assert body["token"] == body["access_token"]
    assert body["expires_in"] == 300
    assert body["issued_at"].endswith("Z")
    return verify_registry_token(
        body["token"], public_key=signing_key().public_key, issuer="imageaccess", service=SERVICE
    )


def test_member_gets_pull_on_an_allowed_repository(
    acme_on: None, tokens: dict[str, str], client: Client
) -> None:
    response = get(client, "repository:library/nginx:pull", auth=basic("mike", tokens["mike"]))
    token = claims(response)
    assert token["access"] == [{"type": "repository", "name": "library/nginx", "actions": ["pull"]}]
    assert token["sub"] == "mike"
    assert token["aud"] == SERVICE


def test_jwt_header_is_es256_with_libtrust_kid(
    acme_on: None, tokens: dict[str, str], client: Client
) -> None:
    import jwt

    body = get(client, "repository:library/nginx:pull", auth=basic("mike", tokens["mike"])).json()
    header = jwt.get_unverified_header(body["token"])
    assert header["alg"] == "ES256"
    assert header["kid"] == signing_key().kid
    assert len(header["kid"].split(":")) == 12


def test_denied_pull_is_401_with_the_engines_reason(
    acme_on: None, tokens: dict[str, str], client: Client
) -> None:
    response = get(
        client, "repository:someuser/custom-image:pull", auth=basic("mike", tokens["mike"])
    )
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json() == {
        "errors": [
            {"code": "DENIED", "message": "image access denied: community images not allowed"}
        ]
    }
    event = stored_events().get()
    assert (event.enforcer, event.allowed, event.username) == ("registry", False, "mike")


def test_empty_grant_mode_answers_with_a_token_granting_nothing(
    acme_on: None, tokens: dict[str, str], client: Client, settings
) -> None:
    settings.REGISTRY_DENIAL = "empty_grant"
    response = get(
        client,
        "repository:someuser/custom-image:pull",
        "repository:library/nginx:pull",
        auth=basic("mike", tokens["mike"]),
    )
    assert [a["name"] for a in claims(response)["access"]] == ["library/nginx"]


def test_owner_bypasses(acme_on: None, tokens: dict[str, str], client: Client) -> None:
    response = get(
        client, "repository:someuser/custom-image:pull", auth=basic("olivia", tokens["olivia"])
    )
    assert claims(response)["access"][0]["name"] == "someuser/custom-image"


def test_push_and_other_actions_are_never_granted(
    acme_on: None, tokens: dict[str, str], client: Client
) -> None:
    response = get(
        client,
        "repository:acme/app:pull,push,delete",
        "registry:catalog:*",
        auth=basic("olivia", tokens["olivia"]),
    )
    assert claims(response)["access"] == [
        {"type": "repository", "name": "acme/app", "actions": ["pull"]}
    ]


def test_duplicate_and_multiple_scopes(
    acme_on: None, tokens: dict[str, str], client: Client
) -> None:
    response = get(
        client,
        "repository:library/nginx:pull",
        "repository:library/nginx:pull",
        "repository:acme/app:pull",
        auth=basic("mike", tokens["mike"]),
    )
    names = [a["name"] for a in claims(response)["access"]]
    assert names == ["library/nginx", "acme/app"]
    assert stored_events().count() == 2


def test_login_without_scope_succeeds_for_valid_credentials(
    tokens: dict[str, str], client: Client
) -> None:
    response = get(
        client,
        auth=basic("mike", tokens["mike"]),
        account="mike",
        client_id="docker",
        offline_token="true",
    )
    assert claims(response)["access"] == []
    assert response.json()["refresh_token"]


def test_account_must_match_the_user(tokens: dict[str, str], client: Client) -> None:
    response = get(client, auth=basic("mike", tokens["mike"]), account="olivia")
    assert response.status_code == HTTPStatus.UNAUTHORIZED


def test_buildkit_post_password_grant_works(
    acme_on: None, tokens: dict[str, str], client: Client
) -> None:
    response = client.post(
        URL,
        {
            "grant_type": "password",
            "username": "mike",
            "password": tokens["mike"],
            "scope": "repository:library/nginx:pull",
            "service": SERVICE,
            "client_id": "buildkit-client",
            "access_type": "offline",
        },
    )
    assert claims(response)["access"][0]["name"] == "library/nginx"
    refresh = response.json()["refresh_token"]
    again = client.post(
        URL,
        {
            "grant_type": "refresh_token",
            "refresh_token": refresh,
            "scope": "repository:acme/app:pull",
            "service": SERVICE,
        },
    )
    assert claims(again)["sub"] == "mike"


def test_refresh_token_dies_with_its_access_token(cast: Cast, client: Client) -> None:
    minted = mint_token(user=cast.mike, name="ci")
    response = client.post(
        URL,
        {
            "grant_type": "password",
            "username": "mike",
            "password": minted.plaintext,
            "service": SERVICE,
            "access_type": "offline",
        },
    )
    refresh = response.json()["refresh_token"]
    revoke_token(token=minted.token, actor=cast.mike)
    again = client.post(
        URL, {"grant_type": "refresh_token", "refresh_token": refresh, "service": SERVICE}
    )
    assert again.status_code == HTTPStatus.UNAUTHORIZED
    forged = client.post(
        URL, {"grant_type": "refresh_token", "refresh_token": "forged", "service": SERVICE}
    )
    assert forged.json()["errors"][0]["message"] == "invalid or expired refresh token"


@pytest.mark.parametrize(
    ("auth", "message"),
    [
        (("mike", "dckr_pat_wrongwrongwrongwrongwrong12"), "invalid username or access token"),
        (("olivia", None), "invalid username or access token"),
        (
            ("mike", "dckr_oat_abcdefabcdefabcdefabcdef1"),
            "organization access tokens are not supported: use a personal access token",
        ),
        (("mike", "plain-password"), "invalid username or access token"),
    ],
)
def test_bad_credentials_get_401_unauthorized(
    tokens: dict[str, str], client: Client, auth: tuple[str, str | None], message: str
) -> None:
    username, secret = auth
    response = get(
        client, "repository:library/nginx:pull", auth=basic(username, secret or tokens["mike"])
    )
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json() == {"errors": [{"code": "UNAUTHORIZED", "message": message}]}


def test_malformed_basic_header(client: Client, db: None) -> None:
    response = get(client, auth={"HTTP_AUTHORIZATION": "Basic !!!"})
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert "malformed" in response.json()["errors"][0]["message"]


def test_anonymous_is_decided_as_anonymous(acme_on: None, client: Client) -> None:
    # Anonymous belongs to no organization: nothing restricts it unless sign-in is enforced.
    assert claims(get(client, "repository:someuser/custom-image:pull"))["access"]


def test_anonymous_through_a_mirror_of_an_org_enforcing_sign_in(
    acme_on: None, client: Client, settings
) -> None:
    settings.REGISTRY_ORGS = ["acme"]
    Organization.objects.filter(slug="acme").update(enforce_sign_in=True)
    response = get(client, "repository:library/nginx:pull")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["errors"][0] == {
        "code": "DENIED",
        "message": "sign-in required: sign in as a member of acme",
    }


def test_named_orgs_setting_decides_for_members(
    acme_on: None, tokens: dict[str, str], client: Client, settings
) -> None:
    settings.REGISTRY_ORGS = ["globex", "acme"]
    # mike is not in globex: acme (second) decides.
    response = get(client, "repository:someuser/x:pull", auth=basic("mike", tokens["mike"]))
    assert response.status_code == HTTPStatus.UNAUTHORIZED


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"service": ""}, "service parameter is required"),
        ({"scope": "repository:library/nginx"}, "malformed scope"),
        ({"scope": "nonsense"}, "malformed scope"),
    ],
)
def test_bad_requests_get_400(
    client: Client, db: None, params: dict[str, str], fragment: str
) -> None:
    response = client.get(URL, {"service": SERVICE, **params})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert fragment in response.json()["errors"][0]["message"]


def test_repository_that_is_not_a_reference_is_never_granted(
    tokens: dict[str, str], client: Client
) -> None:
    # Read as a host, "UPPER" or "ghcr.io" would make these other registries, not governed.
    for scope in ("repository:UPPER/case:pull", "repository:localhost:5000/x:pull"):
        response = get(client, scope, auth=basic("mike", tokens["mike"]))
        if response.status_code == HTTPStatus.OK:
            assert claims(response)["access"] == [], scope
        else:
            assert response.status_code == HTTPStatus.BAD_REQUEST, scope


def test_mirror_paths_are_docker_hub_repositories(
    acme_on: None, tokens: dict[str, str], client: Client
) -> None:
    response = get(client, "repository:someuser/x:pull", auth=basic("mike", tokens["mike"]))
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    spelled_as_host = get(
        client, "repository:ghcr.io/someuser/x:pull", auth=basic("mike", tokens["mike"])
    )
    assert spelled_as_host.json()["errors"][0]["code"] == "DENIED"
    single = get(client, "repository:nginx:pull", auth=basic("mike", tokens["mike"]))
    assert claims(single)["access"][0]["name"] == "nginx"


def test_unknown_service_is_refused_when_services_are_restricted(
    client: Client, db: None, settings
) -> None:
    settings.REGISTRY_SERVICES = ["mirror.prod"]
    response = get(client, "repository:library/nginx:pull")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "unknown service" in response.json()["errors"][0]["message"]


def test_unsupported_grant_type(client: Client, db: None) -> None:
    response = client.post(URL, {"grant_type": "client_credentials", "service": SERVICE})
    assert response.status_code == HTTPStatus.BAD_REQUEST


def test_other_methods_get_405(client: Client, db: None) -> None:
    assert client.put(URL).status_code == HTTPStatus.METHOD_NOT_ALLOWED


def test_unreadable_policy_grants_nothing_and_asks_to_retry(
    acme_on: None, tokens: dict[str, str], client: Client
) -> None:
    auth = basic("mike", tokens["mike"])
    with mock.patch("policies.snapshot_store.load_catalog", side_effect=OperationalError("down")):
        response = get(client, "repository:library/nginx:pull", auth=auth)
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response["Retry-After"]
    assert "token" not in response.json()


def test_registry_config_prints_auth_block_and_writes_bundle(tmp_path, db: None) -> None:
    import io

    from django.core.management import call_command

    out = io.StringIO()
    bundle = tmp_path / "bundle.pem"
    call_command(
        "registry_config",
        "--realm",
        "https://ia.example.com/v2/token",
        "--service",
        "mirror",
        "--cert-out",
        str(bundle),
        stdout=out,
    )
    text = out.getvalue()
    assert text.startswith("auth:\n  token:\n")
    assert 'realm: "https://ia.example.com/v2/token"' in text
    assert 'service: "mirror"' in text
    assert 'issuer: "imageaccess"' in text
    assert str(bundle) in text
    assert bundle.read_bytes() == signing_key().cert_pem


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--realm", "not a url", "--service", "x"], "--realm must be"),
        (["--realm", "http://localhost/v2/token", "--service", " "], "--service must not be empty"),
    ],
)
def test_registry_config_bad_input(args: list[str], message: str, db: None) -> None:
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match=message):
        call_command("registry_config", *args)


def test_without_docker_hub_in_the_registry_list_owners_get_no_pull_token_either(
    acme_on: None, cast: Cast, tokens: dict[str, str], client: Client
) -> None:
    from policies.registry_access import update_registry_access

    update_registry_access(
        org=cast.acme, actor=cast.olivia, enabled=True, registries=[{"host": "ghcr.io"}]
    )
    response = get(client, "repository:library/nginx:pull", auth=basic("olivia", tokens["olivia"]))
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json() == {
        "errors": [{"code": "DENIED", "message": "registry access to docker.io is not allowed"}]
    }
