"""Every path that signs someone in goes through allauth: two-factor step and limits included.

The paths: allauth's sign-in, the Django admin's sign-in, sign-up, email confirmation, the
password reset flow and DRF's browsable-API sign-in (not routed). A user with TOTP gets a
session only after the second step; until then nothing counts them as signed in.
"""

from __future__ import annotations

import re
from http import HTTPStatus

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.totp.internal.auth import (
    TOTP,
    format_hotp_value,
    generate_totp_secret,
    hotp_value,
    yield_hotp_counters_from_time,
)
from django.contrib.auth.models import User
from django.contrib.auth.views import LoginView
from django.core import mail
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.exceptions import Resolver404

from tests.conftest import PASSWORD, Cast, make_user

pytestmark = pytest.mark.django_db


def with_totp(user: User) -> str:
    """Give ``user`` a TOTP authenticator; returns its secret."""
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    return secret


def current_code(secret: str) -> str:
    """The code an authenticator app shows now."""
    counters = list(yield_hotp_counters_from_time())
    counter = counters[len(counters) // 2]
    return format_hotp_value(hotp_value(secret, counter))


@pytest.fixture
def staff() -> User:
    user = make_user("stella")
    user.is_staff = user.is_superuser = True
    user.save()
    return user


def signed_in_as(client: Client) -> str | None:
    """Who the session belongs to, judged by the pages and the API alike."""
    api = client.get("/api/v1/me")
    page = client.get("/orgs/")
    if api.status_code == HTTPStatus.OK:
        assert page.status_code == HTTPStatus.OK
        return str(api.json()["username"])
    assert page.status_code == HTTPStatus.FOUND
    assert page["Location"].startswith("/accounts/login/")
    return None


# --- The Django admin ------------------------------------------------------------------------


def test_admin_login_page_sends_to_the_allauth_sign_in(db: None, client: Client) -> None:
    response = client.get("/admin/login/?next=/admin/orgs/")
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == "/accounts/login/?next=%2Fadmin%2Forgs%2F"
    admin = client.get("/admin/")
    assert admin.status_code == HTTPStatus.FOUND
    assert admin["Location"].startswith("/admin/login/")


def test_admin_login_form_post_never_signs_in(staff: User, client: Client) -> None:
    """The admin's own password form is not served, so a POST to it checks nothing."""
    response = client.post(
        "/admin/login/", {"username": "stella", "password": PASSWORD, "next": "/admin/"}
    )
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"].startswith("/accounts/login/")
    assert client.get("/admin/").status_code == HTTPStatus.FOUND
    assert signed_in_as(client) is None


def test_staff_with_totp_cannot_reach_the_admin_with_a_password_alone(
    staff: User, client: Client
) -> None:
    secret = with_totp(staff)
    response = client.post(
        "/accounts/login/?next=/admin/", {"login": "stella", "password": PASSWORD}
    )
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"].startswith("/accounts/2fa/authenticate/")
    # Half signed in counts for nothing: not the admin, not the pages, not the API.
    admin = client.get("/admin/")
    assert admin.status_code == HTTPStatus.FOUND
    assert admin["Location"].startswith("/admin/login/")
    assert client.get("/admin/login/")["Location"].startswith("/accounts/login/")
    assert signed_in_as(client) is None
    # The second step completes it.
    done = client.post("/accounts/2fa/authenticate/", {"code": current_code(secret)})
    assert done.status_code == HTTPStatus.FOUND
    assert done["Location"] == "/admin/"
    assert client.get("/admin/").status_code == HTTPStatus.OK


def test_staff_sign_in_failures_are_rate_limited(staff: User, client: Client) -> None:
    for _ in range(6):
        page = client.post("/accounts/login/?next=/admin/", {"login": "stella", "password": "no"})
    assert b"Too many failed login attempts" in page.content
    response = client.post(
        "/accounts/login/?next=/admin/", {"login": "stella", "password": PASSWORD}
    )
    assert response.status_code != HTTPStatus.FOUND
    assert client.get("/admin/").status_code == HTTPStatus.FOUND


def test_wrong_second_step_codes_are_rate_limited(staff: User, client: Client) -> None:
    secret = with_totp(staff)
    client.post("/accounts/login/", {"login": "stella", "password": PASSWORD})
    pages = [
        client.post("/accounts/2fa/authenticate/", {"code": "000000"}).content for _ in range(6)
    ]
    assert b"Too many failed login attempts" in pages[-1]
    # Once limited, even the right code is refused.
    late = client.post("/accounts/2fa/authenticate/", {"code": current_code(secret)})
    assert late.status_code == HTTPStatus.OK
    assert b"Too many failed login attempts" in late.content
    assert signed_in_as(client) is None


def test_signed_in_non_staff_are_refused_the_admin(cast: Cast, client: Client) -> None:
    client.force_login(cast.mike)
    assert client.get("/admin/login/").status_code == HTTPStatus.FORBIDDEN
    assert client.get("/admin/").status_code == HTTPStatus.FOUND


# --- Other ways in ---------------------------------------------------------------------------


def test_allauth_sign_in_with_totp_needs_the_second_step(cast: Cast, client: Client) -> None:
    with_totp(cast.olivia)
    response = client.post("/accounts/login/", {"login": "olivia", "password": PASSWORD})
    assert response["Location"].startswith("/accounts/2fa/authenticate/")
    assert signed_in_as(client) is None
    patch = client.patch(
        "/api/v1/orgs/acme/image-access", {"enabled": True}, content_type="application/json"
    )
    assert patch.status_code in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN)


