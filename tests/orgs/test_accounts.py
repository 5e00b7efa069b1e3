"""Sign-in, sign-up switch, rate limiting and the minimal organization pages."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from orgs.models import Membership
from tests.conftest import PASSWORD, Cast

pytestmark = pytest.mark.django_db


def test_sign_in_by_username_or_email(cast: Cast, client: Client) -> None:
    for login in ("mike", "mike@example.com"):
        response = client.post("/accounts/login/", {"login": login, "password": PASSWORD})
        assert response.status_code == HTTPStatus.FOUND, login
        assert response["Location"] == reverse("orgs:list")
        client.post("/accounts/logout/")


def test_sign_out_needs_post(cast: Cast, client: Client) -> None:
    client.force_login(cast.mike)
    client.post("/accounts/logout/")
    assert client.get("/orgs/").status_code == HTTPStatus.FOUND


def test_failed_sign_ins_are_rate_limited(cast: Cast, client: Client) -> None:
    pages = [
        client.post("/accounts/login/", {"login": "mike", "password": "wrong"}).content
        for _ in range(6)
    ]
    assert b"Too many failed login attempts" in pages[-1]
    # The right password is refused too while the limit holds.
    response = client.post("/accounts/login/", {"login": "mike", "password": PASSWORD})
    assert response.status_code != HTTPStatus.FOUND


def test_sign_up_sends_a_verification_email(db: None, client: Client) -> None:
    response = client.post(
        "/accounts/signup/",
        {
            "email": "dana@example.com",
            "username": "dana",
            "password1": "a-long-unusual-passphrase",
            "password2": "a-long-unusual-passphrase",
        },
    )
    assert response.status_code == HTTPStatus.FOUND
    assert len(mail.outbox) == 1
    assert "dana@example.com" in mail.outbox[0].to


def test_sign_up_can_be_switched_off(db: None, client: Client, settings) -> None:
    settings.SIGNUP_OPEN = False
    response = client.get("/accounts/signup/")
    assert b"Sign Up Closed" in response.content or b"closed" in response.content.lower()
    client.post(
        "/accounts/signup/",
        {"email": "x@example.com", "username": "x", "password1": "p-long-9x!", "password2": "p"},
    )
    from django.contrib.auth import get_user_model

    assert not get_user_model().objects.filter(username="x").exists()


def test_password_reset_sends_email(cast: Cast, client: Client) -> None:
    client.post("/accounts/password/reset/", {"email": "mike@example.com"})
    assert len(mail.outbox) == 1


def test_totp_two_factor_page_is_available(cast: Cast, client: Client) -> None:
    client.force_login(cast.olivia)
    assert client.get("/accounts/2fa/totp/activate/").status_code in (
        HTTPStatus.OK,
        HTTPStatus.FOUND,
    )


def test_org_list_shows_my_organizations_and_creates_one(cast: Cast, client: Client) -> None:
    client.force_login(cast.mike)
    page = client.get("/orgs/")
    assert b"Acme Corp" in page.content
    assert b"Globex" not in page.content
    response = client.post("/orgs/", {"name": "Initech", "slug": "initech", "plan": "business"})
    assert response.status_code == HTTPStatus.FOUND
    assert Membership.objects.get(org__slug="initech", user=cast.mike).role == "owner"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"name": "Dup", "slug": "acme", "plan": "business"}, b"already taken"),
        ({"name": "Bad", "slug": "Not Valid!", "plan": "business"}, b"namespace is 2 or more"),
        ({"name": "", "slug": "okay", "plan": "business"}, b"This field is required"),
        ({"name": "Plan", "slug": "okay", "plan": "gold"}, b"Select a valid choice"),
    ],
)
def test_org_creation_rejects_bad_input_with_a_message(
    cast: Cast, client: Client, data: dict[str, str], error: bytes
) -> None:
    client.force_login(cast.mike)
    response = client.post("/orgs/", data)
    assert response.status_code == HTTPStatus.OK
    assert error in response.content
    assert Membership.objects.filter(user=cast.mike).count() == 1


def test_org_home_is_404_for_non_members_and_redirects_anonymous(
    cast: Cast, client: Client
) -> None:
    assert client.get("/orgs/acme/").status_code == HTTPStatus.FOUND
    client.force_login(cast.charlie)
    assert client.get("/orgs/acme/").status_code == HTTPStatus.NOT_FOUND
    assert client.get("/orgs/no-such-org/").status_code == HTTPStatus.NOT_FOUND
    client.force_login(cast.mike)
    assert client.get("/orgs/acme/").status_code == HTTPStatus.OK


def test_org_switcher_only_switches_to_my_organizations(cast: Cast, client: Client) -> None:
    client.force_login(cast.mike)
    assert client.get("/orgs/?switch=acme")["Location"] == "/orgs/acme/"
    assert client.get("/orgs/?switch=globex").status_code == HTTPStatus.OK


def _sign_in(client: Client, login: str, password: str, **extra: Any) -> bytes:
    return client.post("/accounts/login/", {"login": login, "password": password}, **extra).content


def test_failed_sign_ins_share_one_budget_per_account_whatever_the_spelling(
    cast: Cast, client: Client
) -> None:
    # erin by username, by email and in capitals is one account with one budget (5 per 5 min).
    spellings = ["erin", "erin@example.com", "ERIN@EXAMPLE.COM", "Erin", "Erin@Example.com"]
    pages = [_sign_in(client, login, "wrong") for login in spellings]
    assert all(b"Too many failed login attempts" not in page for page in pages)
    for login in ("ERIN", "erin@EXAMPLE.com", "erin"):
        assert b"Too many failed login attempts" in _sign_in(client, login, "wrong"), login
    # Another account is not affected.
    response = client.post("/accounts/login/", {"login": "mike", "password": PASSWORD})
    assert response.status_code == HTTPStatus.FOUND


def test_sign_in_budget_by_email_is_cleared_for_the_account_by_a_password_reset(
    cast: Cast, client: Client
) -> None:
    from allauth.account.adapter import get_adapter
    from django.test import RequestFactory

    for login in ("erin", "erin@example.com", "ERIN", "erin@example.com", "Erin"):
        _sign_in(client, login, "wrong")
    assert b"Too many failed login attempts" in _sign_in(client, "erin", "wrong")
    # allauth clears the account's failures after a password reset, keyed by its email.
    request = RequestFactory().post("/accounts/password/reset/key/")
    get_adapter(request)._delete_login_attempts_cached_email(request, email="erin@example.com")
    response = client.post("/accounts/login/", {"login": "erin", "password": PASSWORD})
    assert response.status_code == HTTPStatus.FOUND


def test_sign_in_address_limit_counts_the_client_behind_a_trusted_proxy(
    cast: Cast, client: Client, settings
) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    settings.ACCOUNT_RATE_LIMITS = {"login_failed": "3/m/ip,50/5m/key"}
    proxy: dict[str, Any] = {"REMOTE_ADDR": "10.0.0.2"}
    attacker = {**proxy, "HTTP_X_FORWARDED_FOR": "203.0.113.7"}
    for login in ("a1", "a2", "a3"):
        _sign_in(client, login, "wrong", **attacker)
    assert b"Too many failed login attempts" in _sign_in(client, "a4", "wrong", **attacker)
    # Spoofing the leftmost entry does not give the attacker a new address.
    spoofed = {**proxy, "HTTP_X_FORWARDED_FOR": "192.0.2.1, 203.0.113.7"}
    assert b"Too many failed login attempts" in _sign_in(client, "a5", "wrong", **spoofed)
    # Everyone else behind the same proxy signs in.
    bystander = {**proxy, "HTTP_X_FORWARDED_FOR": "203.0.113.8"}
    response = client.post("/accounts/login/", {"login": "mike", "password": PASSWORD}, **bystander)
    assert response.status_code == HTTPStatus.FOUND
