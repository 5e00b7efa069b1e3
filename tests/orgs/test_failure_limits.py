"""The failed-authentication limit of the decision API, and whose address it counts.

The limiter never refuses a valid credential because of other credentials' failures: a valid
token succeeds even when its address or username is over the limit; wrong credentials from
there get 429 with one answer, whatever was wrong with them. Behind a reverse proxy the
client address comes from ``X-Forwarded-For``, trusting exactly ``IMAGEACCESS_BEHIND_PROXY``
proxies counted from the right; without that setting the header is ignored.
"""

from __future__ import annotations

import base64
import secrets
import subprocess
import sys
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from django.test import RequestFactory
from rest_framework.test import APIClient

from imageaccess.client_address import client_address
from orgs.tokens import mint_token, revoke_token
from tests.conftest import Cast, stored_events

ROOT = Path(__file__).resolve().parent.parent.parent
LIMIT = 3
DECISIONS = "/api/v1/decisions"


@pytest.fixture
def limited(settings) -> None:
    settings.FAILED_AUTH_LIMIT = (LIMIT, 60)


def wrong_pat() -> str:
    return f"dckr_pat_{secrets.token_urlsafe(24)}"


def decide(token: str, **extra: Any) -> Any:
    return APIClient().post(
        DECISIONS,
        {"images": ["nginx"]},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        **extra,
    )


def decide_basic(username: str, token: str, **extra: Any) -> Any:
    raw = base64.b64encode(f"{username}:{token}".encode()).decode()
    return APIClient().post(
        DECISIONS, {"images": ["nginx"]}, format="json", HTTP_AUTHORIZATION=f"Basic {raw}", **extra
    )


def assert_throttled(response: Any) -> None:
    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS, response.content
    assert int(response["Retry-After"]) >= 1
    assert response.json()["error"]["code"] == "throttled"


# --------------------------------------------------------------------------------------------
# The decision API


@pytest.mark.django_db
def test_valid_token_is_decided_from_an_address_over_the_limit(
    limited: None, tokens: dict[str, str]
) -> None:
    statuses = [decide(wrong_pat()).status_code for _ in range(LIMIT)]
    assert statuses == [HTTPStatus.UNAUTHORIZED] * LIMIT
    assert_throttled(decide(wrong_pat()))
    assert decide(tokens["mike"]).status_code == HTTPStatus.OK
    assert APIClient().get(
        "/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {tokens['mike']}"
    ).status_code == (HTTPStatus.OK)
    assert_throttled(decide(wrong_pat()))


@pytest.mark.django_db
def test_valid_token_is_decided_for_a_username_over_the_limit(
    limited: None, tokens: dict[str, str]
) -> None:
    for index in range(LIMIT + 1):
        decide_basic("mike", wrong_pat(), REMOTE_ADDR=f"198.51.100.{index}")
    assert_throttled(decide_basic("mike", wrong_pat(), REMOTE_ADDR="198.51.100.200"))
    assert decide_basic("mike", tokens["mike"]).status_code == HTTPStatus.OK


@pytest.mark.django_db
def test_failures_from_a_blocked_address_all_get_the_same_answer(
    limited: None, cast: Cast, tokens: dict[str, str]
) -> None:
    revoked = mint_token(user=cast.mike, name="old")
    revoke_token(token=revoked.token, actor=cast.mike)
    for _ in range(LIMIT + 1):
        decide(wrong_pat())
    for response in (
        decide(revoked.plaintext),
        decide_basic("olivia", tokens["mike"]),
        decide("dckr_oat_" + secrets.token_urlsafe(24)),
    ):
        assert_throttled(response)


@pytest.mark.django_db
def test_a_token_that_keeps_failing_is_throttled_from_any_address(
    limited: None, cast: Cast
) -> None:
    revoked = mint_token(user=cast.mike, name="ci")
    revoke_token(token=revoked.token, actor=cast.mike)
    for index in range(LIMIT):
        response = decide(revoked.plaintext, REMOTE_ADDR=f"192.0.2.{index}")
        assert response.status_code == HTTPStatus.UNAUTHORIZED
        assert response.json()["error"]["message"] == "this access token was revoked"
    assert_throttled(decide(revoked.plaintext, REMOTE_ADDR="192.0.2.250"))


