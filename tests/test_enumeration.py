"""No answer tells whether an account exists: sign-in, password reset, sign-up, tokens.

(Invitations, the other place a name or an address is typed, are covered with the members
page in ``tests/orgs/test_members_page.py`` and the service in ``tests/orgs/test_memberships.py``.)
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.core import mail
from django.test import Client
from rest_framework.test import APIClient

from tests.conftest import Cast, bearer

pytestmark = pytest.mark.django_db


def _page(response: Any, typed: str) -> tuple[int, str, str]:
    """Status, redirect and the page's text, with what was typed and the CSRF token taken out."""
    text = response.content.decode()
    text = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", text).replace(typed, "TYPED")
    return response.status_code, response.get("Location", ""), text


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password hash computed (the slow step whose count timing would reveal)."""
    calls: list[str] = []
    original = MD5PasswordHasher.encode

    def counting(self: MD5PasswordHasher, password: str, salt: str) -> str:
        calls.append(password)
        return original(self, password, salt)

    monkeypatch.setattr(MD5PasswordHasher, "encode", counting)
    return calls


@pytest.mark.parametrize(
    ("known", "unknown"), [("mike", "nobody-here"), ("mike@example.com", "nobody@example.com")]
)
def test_sign_in_answers_and_works_the_same_for_unknown_accounts(
    cast: Cast, hashes: list[str], known: str, unknown: str
) -> None:
    answers, work = [], []
    for login in (known, unknown):
        hashes.clear()
        response = Client().post("/accounts/login/", {"login": login, "password": "wrong-pass"})
        answers.append(_page(response, login))
        work.append(len(hashes))
    assert answers[0] == answers[1]
    assert work[0] == work[1] == 1


def test_password_reset_answers_the_same_for_unknown_addresses(cast: Cast) -> None:
    known = Client().post("/accounts/password/reset/", {"email": "mike@example.com"})
    unknown = Client().post("/accounts/password/reset/", {"email": "nobody@example.com"})
    assert _page(known, "mike@example.com") == _page(unknown, "nobody@example.com")
    # Each address is told by mail, which only its owner reads.
    assert sorted(m.to[0] for m in mail.outbox) == ["mike@example.com", "nobody@example.com"]


def test_sign_up_with_a_taken_address_answers_like_a_new_one(cast: Cast) -> None:
    def sign_up(email: str, username: str) -> Any:
        return Client().post(
            "/accounts/signup/",
            {
                "email": email,
                "username": username,
                "password1": "a-long-unusual-passphrase",
                "password2": "a-long-unusual-passphrase",
            },
        )

    taken = sign_up("mike@example.com", "mike-two")
    fresh = sign_up("fresh@example.com", "fresh-one")
    assert (taken.status_code, taken["Location"]) == (fresh.status_code, fresh["Location"])


def test_token_failures_do_not_tell_unknown_users_or_tokens_apart(
    cast: Cast, tokens: dict[str, str]
) -> None:
    import base64

    def basic(username: str, secret: str) -> Any:
        creds = base64.b64encode(f"{username}:{secret}".encode()).decode()
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Basic {creds}")
        return client.get("/api/v1/me")

    wrong = "dckr_pat_" + "x" * 32
    answers = [
        basic("mike", wrong),
        basic("nobody-here", wrong),
        basic("nobody-here", tokens["mike"]),
        bearer(APIClient(), wrong).get("/api/v1/me"),
    ]
    bodies = {(r.status_code, r.content) for r in answers}
    assert len(bodies) == 1, bodies
    assert answers[0].status_code == HTTPStatus.UNAUTHORIZED


def test_an_organization_you_are_not_in_looks_like_none_at_all(
    cast: Cast, tokens: dict[str, str]
) -> None:
    api = bearer(APIClient(), tokens["mike"])
    other = api.get("/api/v1/orgs/globex/image-access")
    missing = api.get("/api/v1/orgs/no-such-org/image-access")
    assert (other.status_code, other.content) == (missing.status_code, missing.content)
    assert other.status_code == HTTPStatus.NOT_FOUND
