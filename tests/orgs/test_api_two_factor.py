"""Owners' two-factor requirement holds on the session-authenticated API as on the pages.

The table is every API URL the resolver knows, with every method its view answers, so a new
endpoint is covered the day it is routed. An owner of an organization that requires
two-factor authentication, without an authenticator, signed in with a session: every call
(reads included, as the pages) is refused with 403 ``two_factor_required`` and changes
nothing. The same owner's personal access token is governed by the token.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from http import HTTPStatus
from typing import Any

import pytest
from allauth.mfa.models import Authenticator
from django.urls import get_resolver, reverse
from rest_framework.authentication import SessionAuthentication
from rest_framework.test import APIClient

from orgs.models import TokenScope
from orgs.tokens import mint_token
from tests.pages import World
from tests.test_permission_matrix import _page_patterns, fingerprint

pytestmark = pytest.mark.django_db

WRITE_METHODS = ("post", "put", "patch", "delete")
METHODS = ("get", *WRITE_METHODS)
# Public descriptions of the API, not the organization's data.
PUBLIC = ("api/schema/", "api/docs/")
PK_OF: dict[str, Callable[[World], int]] = {
    "api-exception": lambda w: w.exception.pk,
    "api-access-request-approve": lambda w: w.access_request.pk,
    "api-access-request-decline": lambda w: w.access_request.pk,
}
# A body each write would accept, so a refusal is the rule and not bad input.
BODY: dict[tuple[str, str], dict[str, Any]] = {
    ("api-policy", "patch"): {"enabled": True, "allow_community": True},
    ("api-policy", "put"): {"enabled": True},
    ("api-exceptions", "post"): {"repository": "grafana/*", "reason": "dashboards"},
    ("api-access-requests", "post"): {
        "repository": "someuser/other-image",
        "justification": "the build needs it",
    },
    ("api-access-request-approve", "post"): {"comment": "fine"},
    ("api-access-request-decline", "post"): {"comment": "no"},
    ("api-decisions", "post"): {"images": ["nginx"]},
}


def api_endpoints() -> Iterator[tuple[str, str, Any]]:
    """``(url name, route, view class)`` of every API URL."""
    for route, name in _page_patterns(get_resolver().url_patterns):
        if not route.startswith("api/") or route.startswith(PUBLIC):
            continue
        assert name is not None, f"API URL {route!r} has no name, so the table cannot list it"
        callback = get_resolver().resolve("/" + _sample_path(route)).func
        yield name, route, callback.view_class  # type: ignore[attr-defined]


def _sample_path(route: str) -> str:
    return route.replace("<slug:slug>", "acme").replace("<int:pk>", "1")


def methods_of(view_class: Any) -> list[str]:
    return [m for m in METHODS if m in view_class.http_method_names and hasattr(view_class, m)]


def accepts_sessions(view_class: Any) -> bool:
    return any(issubclass(c, SessionAuthentication) for c in view_class.authentication_classes)


def _cases() -> Iterator[Any]:
    for name, _route, view_class in api_endpoints():
        for method in methods_of(view_class):
            yield pytest.param(name, method, id=f"{name}-{method.upper()}")


def url_of(name: str, world: World) -> str:
    kwargs: dict[str, Any] = {}
    route = dict((n, r) for n, r, _ in api_endpoints())[name]
    if "<slug:slug>" in route:
        kwargs["slug"] = "acme"
    if "<int:pk>" in route:
        assert name in PK_OF, f"add the object {name} points at to PK_OF"
        kwargs["pk"] = PK_OF[name](world)
    return reverse(name, kwargs=kwargs)


@pytest.fixture
def owner_owes_two_factor(world: World) -> World:
    world.cast.acme.require_two_factor = True
    world.cast.acme.save(update_fields=["require_two_factor"])
    return world


def session_of(world: World, username: str) -> APIClient:
    client = APIClient()
    client.force_login(world.user(username))
    return client


def call(client: APIClient, method: str, url: str, name: str) -> Any:
    return getattr(client, method)(url, BODY.get((name, method), {}), format="json")


def test_the_table_covers_writes_of_both_apps() -> None:
    cases = {(c.values[0], c.values[1]) for c in _cases()}
    assert ("api-policy", "patch") in cases
    assert ("api-exceptions", "post") in cases
    assert ("api-exception", "delete") in cases
    assert ("api-access-requests", "post") in cases
    assert ("api-me", "get") in cases


@pytest.mark.parametrize(("name", "method"), list(_cases()))
def test_owner_without_two_factor_is_refused_on_every_session_api_call(
    owner_owes_two_factor: World, name: str, method: str
) -> None:
    world = owner_owes_two_factor
    url = url_of(name, world)
    view_class = dict((n, v) for n, _, v in api_endpoints())[name]
    before = fingerprint()

    response = call(session_of(world, "olivia"), method, url, name)

    assert fingerprint() == before, f"{method.upper()} {url} changed data"
    if not accepts_sessions(view_class):
        # A token-only endpoint: a session is no credential at all there.
        assert response.status_code == HTTPStatus.UNAUTHORIZED
        return
    assert response.status_code == HTTPStatus.FORBIDDEN, (method, url, response.content)
    assert response.json()["error"]["code"] == "two_factor_required"
    assert "two-factor" in response.json()["error"]["message"]


@pytest.mark.parametrize(("name", "method"), list(_cases()))
def test_the_same_owner_with_totp_is_not_refused(
    owner_owes_two_factor: World, name: str, method: str
) -> None:
    world = owner_owes_two_factor
    Authenticator.objects.create(user=world.cast.olivia, type=Authenticator.Type.TOTP, data={})
    response = call(session_of(world, "olivia"), method, url_of(name, world), name)
    assert response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR
    if response.status_code == HTTPStatus.FORBIDDEN:
        assert response.json()["error"]["code"] != "two_factor_required"


def test_session_patch_of_the_policy_is_refused_then_allowed_once_totp_is_set_up(
    owner_owes_two_factor: World,
) -> None:
    world = owner_owes_two_factor
    client = session_of(world, "olivia")
    url = reverse("api-policy", kwargs={"slug": "acme"})
    refused = client.patch(url, {"enabled": True}, format="json")
    assert refused.status_code == HTTPStatus.FORBIDDEN
    Authenticator.objects.create(user=world.cast.olivia, type=Authenticator.Type.TOTP, data={})
    assert client.patch(url, {"enabled": True}, format="json").status_code == HTTPStatus.OK


def test_personal_access_tokens_are_governed_by_the_token(owner_owes_two_factor: World) -> None:
    world = owner_owes_two_factor
    token = mint_token(user=world.cast.olivia, name="ci", scope=TokenScope.ADMIN).plaintext
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    url = reverse("api-policy", kwargs={"slug": "acme"})
    assert client.patch(url, {"enabled": True}, format="json").status_code == HTTPStatus.OK


def test_the_rule_binds_owners_only(owner_owes_two_factor: World) -> None:
    world = owner_owes_two_factor
    url = reverse("api-policy", kwargs={"slug": "acme"})
    assert session_of(world, "mike").get(url).status_code == HTTPStatus.OK
    assert session_of(world, "erin").get(url).status_code == HTTPStatus.OK


def test_an_owner_is_held_to_the_rule_in_every_organization(
    owner_owes_two_factor: World,
) -> None:
    """As on the pages: owning one organization that requires it closes the whole console,
    so another organization's API cannot be used to act before setting up TOTP."""
    from orgs.models import Membership
    from orgs.roles import Role

    world = owner_owes_two_factor
    Membership.objects.create(org=world.cast.globex, user=world.cast.olivia, role=Role.MEMBER)
    response = session_of(world, "olivia").get(reverse("api-policy", kwargs={"slug": "globex"}))
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json()["error"]["code"] == "two_factor_required"


def test_an_owner_who_owes_two_factor_cannot_mint_a_token_to_get_around_it(
    owner_owes_two_factor: World,
) -> None:
    """Tokens are minted on a page, and the pages are closed to such an owner."""
    from django.test import Client

    from orgs.models import PersonalAccessToken
    from tests.pages import mark_recently_authenticated

    world = owner_owes_two_factor
    client = Client()
    client.force_login(world.cast.olivia)
    mark_recently_authenticated(client, world.cast.olivia)
    before = PersonalAccessToken.objects.filter(user=world.cast.olivia).count()
    response = client.post(reverse("tokens"), {"name": "escape", "scope": "admin", "expiry": "30"})
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == "/accounts/2fa/totp/activate/"
    assert PersonalAccessToken.objects.filter(user=world.cast.olivia).count() == before
