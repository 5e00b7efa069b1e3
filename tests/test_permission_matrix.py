"""The role matrix: every URL, for every role.

Pages (GET and POST, signed in with a session): anonymous -> sign-in redirect; outsider
(charlie, a member of globex only) -> 404; member and editor -> read-only (200) or 403 on
writes; owner -> allowed. The API (every method its view answers) and the registry token
service, called with each role's personal access token (admin scope, so the role decides):
anonymous -> 401, outsider -> 404, member and editor -> read (200) or 403 on an owner's write,
owner -> allowed. Every response that is not an allowed change must leave the database
exactly as it was.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from orgs.models import (
    ActivityLog,
    Invitation,
    Membership,
    Namespace,
    Organization,
    PersonalAccessToken,
)
from policies.models import AccessRequest, ImageAccessPolicy, RepositoryException
from policies.services import update_policy
from tests.pages import World, client_for

ROLES = ("anonymous", "outsider", "member", "editor", "owner")
USER_OF_ROLE = {"outsider": "charlie", "member": "mike", "editor": "erin", "owner": "olivia"}
SIGNED_IN = frozenset({"outsider", "member", "editor", "owner"})

# Machine URLs: the API and the registry token service have a matrix of their own below.
MACHINE_PREFIXES = ("api/", "v2/")
# Outside the matrix: Django admin (staff), allauth, probes, the API's public description.
EXCLUDED_PREFIXES = (
    "admin/",
    "accounts/",
    "static/",
    "healthz",
    "readyz",
    "api/schema/",
    "api/docs/",
)

OK, FOUND = HTTPStatus.OK, HTTPStatus.FOUND
FORBIDDEN, NOT_FOUND = HTTPStatus.FORBIDDEN, HTTPStatus.NOT_FOUND
NOT_ALLOWED = HTTPStatus.METHOD_NOT_ALLOWED


@dataclass(frozen=True)
class Row:
    """Expected status per role for one (URL name, method); ``changes``: roles that change data."""

    name: str
    method: str
    expect: dict[str, HTTPStatus]
    changes: frozenset[str] = frozenset()
    data: dict[str, str] = field(default_factory=dict)
    login_required: bool = True
    setup: Callable[[World], None] | None = None


def org_row(
    name: str,
    method: str,
    *,
    member: HTTPStatus,
    owner: HTTPStatus,
    editor: HTTPStatus | None = None,
    changes: frozenset[str] = frozenset(),
    data: dict[str, str] | None = None,
    setup: Callable[[World], None] | None = None,
) -> Row:
    """A row for a page under ``/orgs/<slug>/``: anonymous redirect, outsider 404."""
    return Row(
        name,
        method,
        {
            "anonymous": FOUND,
            "outsider": NOT_FOUND,
            "member": member,
            "editor": member if editor is None else editor,
            "owner": owner,
        },
        changes,
        data or {},
        setup=setup,
    )


def enforce_acme_policy(world: World) -> None:
    """Image access on for acme (community images not allowed), so requests can be filed."""
    update_policy(org=world.cast.acme, actor=world.cast.olivia, changes={"enabled": True})


def user_row(
    name: str,
    method: str,
    status: HTTPStatus,
    *,
    changes: frozenset[str] = frozenset(),
    data: dict[str, str] | None = None,
) -> Row:
    """A row for a page every signed-in user may open."""
    expect = {role: status for role in SIGNED_IN} | {"anonymous": FOUND}
    return Row(name, method, expect, changes, data or {})


OWNER_ONLY = frozenset({"owner"})
MATRIX: list[Row] = [
    Row("root", "GET", dict.fromkeys(ROLES, FOUND), login_required=False),
    Row("root", "POST", dict.fromkeys(ROLES, FOUND), login_required=False),
    user_row("orgs:list", "GET", OK),
    user_row(
        "orgs:list",
        "POST",
        FOUND,
        changes=SIGNED_IN,
        data={"name": "New Co", "slug": "newco", "plan": "business"},
    ),
    org_row("orgs:home", "GET", member=OK, owner=OK),
    org_row("orgs:home", "POST", member=NOT_ALLOWED, owner=NOT_ALLOWED),
    org_row("policies:image-access", "GET", member=OK, owner=OK),
    org_row(
        "policies:image-access",
        "POST",
        member=FORBIDDEN,
        owner=FOUND,
        changes=OWNER_ONLY,
        data={"enabled": "on", "allow_community": "on", "allow_official": "on"},
    ),
    org_row("policies:registry-access", "GET", member=OK, owner=OK),
    org_row(
        "policies:registry-access",
        "POST",
        member=FORBIDDEN,
        owner=FOUND,
        changes=OWNER_ONLY,
        data={"host": "ghcr.io", "note": "packages"},
    ),
    org_row("policies:registry-access-switch", "GET", member=NOT_ALLOWED, owner=NOT_ALLOWED),
    org_row(
        "policies:registry-access-switch",
        "POST",
        member=FORBIDDEN,
        owner=FOUND,
        changes=OWNER_ONLY,
        data={"enabled": "on"},
    ),
    org_row("policies:registry-access-remove", "GET", member=NOT_ALLOWED, owner=NOT_ALLOWED),
    org_row(
        "policies:registry-access-remove",
        "POST",
        member=FORBIDDEN,
        owner=FOUND,
        changes=OWNER_ONLY,
        data={"host": "docker.io"},
    ),
    org_row("policies:exceptions", "GET", member=OK, owner=OK),
    org_row(
        "policies:exceptions",
        "POST",
        member=FORBIDDEN,
        owner=FOUND,
        changes=OWNER_ONLY,
        data={"repository": "grafana/*", "reason": "dashboards"},
    ),
    org_row("policies:exception-remove", "GET", member=NOT_ALLOWED, owner=NOT_ALLOWED),
    org_row("policies:exception-remove", "POST", member=FORBIDDEN, owner=FOUND, changes=OWNER_ONLY),
    org_row("orgs:members", "GET", member=OK, owner=OK),
    org_row(
        "orgs:members",
        "POST",
        member=FORBIDDEN,
        owner=FOUND,
        changes=OWNER_ONLY,
        data={"invitee": "someone@example.com", "role": "editor"},
    ),
    org_row("orgs:member-role", "GET", member=NOT_ALLOWED, owner=NOT_ALLOWED),
    org_row(
        "orgs:member-role",
        "POST",
        member=FORBIDDEN,
        owner=FOUND,
        changes=OWNER_ONLY,
        data={"role": "editor"},
    ),
    org_row("orgs:member-remove", "GET", member=NOT_ALLOWED, owner=NOT_ALLOWED),
    org_row("orgs:member-remove", "POST", member=FORBIDDEN, owner=FOUND, changes=OWNER_ONLY),
    org_row("orgs:leave", "GET", member=NOT_ALLOWED, owner=NOT_ALLOWED),
    # Members and editors may leave; olivia is acme's last owner, so she may not.
    org_row(
        "orgs:leave", "POST", member=FOUND, owner=FOUND, changes=frozenset({"member", "editor"})
    ),
    org_row("orgs:invitation-resend", "GET", member=NOT_ALLOWED, owner=NOT_ALLOWED),
    org_row("orgs:invitation-resend", "POST", member=FORBIDDEN, owner=FOUND, changes=OWNER_ONLY),
    org_row("orgs:invitation-cancel", "GET", member=NOT_ALLOWED, owner=NOT_ALLOWED),
    org_row("orgs:invitation-cancel", "POST", member=FORBIDDEN, owner=FOUND, changes=OWNER_ONLY),
    org_row("policies:usage", "GET", member=FORBIDDEN, owner=OK),
    org_row("policies:usage", "POST", member=FORBIDDEN, owner=NOT_ALLOWED),
    org_row("policies:usage-events", "GET", member=FORBIDDEN, owner=OK),
    org_row("policies:usage-events", "POST", member=FORBIDDEN, owner=NOT_ALLOWED),
    org_row("policies:my-access", "GET", member=OK, owner=OK),
    # Members and editors file a request; the owner is told it is already allowed (200, form
    # error): owners are never restricted.
    org_row(
        "policies:my-access",
        "POST",
        member=FOUND,
        owner=OK,
        changes=frozenset({"member", "editor"}),
        data={
            "kind": "repository",
            "repository": "someuser/other-image",
            "justification": "the build needs it",
        },
        setup=enforce_acme_policy,
    ),
    # Members and editors are sent to My access, where their own requests are.
    org_row("policies:requests", "GET", member=FOUND, owner=OK),
    org_row("policies:requests", "POST", member=FORBIDDEN, owner=NOT_ALLOWED),
    org_row("policies:request-approve", "GET", member=NOT_ALLOWED, owner=NOT_ALLOWED),
    org_row(
        "policies:request-approve",
        "POST",
        member=FORBIDDEN,
        owner=FOUND,
        changes=OWNER_ONLY,
        data={"comment": "fine"},
    ),
    org_row("policies:request-decline", "GET", member=NOT_ALLOWED, owner=NOT_ALLOWED),
    org_row(
        "policies:request-decline",
        "POST",
        member=FORBIDDEN,
        owner=FOUND,
        changes=OWNER_ONLY,
        data={"comment": "use bitnami/redis"},
    ),
    org_row("orgs:settings", "GET", member=OK, owner=OK),
    org_row(
        "orgs:settings",
        "POST",
        member=FORBIDDEN,
        owner=FOUND,
        changes=OWNER_ONLY,
        data={"name": "Acme Renamed", "enforce_sign_in": "on"},
    ),
    org_row("orgs:namespace-add", "GET", member=NOT_ALLOWED, owner=NOT_ALLOWED),
    org_row(
        "orgs:namespace-add",
        "POST",
        member=FORBIDDEN,
        owner=FOUND,
        changes=OWNER_ONLY,
        data={"name": "acme-labs"},
    ),
    org_row("orgs:namespace-remove", "GET", member=NOT_ALLOWED, owner=NOT_ALLOWED),
    org_row("orgs:namespace-remove", "POST", member=FORBIDDEN, owner=FOUND, changes=OWNER_ONLY),
    org_row("orgs:delete", "GET", member=NOT_ALLOWED, owner=NOT_ALLOWED),
    org_row(
        "orgs:delete",
        "POST",
        member=FORBIDDEN,
        owner=FOUND,
        changes=OWNER_ONLY,
        data={"confirm": "acme"},
    ),
    org_row("orgs:activity", "GET", member=FORBIDDEN, owner=OK),
    org_row("orgs:activity", "POST", member=FORBIDDEN, owner=NOT_ALLOWED),
    user_row("tokens", "GET", OK),
    user_row(
        "tokens",
        "POST",
        OK,
        changes=SIGNED_IN,
        data={"name": "ci", "scope": "read", "expiry": "30"},
    ),
    user_row("token-revoke", "GET", NOT_ALLOWED),
    # The token is mike's: anyone else gets 404, as if it did not exist.
    Row(
        "token-revoke",
        "POST",
        {
            "anonymous": FOUND,
            "outsider": NOT_FOUND,
            "member": FOUND,
            "editor": NOT_FOUND,
            "owner": NOT_FOUND,
        },
        changes=frozenset({"member"}),
    ),
    # Addressed to newcomer@example.com: everyone may look, nobody in the cast may use it.
    user_row("invitation", "GET", OK),
    user_row("invitation", "POST", FOUND, data={"action": "accept"}),
]


def url_for(name: str, world: World) -> str:
    """The URL of ``name`` pointing at the world's objects (acme for org pages)."""
    kwargs: dict[str, Any] = {}
    if name.startswith(("orgs:", "policies:")) and name != "orgs:list":
        kwargs["slug"] = "acme"
    pk_of: dict[str, Callable[[World], int]] = {
        "policies:exception-remove": lambda w: w.exception.pk,
        "orgs:member-role": lambda w: w.mike_membership.pk,
        "orgs:member-remove": lambda w: w.mike_membership.pk,
        "orgs:invitation-resend": lambda w: w.invitation.pk,
        "orgs:invitation-cancel": lambda w: w.invitation.pk,
        "token-revoke": lambda w: w.mike_token.pk,
        "policies:request-approve": lambda w: w.access_request.pk,
        "policies:request-decline": lambda w: w.access_request.pk,
        # acme keeps at least one namespace, so give it a second one to remove.
        "orgs:namespace-remove": lambda w: Namespace.objects.get_or_create(
            org=w.cast.acme, name="acme-extra"
        )[0].pk,
    }
    if name in pk_of:
        kwargs["pk"] = pk_of[name](world)
    if name == "invitation":
        kwargs["secret"] = world.invitation_secret
    return reverse(name, kwargs=kwargs)