@pytest.mark.django_db
def test_one_clients_failures_behind_the_proxy_do_not_throttle_another(
    limited: None, tokens: dict[str, str], settings
) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = "10.0.0.2"
    for _ in range(LIMIT + 1):
        decide(wrong_pat(), REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert_throttled(decide(wrong_pat(), REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="203.0.113.7"))
    other = decide(wrong_pat(), REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="203.0.113.8")
    assert other.status_code == HTTPStatus.UNAUTHORIZED


@pytest.mark.django_db
def test_ipv6_clients_are_limited_per_slash_64(limited: None, db: None) -> None:
    # One host can take any address of its /64: rotating them is not a new client.
    for index in range(LIMIT):
        decide(wrong_pat(), REMOTE_ADDR=f"2001:db8:1:2::{index + 1:x}")
    assert_throttled(decide(wrong_pat(), REMOTE_ADDR="2001:db8:1:2:ffff::9"))
    other_network = decide(wrong_pat(), REMOTE_ADDR="2001:db8:1:3::1")
    assert other_network.status_code == HTTPStatus.UNAUTHORIZED


@pytest.mark.django_db
def test_decision_events_record_the_forwarded_client_address(
    tokens: dict[str, str], settings
) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    response = decide(
        tokens["mike"], REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="192.0.2.1, 203.0.113.9"
    )
    assert response.status_code == HTTPStatus.OK
    assert stored_events().get().client_address == "203.0.113.9"


# --------------------------------------------------------------------------------------------
# The one client-address function


@pytest.mark.parametrize(
    ("trusted", "remote", "forwarded", "expected"),
    [
        (0, "192.0.2.1", None, "192.0.2.1"),
        (0, "192.0.2.1", "203.0.113.5", "192.0.2.1"),  # not trusted: ignored
        (1, "10.0.0.2", "203.0.113.5", "203.0.113.5"),
        (1, "10.0.0.2", "6.6.6.6, 203.0.113.5", "203.0.113.5"),  # the client's own entry
        (1, "10.0.0.2", "6.6.6.6,203.0.113.5", "203.0.113.5"),
        (2, "10.0.0.3", "6.6.6.6, 203.0.113.5, 10.0.0.2", "203.0.113.5"),
        (2, "10.0.0.3", "203.0.113.5", "10.0.0.3"),  # fewer hops than proxies: not trusted
        (1, "10.0.0.2", "", "10.0.0.2"),
        (1, "10.0.0.2", "not-an-address", "10.0.0.2"),
        (1, "10.0.0.2", "203.0.113.5, unknown", "10.0.0.2"),
        (1, "10.0.0.2", "203.0.113.5:4711", "203.0.113.5"),
        (1, "10.0.0.2", "[2001:db8::1]:4711", "2001:db8::1"),
        (1, "10.0.0.2", "2001:DB8:0::1", "2001:db8::1"),
        (1, "10.0.0.2", "::ffff:203.0.113.5", "203.0.113.5"),
        (1, "10.0.0.2", "fe80::1%eth0", "fe80::1"),
        (0, "::ffff:192.0.2.1", None, "192.0.2.1"),
        (0, "", None, None),
        (0, "unix:/run/app.sock", None, None),
    ],
)
def test_client_address(
    settings, trusted: int, remote: str, forwarded: str | None, expected: str | None
) -> None:
    settings.TRUSTED_PROXY_COUNT = trusted
    extra: dict[str, Any] = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    assert client_address(RequestFactory().get("/", **extra)) == expected


def _check_with(value: str) -> subprocess.CompletedProcess[str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "IMAGEACCESS_"))}
    env["IMAGEACCESS_BEHIND_PROXY"] = value
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("value", ["yes", "-1", "1.5", "one"])
def test_malformed_behind_proxy_stops_start_up_naming_it(value: str) -> None:
    result = _check_with(value)
    assert result.returncode != 0
    assert "IMAGEACCESS_BEHIND_PROXY must be" in result.stderr
    assert "Traceback" not in result.stderr.splitlines()[-1]


def test_behind_proxy_counts_trusted_proxies() -> None:
    result = _check_with("2")
    assert result.returncode == 0, result.stderr


@pytest.mark.django_db
def test_clients_without_a_known_address_are_still_limited(
    limited: None, tokens: dict[str, str]
) -> None:
    for _ in range(LIMIT):
        assert decide(wrong_pat(), REMOTE_ADDR="").status_code == HTTPStatus.UNAUTHORIZED
    assert_throttled(decide(wrong_pat(), REMOTE_ADDR=""))
    assert decide(tokens["mike"], REMOTE_ADDR="").status_code == HTTPStatus.OK
