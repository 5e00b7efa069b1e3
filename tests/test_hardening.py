"""Web and credential hardening: rate limits, headers, body limits, logs without secrets."""

from __future__ import annotations

import logging
from http import HTTPStatus

import pytest
from django.test import Client
from rest_framework.test import APIClient

from orgs.tokens import mint_token
from tests.conftest import Cast, bearer

pytestmark = pytest.mark.django_db


def test_failed_token_authentication_is_rate_limited_per_address(
    cast: Cast, tokens: dict[str, str], settings
) -> None:
    settings.FAILED_AUTH_LIMIT = (5, 60)
    api = bearer(APIClient(), "dckr_pat_wrongwrongwrongwrongwrongwrong")
    statuses = [api.get("/api/v1/me").status_code for _ in range(7)]
    assert statuses[:5] == [HTTPStatus.UNAUTHORIZED] * 5
    assert statuses[5] == HTTPStatus.TOO_MANY_REQUESTS
    limited = api.get("/api/v1/me")
    assert limited.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert int(limited["Retry-After"]) >= 1
    assert limited.json()["error"]["code"] == "throttled"
    # The right token is still accepted from that address: one caller's failures never
    # lock out another's valid credential (tests/orgs/test_failure_limits.py).
    good = bearer(APIClient(), tokens["mike"]).get("/api/v1/me")
    assert good.status_code == HTTPStatus.OK


def test_successful_calls_do_not_count_against_the_limit(
    cast: Cast, tokens: dict[str, str], settings
) -> None:
    settings.FAILED_AUTH_LIMIT = (3, 60)
    api = bearer(APIClient(), tokens["mike"])
    assert all(api.get("/api/v1/me").status_code == HTTPStatus.OK for _ in range(10))


def test_oversized_body_gets_413(cast: Cast, tokens: dict[str, str], settings) -> None:
    body = '{"images": ["' + "a" * 2_000_000 + '"]}'
    response = bearer(APIClient(), tokens["mike"]).post(
        "/api/v1/decisions", data=body, content_type="application/json"
    )
    assert response.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert response.json()["error"]["code"] == "payload_too_large"


def test_deeply_nested_json_is_a_quick_400(cast: Cast, tokens: dict[str, str]) -> None:
    body = "[" * 50_000 + "]" * 50_000
    response = bearer(APIClient(), tokens["mike"]).post(
        "/api/v1/decisions", data=body, content_type="application/json"
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"]["code"] == "malformed_request"


def test_security_headers_on_pages(cast: Cast, client: Client) -> None:
    response = client.get("/accounts/login/")
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "'unsafe-inline'" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_session_cookie_is_http_only(cast: Cast, client: Client) -> None:
    from tests.conftest import PASSWORD

    response = client.post("/accounts/login/", {"login": "mike", "password": PASSWORD})
    assert response.cookies["sessionid"]["httponly"]


def test_tokens_never_reach_log_output(
    cast: Cast, caplog: pytest.LogCaptureFixture, client: Client
) -> None:
    from imageaccess.logging import RedactTokensFilter

    minted = mint_token(user=cast.mike, name="ci")
    secret = minted.plaintext
    handler_filter = RedactTokensFilter()
    caplog.handler.addFilter(handler_filter)
    try:
        logger = logging.getLogger("django.request")
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}x")  # a failing, logged request
        api.get("/api/v1/me")
        logger.warning("client sent Authorization: Bearer %s", secret)
        logging.getLogger("imageaccess").error("token was %s", secret)
    finally:
        caplog.handler.removeFilter(handler_filter)
    text = caplog.text
    assert "dckr_pat_***" in text
    assert secret[len("dckr_pat_") :] not in text


def test_owner_of_an_org_requiring_two_factor_must_set_it_up(cast: Cast, client: Client) -> None:
    from allauth.mfa.models import Authenticator

    cast.acme.require_two_factor = True
    cast.acme.save()
    client.force_login(cast.olivia)
    response = client.get("/orgs/acme/")
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == "/accounts/2fa/totp/activate/"
    setup = client.get("/accounts/2fa/totp/activate/")
    # allauth may first ask for the password again; either way no redirect loop.
    assert setup.status_code == HTTPStatus.OK or setup["Location"].startswith(
        "/accounts/reauthenticate/"
    )
    Authenticator.objects.create(user=cast.olivia, type=Authenticator.Type.TOTP, data={})
    assert client.get("/orgs/acme/").status_code == HTTPStatus.OK


def test_members_of_an_org_requiring_two_factor_for_owners_are_not_redirected(
    cast: Cast, client: Client
) -> None:
    cast.acme.require_two_factor = True
    cast.acme.save()
    client.force_login(cast.mike)
    assert client.get("/orgs/acme/").status_code == HTTPStatus.OK


def test_token_api_calls_are_not_blocked_by_the_two_factor_rule(
    cast: Cast, tokens: dict[str, str]
) -> None:
    cast.acme.require_two_factor = True
    cast.acme.save()
    response = bearer(APIClient(), tokens["olivia"]).get("/api/v1/orgs/acme/image-access")
    assert response.status_code == HTTPStatus.OK