def fingerprint() -> tuple[Any, ...]:
    """Everything a console page can change."""
    return (
        ActivityLog.objects.count(),
        list(
            Organization.objects.order_by("pk").values_list(
                "pk", "slug", "plan", "name", "enforce_sign_in", "require_two_factor"
            )
        ),
        list(Namespace.objects.order_by("pk").values_list("pk", "org_id", "name")),
        list(Membership.objects.order_by("pk").values_list("pk", "org_id", "user_id", "role")),
        list(
            Invitation.objects.order_by("pk").values_list(
                "pk", "token_hash", "expires_at", "accepted_at", "declined_at", "cancelled_at"
            )
        ),
        list(RepositoryException.objects.order_by("pk").values_list("pk", "namespace", "name")),
        list(
            ImageAccessPolicy.objects.order_by("pk").values_list(
                "pk", *ImageAccessPolicy.SETTINGS, "version"
            )
        ),
        list(PersonalAccessToken.objects.order_by("pk").values_list("pk", "revoked_at")),
        list(
            AccessRequest.objects.order_by("pk").values_list(
                "pk", "kind", "value", "status", "comment"
            )
        ),
    )


def _cases() -> Iterator[Any]:
    for row in MATRIX:
        for role in ROLES:
            yield pytest.param(row, role, id=f"{row.name}-{row.method}-{role}")


@pytest.mark.parametrize(("row", "role"), list(_cases()))
def test_role_matrix(world: World, row: Row, role: str) -> None:
    client = client_for(world.user(USER_OF_ROLE[role]) if role in SIGNED_IN else None)
    url = url_for(row.name, world)
    if row.setup is not None:
        row.setup(world)
    before = fingerprint()

    response = client.get(url) if row.method == "GET" else client.post(url, row.data)

    assert response.status_code == row.expect[role], (
        f"{row.method} {url} as {role}: {response.status_code}"
    )
    if role == "anonymous" and row.login_required:
        assert response["Location"].startswith(reverse("account_login") + "?next=")
    if role in row.changes:
        assert fingerprint() != before, f"{row.method} {url} as {role} should change data"
    else:
        assert fingerprint() == before, f"{row.method} {url} as {role} changed data"


def _page_patterns(
    patterns: list[Any], prefix: str = "", namespaces: tuple[str, ...] = ()
) -> Iterator[tuple[str, str | None]]:
    for pattern in patterns:
        route = prefix + str(pattern.pattern).lstrip("^")
        if isinstance(pattern, URLResolver):
            inner = (*namespaces, pattern.namespace) if pattern.namespace else namespaces
            yield from _page_patterns(pattern.url_patterns, route, inner)
        elif isinstance(pattern, URLPattern):
            name = ":".join((*namespaces, pattern.name)) if pattern.name else None
            yield route, name


def console_url_names() -> dict[str, str]:
    """URL name -> route of every page URL the resolver knows, outside the excluded areas."""
    found: dict[str, str] = {}
    for route, name in _page_patterns(get_resolver().url_patterns):
        if route.startswith(EXCLUDED_PREFIXES + MACHINE_PREFIXES):
            continue
        assert name is not None, f"page URL {route!r} has no name, so the matrix cannot list it"
        found[name] = route
    return found


def test_every_console_url_has_matrix_rows_for_get_and_post() -> None:
    covered = {(row.name, row.method) for row in MATRIX}
    names = console_url_names()
    missing = sorted(
        f"{name} ({route}) {method}"
        for name, route in names.items()
        for method in ("GET", "POST")
        if (name, method) not in covered
    )
    assert not missing, "add role-matrix rows for: " + ", ".join(missing)
    # The matrix must not keep rows for URLs that no longer exist either.
    assert {row.name for row in MATRIX} <= set(names)


def test_matrix_rows_name_every_role() -> None:
    for row in MATRIX:
        assert set(row.expect) == set(ROLES), row.name


# --- The API and the registry token service ---------------------------------------------------

CREATED, NO_CONTENT = HTTPStatus.CREATED, HTTPStatus.NO_CONTENT
BAD_REQUEST, UNAUTHORIZED = HTTPStatus.BAD_REQUEST, HTTPStatus.UNAUTHORIZED
METHODS = ("get", "post", "put", "patch", "delete")
REGISTRY_SERVICE = "mirror.test"
PULL = "repository:library/nginx:pull"