def test_password_reset_does_not_sign_in(cast: Cast, client: Client) -> None:
    with_totp(cast.olivia)
    client.post("/accounts/password/reset/", {"email": "olivia@example.com"})
    link = re.search(
        r"http://testserver(/accounts/password/reset/key/\S+/)", str(mail.outbox[0].body)
    )
    assert link is not None
    form = client.get(link.group(1), follow=True)
    assert form.status_code == HTTPStatus.OK
    done = client.post(
        form.redirect_chain[-1][0] if form.redirect_chain else link.group(1),
        {"password1": "a-new-long-passphrase-9", "password2": "a-new-long-passphrase-9"},
    )
    assert done.status_code == HTTPStatus.FOUND
    assert signed_in_as(client) is None
    # The new password still has to pass the second step.
    step = client.post(
        "/accounts/login/", {"login": "olivia", "password": "a-new-long-passphrase-9"}
    )
    assert step["Location"].startswith("/accounts/2fa/authenticate/")


def test_sign_up_and_email_confirmation_do_not_sign_in(db: None, client: Client) -> None:
    client.post(
        "/accounts/signup/",
        {
            "email": "dana@example.com",
            "username": "dana",
            "password1": "a-long-unusual-passphrase",
            "password2": "a-long-unusual-passphrase",
        },
    )
    assert signed_in_as(client) is None
    link = re.search(r"http://testserver(/accounts/confirm-email/\S+/)", str(mail.outbox[0].body))
    assert link is not None
    client.post(link.group(1))
    assert EmailAddress.objects.get(email="dana@example.com").verified
    assert signed_in_as(client) is None


def _routes(patterns: list[URLPattern | URLResolver], prefix: str = "") -> list[tuple[str, object]]:
    found: list[tuple[str, object]] = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            found.extend(_routes(list(pattern.url_patterns), prefix + str(pattern.pattern)))
        else:
            found.append((prefix + str(pattern.pattern), pattern.callback))
    return found


def test_no_route_serves_a_password_form_other_than_allauths() -> None:
    """Django's LoginView (the admin's, DRF's ``api-auth``, contrib.auth's) checks a password
    with no second step and no limit: none may be routed."""
    offenders = []
    for route, callback in _routes(list(get_resolver().url_patterns)):
        view_class = getattr(callback, "view_class", None)
        if isinstance(view_class, type) and issubclass(view_class, LoginView):
            offenders.append(route)
    assert offenders == []
    for path in ("/api-auth/login/", "/accounts/auth/login/", "/login/"):
        with pytest.raises(Resolver404):
            resolve(path)


def test_no_setting_lets_a_sign_in_skip_the_second_step() -> None:
    """allauth switches that would sign someone in by another way, or accept a fixed code."""
    from allauth.account import app_settings as account
    from allauth.mfa import app_settings as mfa

    assert mfa.TOTP_INSECURE_BYPASS_CODE is None
    assert not account.LOGIN_BY_CODE_ENABLED
    assert not account.LOGIN_ON_PASSWORD_RESET
    assert not account.LOGIN_ON_EMAIL_CONFIRMATION
    assert not getattr(mfa, "TRUST_ENABLED", False)


def test_no_project_code_signs_anyone_in_by_itself() -> None:
    """Sessions are made by allauth's flow only (which runs the second step and the limits):
    no module of the project calls Django's ``login`` or allauth's internals directly."""
    import ast
    from pathlib import Path

    from django.conf import settings

    offenders = []
    for app in ("imageaccess", "orgs", "policies"):
        for path in sorted((Path(settings.BASE_DIR) / app).rglob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module in (
                    "django.contrib.auth",
                    "allauth.account.internal.flows.login",
                    "allauth.account.utils",
                ):
                    names = {alias.name for alias in node.names}
                    if names & {"login", "perform_login"}:
                        offenders.append(f"{path.name}:{node.lineno}")
                if isinstance(node, ast.Attribute) and node.attr in ("login", "perform_login"):
                    base = node.value
                    if isinstance(base, ast.Name) and base.id in ("auth", "flows"):
                        offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []
