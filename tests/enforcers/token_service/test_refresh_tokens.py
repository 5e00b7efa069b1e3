"""Registry refresh tokens (docker login's identity token): random, stored hashed, bound.

A refresh token is a typed random secret; the database keeps only its keyed hash. It belongs
to the user and the personal access token that obtained it, expires after
``REGISTRY_REFRESH_TTL`` and dies with that token (revoked, expired, deleted) or its user
(deactivated). Signed refresh tokens of any kind are refused.
"""

from __future__ import annotations

import base64
import datetime as dt
from http import HTTPStatus
from typing import Any

import pytest
from django.core import signing
from django.test import Client
from django.utils import timezone

from orgs.models import PersonalAccessToken, RegistryRefreshToken
from orgs.tokens import TokenPrefix, hash_token, mint_token, revoke_token
from policies.enforcers.token_service.jwt_tokens import verify_registry_token
from policies.enforcers.token_service.signing import signing_key
from tests.conftest import Cast

pytestmark = pytest.mark.django_db
URL = "/v2/token"
SERVICE = "mirror.test"
INVALID = "invalid or expired refresh token"


@pytest.fixture(autouse=True)
def _private_key(tmp_path, settings) -> None:
    settings.REGISTRY_KEY_FILE = tmp_path / "token.key"
    signing_key.cache_clear()


def basic(username: str, secret: str) -> dict[str, Any]:
    raw = base64.b64encode(f"{username}:{secret}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {raw}"}


def docker_login(client: Client, username: str, pat: str) -> str:
    """What ``docker login`` sends; returns the refresh token it stores as identity token."""
    response = client.get(
        URL,
        {"service": SERVICE, "account": username, "client_id": "docker", "offline_token": "true"},
        **basic(username, pat),
    )
    assert response.status_code == HTTPStatus.OK, response.content
    refresh: str = response.json()["refresh_token"]
    return refresh


def refresh(client: Client, token: str, scope: str = "repository:library/nginx:pull") -> Any:
    """What the daemon sends on a pull once it holds an identity token."""
    return client.post(
        URL,
        {
            "grant_type": "refresh_token",
            "refresh_token": token,
            "service": SERVICE,
            "client_id": "docker",
            "scope": scope,
        },
    )


def subject(response: Any) -> str:
    assert response.status_code == HTTPStatus.OK, response.content
    claims = verify_registry_token(
        response.json()["token"],
        public_key=signing_key().public_key,
        issuer="imageaccess",
        service=SERVICE,
    )
    return str(claims["sub"])


def assert_refused(response: Any, message: str = INVALID) -> None:
    assert response.status_code == HTTPStatus.UNAUTHORIZED, response.content
    assert response.json() == {"errors": [{"code": "UNAUTHORIZED", "message": message}]}


def test_refresh_token_is_typed_random_and_stored_only_as_a_keyed_hash(
    cast: Cast, client: Client, settings
) -> None:
    minted = mint_token(user=cast.mike, name="laptop")
    first = docker_login(client, "mike", minted.plaintext)
    second = docker_login(client, "mike", minted.plaintext)
    assert first.startswith(TokenPrefix.REGISTRY_REFRESH)
    assert first != second
    assert len(first.removeprefix(TokenPrefix.REGISTRY_REFRESH)) >= 43
    row = RegistryRefreshToken.objects.get(
        token_hash=hash_token(first, settings.TOKEN_PEPPERS[0][1])
    )
    assert (row.user, row.access_token) == (cast.mike, minted.token)
    assert row.pepper_id == settings.TOKEN_PEPPERS[0][0]
    stored = [str(v) for v in RegistryRefreshToken.objects.values_list(flat=False).get(pk=row.pk)]
    assert not any(first.removeprefix(TokenPrefix.REGISTRY_REFRESH) in v for v in stored)
    assert subject(refresh(client, first)) == "mike"


def test_refresh_token_expires_after_the_configured_lifetime(
    cast: Cast, client: Client, settings
) -> None:
    settings.REGISTRY_REFRESH_TTL = 3600
    minted = mint_token(user=cast.mike, name="laptop")
    token = docker_login(client, "mike", minted.plaintext)
    row = RegistryRefreshToken.objects.get()
    assert abs((row.expires_at - timezone.now()).total_seconds() - 3600) < 60
    RegistryRefreshToken.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert_refused(refresh(client, token))


def test_refresh_token_never_outlives_its_access_token(cast: Cast, client: Client) -> None:
    soon = timezone.now() + dt.timedelta(hours=1)
    minted = mint_token(user=cast.mike, name="short", expires_at=soon)
    docker_login(client, "mike", minted.plaintext)
    assert RegistryRefreshToken.objects.get().expires_at <= soon


@pytest.mark.parametrize("how", ["revoked", "expired", "deleted", "user_deactivated"])
def test_refresh_token_dies_with_its_access_token_or_user(
    cast: Cast, client: Client, how: str
) -> None:
    minted = mint_token(user=cast.mike, name="laptop")
    token = docker_login(client, "mike", minted.plaintext)
    assert subject(refresh(client, token)) == "mike"
    if how == "revoked":
        revoke_token(token=minted.token, actor=cast.mike)
        assert RegistryRefreshToken.objects.get().revoked_at is not None
    elif how == "expired":
        PersonalAccessToken.objects.filter(pk=minted.token.pk).update(
            expires_at=timezone.now() - dt.timedelta(seconds=1)
        )
    elif how == "deleted":
        minted.token.delete()
    else:
        cast.mike.is_active = False
        cast.mike.save()
    response = refresh(client, token)
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert "token" not in response.json()


