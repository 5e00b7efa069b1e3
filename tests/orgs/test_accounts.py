"""Sign-in, sign-up switch, rate limiting and the minimal organization pages."""

from __future__ import annotations

from http import HTTPStatus

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
