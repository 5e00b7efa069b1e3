"""``/v2/token`` limits failed authentications without locking out valid credentials.

Every way of presenting a credential counts (Basic, the OAuth2 password POST BuildKit sends,
refresh tokens); a refusal is the registry's error format with HTTP 429 and ``Retry-After``.
A valid credential succeeds even when its address or username is over the limit because of
other credentials' failures; only wrong credentials from there are refused with 429.
"""

from __future__ import annotations

import base64
import secrets
from http import HTTPStatus
from typing import Any

import pytest
from django.test import Client

from policies.enforcers.token_service.signing import signing_key
from tests.conftest import Cast

pytestmark = pytest.mark.django_db
URL = "/v2/token"
SERVICE = "mirror.test"
LIMIT = 3


@pytest.fixture(autouse=True)
def _setup(tmp_path, settings) -> None:
    settings.REGISTRY_KEY_FILE = tmp_path / "token.key"
    settings.FAILED_AUTH_LIMIT = (LIMIT, 60)
    signing_key.cache_clear()


def basic(username: str, secret: str) -> dict[str, Any]:
    raw = base64.b64encode(f"{username}:{secret}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {raw}"}


def wrong_pat() -> str:
    return f"dckr_pat_{secrets.token_urlsafe(24)}"


def get(client: Client, auth: dict[str, Any], **extra: Any) -> Any:
    return client.get(
        URL, {"service": SERVICE, "scope": "repository:library/nginx:pull"}, **auth, **extra
    )


def post_password(client: Client, username: str, password: str, **extra: Any) -> Any:
    form = {"grant_type": "password", "username": username, "password": password}
    return client.post(URL, {**form, "service": SERVICE}, **extra)


def post_refresh(client: Client, refresh_token: str, **extra: Any) -> Any:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "service": SERVICE}
    return client.post(URL, form, **extra)


def assert_throttled(response: Any) -> None:
    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS, response.content
    assert int(response["Retry-After"]) >= 1
    errors = response.json()["errors"]
    assert errors[0]["code"] == "TOOMANYREQUESTS"
    assert "retry" in errors[0]["message"]


@pytest.mark.parametrize("kind", ["basic", "password_post", "refresh_post"])
def test_failed_authentications_are_limited_with_the_registry_error_format(
    cast: Cast, client: Client, kind: str
) -> None:
    def attempt() -> Any:
        if kind == "basic":
            return get(client, basic("mike", wrong_pat()))
        if kind == "password_post":
            return post_password(client, "mike", wrong_pat())
        return post_refresh(client, f"dckr_rt_{secrets.token_urlsafe(32)}")

    statuses = [attempt().status_code for _ in range(LIMIT)]
    assert statuses == [HTTPStatus.UNAUTHORIZED] * LIMIT
    assert_throttled(attempt())
    assert_throttled(attempt())


def test_valid_token_succeeds_from_an_address_over_the_limit(
    tokens: dict[str, str], client: Client
) -> None:
    for _ in range(LIMIT + 2):
        get(client, basic("charlie", wrong_pat()))
    assert_throttled(get(client, basic("charlie", wrong_pat())))
    # mike shares the address (one NAT, one proxy) but his token is right.
    assert get(client, basic("mike", tokens["mike"])).status_code == HTTPStatus.OK
    assert post_password(client, "mike", tokens["mike"]).status_code == HTTPStatus.OK
    # Guesses from that address are still refused, without saying whether they were close.
    assert_throttled(get(client, basic("mike", wrong_pat())))


def test_valid_token_succeeds_for_a_username_over_the_limit(
    tokens: dict[str, str], client: Client
) -> None:
    # Someone elsewhere guesses mike's tokens from many addresses.
    for index in range(LIMIT + 2):
        get(client, basic("mike", wrong_pat()), REMOTE_ADDR=f"198.51.100.{index}")
    assert_throttled(get(client, basic("mike", wrong_pat()), REMOTE_ADDR="198.51.100.99"))
    assert get(client, basic("mike", tokens["mike"])).status_code == HTTPStatus.OK


