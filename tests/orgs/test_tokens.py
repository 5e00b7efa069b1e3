"""Personal access tokens: minting, hashing and every authentication failure."""

from __future__ import annotations

import base64
import datetime as dt
from http import HTTPStatus

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from orgs.models import ActivityLog, PersonalAccessToken, TokenScope
from orgs.tokens import TokenPrefix, hash_token, mint_token, revoke_token, token_cache
from tests.conftest import Cast, bearer

pytestmark = pytest.mark.django_db


def basic(client: APIClient, username: str, secret: str) -> APIClient:
    raw = base64.b64encode(f"{username}:{secret}".encode()).decode()
    client.credentials(HTTP_AUTHORIZATION=f"Basic {raw}")
    return client


def test_minted_token_has_prefix_and_enough_entropy(cast: Cast) -> None:
    minted = mint_token(user=cast.mike, name="laptop")
    assert minted.plaintext.startswith(TokenPrefix.PERSONAL)
    secret = minted.plaintext.removeprefix(TokenPrefix.PERSONAL)
    assert len(secret) >= 27
    assert set(secret) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_database_holds_no_plaintext_token(cast: Cast) -> None:
    minted = mint_token(user=cast.mike, name="laptop")
    secret = minted.plaintext.removeprefix(TokenPrefix.PERSONAL)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM orgs_personalaccesstoken")
        rows = cursor.fetchall()
        cursor.execute("SELECT before, after, target FROM orgs_activitylog")
        rows += cursor.fetchall()
    dump = repr(rows)
    assert secret not in dump
    assert secret[:12] not in dump
    token = PersonalAccessToken.objects.get()
    assert token.last_chars == minted.plaintext[-4:]
    assert minted.plaintext not in str(token)


def test_token_hash_is_keyed_by_pepper_not_plain_sha256(cast: Cast, settings) -> None:
    minted = mint_token(user=cast.mike, name="laptop")
    pepper_id, pepper = settings.TOKEN_PEPPERS[0]
    token = PersonalAccessToken.objects.get()
    assert token.pepper_id == pepper_id
    assert token.token_hash == hash_token(minted.plaintext, pepper)
    assert token.token_hash != hash_token(minted.plaintext, b"other-pepper-value")


def test_older_pepper_still_verifies_after_rotation(cast: Cast, settings, api: APIClient) -> None:
    minted = mint_token(user=cast.mike, name="laptop")
    settings.TOKEN_PEPPERS = [("new", b"a-brand-new-pepper-value"), *settings.TOKEN_PEPPERS]
    response = bearer(api, minted.plaintext).get("/api/v1/me")
    assert response.status_code == HTTPStatus.OK


def test_minting_and_revoking_are_logged(cast: Cast) -> None:
    minted = mint_token(user=cast.mike, name="laptop", scope=TokenScope.WRITE)
    revoke_token(token=minted.token, actor=cast.mike)
    actions = list(ActivityLog.objects.order_by("id").values_list("action", flat=True))
    assert actions[-2:] == ["token.created", "token.revoked"]


def test_expiry_more_than_a_year_ahead_is_refused(cast: Cast) -> None:
    with pytest.raises(ValueError, match="at most one year"):
        mint_token(user=cast.mike, name="x", expires_at=timezone.now() + dt.timedelta(days=400))
    with pytest.raises(ValueError, match="in the future"):
        mint_token(user=cast.mike, name="x", expires_at=timezone.now() - dt.timedelta(days=1))


def test_bearer_token_authenticates(cast: Cast, tokens: dict[str, str], api: APIClient) -> None:
    response = bearer(api, tokens["mike"]).get("/api/v1/me")
    assert response.status_code == HTTPStatus.OK
    assert response.json()["username"] == "mike"
    assert response.json()["organizations"] == [
        {"slug": "acme", "name": "Acme Corp", "role": "member", "plan": "business"}
    ]


def test_basic_username_and_token_authenticate_like_docker_login(
    cast: Cast, tokens: dict[str, str], api: APIClient
) -> None:
    response = basic(api, "mike", tokens["mike"]).get("/api/v1/me")
    assert response.status_code == HTTPStatus.OK


def test_me_works_with_a_session_too(cast: Cast, client) -> None:
    client.force_login(cast.olivia)
    response = client.get("/api/v1/me")
    assert response.status_code == HTTPStatus.OK
    assert response.json()["organizations"][0]["role"] == "owner"


def assert_401(response, code: str, message: str) -> None:
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json() == {"error": {"code": code, "message": message}}
    assert "WWW-Authenticate" in response


def test_missing_credentials_get_401(api: APIClient, db: None) -> None:
    assert_401(
        api.get("/api/v1/me"),
        "unauthorized",
        "authentication required: send a personal access token",
    )