@dataclass(frozen=True)
class MachineRow:
    """Expected status per role for one (URL name, method) of the API or ``/v2/token``."""

    name: str
    method: str
    expect: dict[str, HTTPStatus]
    changes: frozenset[str] = frozenset()
    data: dict[str, Any] = field(default_factory=dict)
    setup: Callable[[World], None] | None = None


def api_row(
    name: str,
    method: str,
    *,
    member: HTTPStatus,
    owner: HTTPStatus,
    editor: HTTPStatus | None = None,
    outsider: HTTPStatus = NOT_FOUND,
    changes: frozenset[str] = frozenset(),
    data: dict[str, Any] | None = None,
    setup: Callable[[World], None] | None = None,
) -> MachineRow:
    """A row for an API URL: anonymous 401, outsider 404 (for the organization's URLs)."""
    return MachineRow(
        name,
        method,
        {
            "anonymous": UNAUTHORIZED,
            "outsider": outsider,
            "member": member,
            "editor": member if editor is None else editor,
            "owner": owner,
        },
        changes,
        data or {},
        setup,
    )


MEMBERS_FILE = frozenset({"member", "editor"})
EVERYONE_SIGNED_IN = dict.fromkeys(SIGNED_IN, OK)
MACHINE_MATRIX: list[MachineRow] = [
    MachineRow("api-me", "get", {"anonymous": UNAUTHORIZED, **EVERYONE_SIGNED_IN}),
    # Every signed-in caller gets decisions for their own organizations.
    MachineRow(
        "api-decisions",
        "post",
        {"anonymous": UNAUTHORIZED, **EVERYONE_SIGNED_IN},
        data={"images": ["nginx", "someuser/custom-image"]},
    ),
    api_row("api-policy", "get", member=OK, owner=OK),
    api_row(
        "api-policy",
        "patch",
        member=FORBIDDEN,
        owner=OK,
        changes=OWNER_ONLY,
        data={"enabled": True, "allow_community": True},
    ),
    api_row("api-registry-access", "get", member=OK, owner=OK),
    api_row(
        "api-registry-access",
        "patch",
        member=FORBIDDEN,
        owner=OK,
        changes=OWNER_ONLY,
        data={"enabled": True, "registries": [{"host": "docker.io"}, {"host": "ghcr.io"}]},
    ),
    api_row("api-exceptions", "get", member=OK, owner=OK),
    api_row(
        "api-exceptions",
        "post",
        member=FORBIDDEN,
        owner=CREATED,
        changes=OWNER_ONLY,
        data={"repository": "grafana/*", "reason": "dashboards"},
    ),
    api_row("api-exception", "get", member=OK, owner=OK),
    api_row("api-exception", "delete", member=FORBIDDEN, owner=NO_CONTENT, changes=OWNER_ONLY),
    api_row("api-events", "get", member=FORBIDDEN, owner=OK),
    # Members read their own requests, owners everyone's.
    api_row("api-access-requests", "get", member=OK, owner=OK),
    # Members and editors file; the owner is told it is already allowed (owners are never
    # restricted).
    api_row(
        "api-access-requests",
        "post",
        member=CREATED,
        owner=BAD_REQUEST,
        changes=MEMBERS_FILE,
        data={"repository": "someuser/other-image", "justification": "the build needs it"},
        setup=enforce_acme_policy,
    ),
    api_row(
        "api-access-request-approve",
        "post",
        member=FORBIDDEN,
        owner=OK,
        changes=OWNER_ONLY,
        data={"comment": "fine"},
    ),
    api_row(
        "api-access-request-decline",
        "post",
        member=FORBIDDEN,
        owner=OK,
        changes=OWNER_ONLY,
        data={"comment": "use bitnami/redis"},
    ),
    # Anonymous pulls are decided as anonymous: nothing restricts them unless an organization
    # named by the service enforces sign-in.
    MachineRow("registry-token", "get", dict.fromkeys(ROLES, OK), data={"scope": PULL}),
    # The OAuth2 password form (BuildKit): without credentials there is no one to grant to.
    MachineRow(
        "registry-token",
        "post",
        {"anonymous": UNAUTHORIZED, **EVERYONE_SIGNED_IN},
        data={"grant_type": "password", "scope": PULL, "client_id": "docker"},
    ),
]
MACHINE_PK_OF: dict[str, Callable[[World], int]] = {
    "api-exception": lambda w: w.exception.pk,
    "api-access-request-approve": lambda w: w.access_request.pk,
    "api-access-request-decline": lambda w: w.access_request.pk,
}