@pytest.mark.parametrize(
    "forged",
    [
        # What a holder of SECRET_KEY (public in development) could sign for any token row.
        "signed-old-style",
        "signed-with-prefix",
        "dckr_rt_",
        "dckr_rt_" + "A" * 43,
        "dckr_pat_" + "A" * 32,
        "",
        "x" * 5000,
    ],
)
def test_forged_or_signed_refresh_tokens_are_refused(
    cast: Cast, client: Client, forged: str
) -> None:
    minted = mint_token(user=cast.mike, name="laptop")
    if forged == "signed-old-style":
        forged = signing.dumps(minted.token.pk, salt="imageaccess.registry.refresh")
    elif forged == "signed-with-prefix":
        forged = TokenPrefix.REGISTRY_REFRESH + signing.dumps(minted.token.pk)
    assert_refused(refresh(client, forged))


def test_refresh_token_is_not_a_password(cast: Cast, client: Client) -> None:
    minted = mint_token(user=cast.mike, name="laptop")
    token = docker_login(client, "mike", minted.plaintext)
    response = client.get(URL, {"service": SERVICE}, **basic("mike", token))
    assert response.status_code == HTTPStatus.UNAUTHORIZED


def test_refresh_grant_issues_no_new_refresh_token(cast: Cast, client: Client) -> None:
    # The daemon keeps the identity token from docker login in its config file: rotating it
    # here would strand every later pull, and minting one per pull would grow without bound.
    minted = mint_token(user=cast.mike, name="laptop")
    token = docker_login(client, "mike", minted.plaintext)
    response = refresh(client, token)
    assert "refresh_token" not in response.json()
    assert subject(refresh(client, token)) == "mike"
    assert RegistryRefreshToken.objects.count() == 1


def test_password_post_issues_a_refresh_token_only_for_offline_access(
    cast: Cast, tokens: dict[str, str], client: Client
) -> None:
    form = {
        "grant_type": "password",
        "username": "mike",
        "password": tokens["mike"],
        "service": SERVICE,
        "scope": "repository:library/nginx:pull",
    }
    # BuildKit (containerd's resolver) posts without access_type and never uses one.
    assert "refresh_token" not in client.post(URL, form).json()
    assert RegistryRefreshToken.objects.count() == 0
    offline = client.post(URL, {**form, "access_type": "offline"}).json()
    assert subject(refresh(client, offline["refresh_token"])) == "mike"


def test_plain_token_requests_issue_no_refresh_token(
    tokens: dict[str, str], client: Client
) -> None:
    response = client.get(
        URL,
        {"service": SERVICE, "scope": "repository:library/nginx:pull"},
        **basic("mike", tokens["mike"]),
    )
    assert "refresh_token" not in response.json()
    assert RegistryRefreshToken.objects.count() == 0


def test_live_refresh_tokens_per_access_token_are_bounded(
    cast: Cast, client: Client, settings
) -> None:
    from orgs.tokens import MAX_REFRESH_TOKENS_PER_ACCESS_TOKEN

    minted = mint_token(user=cast.mike, name="ci")
    issued = [
        docker_login(client, "mike", minted.plaintext)
        for _ in range(MAX_REFRESH_TOKENS_PER_ACCESS_TOKEN + 2)
    ]
    assert RegistryRefreshToken.objects.count() == MAX_REFRESH_TOKENS_PER_ACCESS_TOKEN
    assert_refused(refresh(client, issued[0]))
    assert subject(refresh(client, issued[-1])) == "mike"


def test_expired_refresh_tokens_are_removed_when_new_ones_are_issued(
    cast: Cast, client: Client
) -> None:
    minted = mint_token(user=cast.mike, name="ci")
    docker_login(client, "mike", minted.plaintext)
    RegistryRefreshToken.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    docker_login(client, "mike", minted.plaintext)
    assert RegistryRefreshToken.objects.count() == 1


def test_refresh_tokens_verify_under_an_older_pepper(cast: Cast, client: Client, settings) -> None:
    minted = mint_token(user=cast.mike, name="laptop")
    token = docker_login(client, "mike", minted.plaintext)
    settings.TOKEN_PEPPERS = [("new", b"a-newer-pepper-of-enough-length"), *settings.TOKEN_PEPPERS]
    assert subject(refresh(client, token)) == "mike"


def test_refresh_tokens_never_reach_log_output() -> None:
    from imageaccess.logging import redact

    secret = TokenPrefix.REGISTRY_REFRESH + "s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t"
    assert "s3cr3t" not in redact(f"daemon sent {secret} to the realm")


def test_docker_login_with_the_email_address_as_username(cast: Cast, client: Client) -> None:
    # docker login -u mike@example.com sends that as both the Basic username and the account.
    minted = mint_token(user=cast.mike, name="laptop")
    token = docker_login(client, "mike@example.com", minted.plaintext)
    assert subject(refresh(client, token)) == "mike"