@pytest.mark.parametrize(
    "secret",
    ["dckr_pat_doesnotexistdoesnotexist1234", "not-a-token", "dckr_pat_", "x" * 500],
)
def test_unknown_token_gets_the_generic_message(cast: Cast, api: APIClient, secret: str) -> None:
    assert_401(
        bearer(api, secret).get("/api/v1/me"),
        "invalid_credentials",
        "invalid username or access token",
    )


def test_wrong_username_gets_the_same_generic_message(
    cast: Cast, tokens: dict[str, str], api: APIClient
) -> None:
    assert_401(
        basic(api, "olivia", tokens["mike"]).get("/api/v1/me"),
        "invalid_credentials",
        "invalid username or access token",
    )


def test_password_instead_of_token_is_refused(cast: Cast, api: APIClient) -> None:
    from tests.conftest import PASSWORD

    assert_401(
        basic(api, "mike", PASSWORD).get("/api/v1/me"),
        "invalid_credentials",
        "invalid username or access token",
    )


def test_malformed_basic_header_says_so(cast: Cast, api: APIClient) -> None:
    api.credentials(HTTP_AUTHORIZATION="Basic %%%not-base64")
    response = api.get("/api/v1/me")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert "malformed Basic credentials" in response.json()["error"]["message"]


def test_expired_token_says_it_expired(cast: Cast, api: APIClient) -> None:
    minted = mint_token(user=cast.mike, name="old")
    PersonalAccessToken.objects.filter(pk=minted.token.pk).update(
        expires_at=timezone.now() - dt.timedelta(days=2)
    )
    response = bearer(api, minted.plaintext).get("/api/v1/me")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["error"]["code"] == "token_expired"
    assert response.json()["error"]["message"].startswith("this access token expired on ")


def test_revoked_token_says_it_was_revoked(cast: Cast, api: APIClient) -> None:
    minted = mint_token(user=cast.mike, name="old")
    revoke_token(token=minted.token, actor=cast.mike)
    assert_401(
        bearer(api, minted.plaintext).get("/api/v1/me"),
        "token_revoked",
        "this access token was revoked",
    )


def test_organization_access_token_is_refused_with_explanation(cast: Cast, api: APIClient) -> None:
    assert_401(
        bearer(api, "dckr_oat_7Yx2cQeVb1mK9pLzR4tW8sNfHj3").get("/api/v1/me"),
        "organization_token",
        "organization access tokens are not supported: use a personal access token",
    )


def test_inactive_user_token_is_refused_generically(
    cast: Cast, tokens: dict[str, str], api: APIClient
) -> None:
    cast.mike.is_active = False
    cast.mike.save()
    assert_401(
        bearer(api, tokens["mike"]).get("/api/v1/me"),
        "invalid_credentials",
        "invalid username or access token",
    )


def test_last_used_is_written_at_most_once_a_minute(
    cast: Cast, tokens: dict[str, str], api: APIClient
) -> None:
    bearer(api, tokens["mike"])
    api.get("/api/v1/me")
    token = PersonalAccessToken.objects.get(user=cast.mike)
    first_use = token.last_used_at
    assert first_use is not None
    with CaptureQueriesContext(connection) as queries:
        api.get("/api/v1/me")
    assert not any("UPDATE" in q["sql"] for q in queries.captured_queries)
    token.refresh_from_db()
    assert token.last_used_at == first_use
    PersonalAccessToken.objects.filter(pk=token.pk).update(
        last_used_at=timezone.now() - dt.timedelta(minutes=2)
    )
    token_cache.clear()  # as if the short lookup cache had aged out
    api.get("/api/v1/me")
    token.refresh_from_db()
    assert token.last_used_at > first_use


def test_revocation_in_this_process_takes_effect_immediately(cast: Cast, api: APIClient) -> None:
    minted = mint_token(user=cast.mike, name="ci")
    bearer(api, minted.plaintext)
    assert api.get("/api/v1/me").status_code == HTTPStatus.OK
    revoke_token(token=minted.token, actor=cast.mike)
    assert api.get("/api/v1/me").status_code == HTTPStatus.UNAUTHORIZED


def test_revocation_elsewhere_takes_effect_when_the_cache_entry_ages_out(
    cast: Cast, api: APIClient, settings
) -> None:
    import time

    settings.TOKEN_CACHE_SECONDS = 0.2
    minted = mint_token(user=cast.mike, name="ci")
    bearer(api, minted.plaintext)
    assert api.get("/api/v1/me").status_code == HTTPStatus.OK
    # Another process revokes: this process only sees the database row change.
    PersonalAccessToken.objects.filter(pk=minted.token.pk).update(revoked_at=timezone.now())
    time.sleep(0.25)
    assert api.get("/api/v1/me").status_code == HTTPStatus.UNAUTHORIZED