def test_revoked_or_mismatched_credentials_from_a_blocked_address_get_the_same_429(
    cast: Cast, tokens: dict[str, str], client: Client
) -> None:
    from orgs.tokens import mint_token, revoke_token

    revoked = mint_token(user=cast.mike, name="old")
    revoke_token(token=revoked.token, actor=cast.mike)
    for _ in range(LIMIT + 1):
        get(client, basic("charlie", wrong_pat()))
    # No distinct message leaks through the block: revoked, someone else's, OAT, all 429.
    for auth in (
        basic("mike", revoked.plaintext),
        basic("olivia", tokens["mike"]),
        basic("mike", "dckr_oat_" + secrets.token_urlsafe(24)),
    ):
        assert_throttled(get(client, auth))


def test_a_credential_that_keeps_failing_is_refused_everywhere(cast: Cast, client: Client) -> None:
    from orgs.tokens import mint_token, revoke_token

    revoked = mint_token(user=cast.mike, name="ci")
    revoke_token(token=revoked.token, actor=cast.mike)
    for index in range(LIMIT):
        response = get(client, basic("mike", revoked.plaintext), REMOTE_ADDR=f"192.0.2.{index}")
        assert response.status_code == HTTPStatus.UNAUTHORIZED
    # A fresh address and a fresh username change nothing for this credential.
    assert_throttled(get(client, basic("mike", revoked.plaintext), REMOTE_ADDR="192.0.2.200"))


def test_successful_requests_never_count(tokens: dict[str, str], client: Client) -> None:
    for _ in range(LIMIT * 4):
        assert get(client, basic("mike", tokens["mike"])).status_code == HTTPStatus.OK


def test_limit_follows_the_client_behind_a_trusted_proxy(
    tokens: dict[str, str], client: Client, settings
) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    attacker = {**proxy, "HTTP_X_FORWARDED_FOR": "203.0.113.7"}
    for _ in range(LIMIT + 1):
        get(client, basic("charlie", wrong_pat()), **attacker)
    assert_throttled(get(client, basic("charlie", wrong_pat()), **attacker))
    # Another client behind the same proxy is not the attacker: its failures still get 401.
    bystander = {**proxy, "HTTP_X_FORWARDED_FOR": "203.0.113.8"}
    assert get(client, basic("erin", wrong_pat()), **bystander).status_code == (
        HTTPStatus.UNAUTHORIZED
    )
    # The attacker cannot escape by writing its own X-Forwarded-For: the proxy appends the
    # address it saw, and only that last entry is trusted.
    spoofed = {**proxy, "HTTP_X_FORWARDED_FOR": "192.0.2.55, 203.0.113.7"}
    assert_throttled(get(client, basic("charlie", wrong_pat()), **spoofed))


def test_forwarded_header_is_ignored_without_a_trusted_proxy(client: Client, db: None) -> None:
    # IMAGEACCESS_BEHIND_PROXY=0 (the default): rotating X-Forwarded-For changes nothing.
    for index in range(LIMIT):
        response = get(client, basic("x", wrong_pat()), HTTP_X_FORWARDED_FOR=f"192.0.2.{index}")
        assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert_throttled(get(client, basic("x", wrong_pat()), HTTP_X_FORWARDED_FOR="192.0.2.77"))


def test_decision_events_record_the_forwarded_client_address(
    cast: Cast, tokens: dict[str, str], client: Client, settings
) -> None:
    from tests.conftest import stored_events

    settings.TRUSTED_PROXY_COUNT = 1
    response = get(
        client,
        basic("mike", tokens["mike"]),
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR="192.0.2.1, 203.0.113.9",
    )
    assert response.status_code == HTTPStatus.OK
    assert stored_events().get().client_address == "203.0.113.9"