def machine_url_for(name: str, world: World) -> str:
    """The URL of an API or registry name, pointing at acme and the world's objects."""
    route = machine_url_names()[name]
    kwargs: dict[str, Any] = {}
    if "<slug:slug>" in route:
        kwargs["slug"] = "acme"
    if "<int:pk>" in route:
        kwargs["pk"] = MACHINE_PK_OF[name](world)
    return reverse(name, kwargs=kwargs)


@pytest.fixture
def role_tokens(world: World) -> dict[str, str]:
    """An admin-scope personal access token per signed-in role."""
    from orgs.models import TokenScope
    from orgs.tokens import mint_token

    return {
        role: mint_token(user=world.user(user), name="matrix", scope=TokenScope.ADMIN).plaintext
        for role, user in USER_OF_ROLE.items()
    }


def machine_call(row: MachineRow, url: str, role: str, tokens: dict[str, str]) -> Any:
    token = tokens.get(role)
    if row.name == "registry-token":
        client = Client()
        params = {"service": REGISTRY_SERVICE, **row.data}
        if row.method == "get":
            headers = {}
            if token is not None:
                raw = base64.b64encode(f"{USER_OF_ROLE[role]}:{token}".encode()).decode()
                headers = {"Authorization": f"Basic {raw}"}
            return client.get(url, params, headers=headers)
        if token is not None:
            params |= {"username": USER_OF_ROLE[role], "password": token}
        return client.post(url, params)
    api = APIClient()
    if token is not None:
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return getattr(api, row.method)(url, row.data, format="json")


def _machine_cases() -> Iterator[Any]:
    for row in MACHINE_MATRIX:
        for role in ROLES:
            yield pytest.param(row, role, id=f"{row.name}-{row.method.upper()}-{role}")


@pytest.mark.parametrize(("row", "role"), list(_machine_cases()))
def test_api_and_registry_role_matrix(
    world: World,
    role_tokens: dict[str, str],
    row: MachineRow,
    role: str,
    settings: Any,
    tmp_path: Path,
) -> None:
    settings.REGISTRY_KEY_FILE = tmp_path / "token.key"
    from policies.enforcers.token_service.signing import signing_key

    signing_key.cache_clear()
    url = machine_url_for(row.name, world)
    if row.setup is not None:
        row.setup(world)
    before = fingerprint()

    response = machine_call(row, url, role, role_tokens)

    assert response.status_code == row.expect[role], (
        f"{row.method.upper()} {url} as {role}: {response.status_code} {response.content[:200]!r}"
    )
    if role in row.changes:
        assert fingerprint() != before, f"{row.method} {url} as {role} should change data"
    else:
        assert fingerprint() == before, f"{row.method} {url} as {role} changed data"


def machine_url_names() -> dict[str, str]:
    """URL name -> route of every API and registry URL, the API's description aside."""
    found: dict[str, str] = {}
    for route, name in _page_patterns(get_resolver().url_patterns):
        if not route.startswith(MACHINE_PREFIXES) or route.startswith(EXCLUDED_PREFIXES):
            continue
        assert name is not None, f"URL {route!r} has no name, so the matrix cannot list it"
        found[name] = route
    return found


def machine_methods(route: str) -> list[str]:
    """The methods the view of ``route`` answers (GET and POST for a function view)."""
    sample = "/" + route.replace("<slug:slug>", "acme").replace("<int:pk>", "1")
    view = get_resolver().resolve(sample).func
    view_class = getattr(view, "view_class", None)
    if view_class is None:
        return ["get", "post"]
    return [m for m in METHODS if m in view_class.http_method_names and hasattr(view_class, m)]


def test_every_api_and_registry_url_has_matrix_rows_for_each_method() -> None:
    covered = {(row.name, row.method) for row in MACHINE_MATRIX}
    names = machine_url_names()
    missing = sorted(
        f"{name} ({route}) {method.upper()}"
        for name, route in names.items()
        for method in machine_methods(route)
        if (name, method) not in covered
    )
    assert not missing, "add role-matrix rows for: " + ", ".join(missing)
    assert {row.name for row in MACHINE_MATRIX} <= set(names)


def test_machine_matrix_rows_name_every_role() -> None:
    for row in MACHINE_MATRIX:
        assert set(row.expect) == set(ROLES), row.name
