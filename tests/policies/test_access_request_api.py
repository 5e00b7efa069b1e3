"""The access requests API: members file and read their own, owners read all and decide."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import pytest
from django.core import mail
from rest_framework.test import APIClient

from orgs.models import ActivityLog, TokenScope
from orgs.tokens import mint_token
from policies.models import AccessRequest, ImageAccessPolicy, RepositoryException
from policies.services import update_policy
from tests.conftest import Cast, bearer

pytestmark = pytest.mark.django_db
REQUESTS = "/api/v1/orgs/acme/access-requests"
CUSTOM = "someuser/custom-image"


def client_for(token: str) -> APIClient:
    return bearer(APIClient(), token)


@pytest.fixture
def admin_tokens(cast: Cast) -> dict[str, str]:
    """Admin-scope tokens: API writes through a token need the admin scope, whatever the role."""
    return {
        name: mint_token(user=cast.user(name), name="admin", scope=TokenScope.ADMIN).plaintext
        for name in ("olivia", "erin", "mike", "charlie")
    }


@pytest.fixture
def enforced(cast: Cast) -> Cast:
    update_policy(org=cast.acme, actor=cast.olivia, changes={"enabled": True})
    return cast


def error_of(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body


# --- Filing requests --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "kind", "value"),
    [
        ({"repository": CUSTOM}, "repository", CUSTOM),
        ({"repository": "someuser/*"}, "namespace", "someuser"),
        ({"namespace": "someuser"}, "namespace", "someuser"),
        ({"image_type": "community"}, "image_type", "community"),
    ],
)
def test_member_files_a_request(
    enforced: Cast,
    admin_tokens: dict[str, str],
    django_capture_on_commit_callbacks: Any,
    body: dict[str, str],
    kind: str,
    value: str,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(admin_tokens["mike"]).post(
            REQUESTS, {**body, "justification": "the build needs it"}, format="json"
        )

    assert response.status_code == HTTPStatus.CREATED, response.json()
    data = response.json()
    assert data | {"id": 0, "created_at": ""} == {
        "id": 0,
        "kind": kind,
        "value": value,
        "justification": "the build needs it",
        "status": "pending",
        "requester": "mike",
        "created_at": "",
        "decided_by": None,
        "decided_at": None,
        "comment": "",
        "exception_id": None,
    }
    (message,) = mail.outbox
    assert message.to == ["olivia@example.com"]
    assert "http://testserver/orgs/acme/requests/" in message.body
    log = ActivityLog.objects.get(action="access_request.filed")
    assert log.actor_token is not None


def test_filing_through_a_token_needs_only_the_read_scope(
    enforced: Cast, tokens: dict[str, str]
) -> None:
    response = client_for(tokens["mike"]).post(
        REQUESTS, {"repository": CUSTOM, "justification": "x"}, format="json"
    )
    assert response.status_code == HTTPStatus.CREATED
    public_read = mint_token(user=enforced.mike, name="pr", scope=TokenScope.PUBLIC_READ)
    refused = client_for(public_read.plaintext).post(
        REQUESTS, {"namespace": "otheruser", "justification": "x"}, format="json"
    )
    assert refused.status_code == HTTPStatus.FORBIDDEN
    assert "read scope" in error_of(refused)["message"]
    assert AccessRequest.objects.count() == 1


def test_member_files_with_a_browser_session(enforced: Cast) -> None:
    api = APIClient()
    api.force_login(enforced.mike)
    response = api.post(REQUESTS, {"repository": CUSTOM, "justification": "x"}, format="json")
    assert response.status_code == HTTPStatus.CREATED


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"justification": "x"}, "repository", "invalid_request"),
        ({"repository": CUSTOM, "namespace": "a", "justification": "x"}, "namespace", None),
        ({"repository": CUSTOM}, "justification", None),
        ({"repository": CUSTOM, "justification": "   "}, "justification", None),
        ({"repository": CUSTOM, "justification": "x" * 2001}, "justification", None),
        ({"repository": CUSTOM, "justification": "x", "reason": "y"}, "reason", None),
        ({"repository": "Bad/Name", "justification": "x"}, "repository", None),
        ({"repository": "a/b:1", "justification": "x"}, "repository", None),
        ({"repository": 5, "justification": "x"}, "repository", None),
        ({"repository": ["a/b"], "justification": "x"}, "repository", None),
        ({"namespace": "a/b", "justification": "x"}, "namespace", None),
        ({"namespace": "", "justification": "x"}, "namespace", None),
        ({"image_type": "organization", "justification": "x"}, "image_type", None),
        ({"image_type": None, "justification": "x"}, "image_type", None),
    ],
)
def test_bad_request_bodies_are_400_naming_the_field(
    enforced: Cast, admin_tokens: dict[str, str], body: dict[str, Any], field: str, code: Any
) -> None:
    response = client_for(admin_tokens["mike"]).post(REQUESTS, body, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST, response.json()
    error = error_of(response)
    assert error["message"].startswith(f"{field}: "), error
    assert error["code"] == (code or error["code"])
    assert not AccessRequest.objects.exists()


@pytest.mark.parametrize("raw", ['["a/b"]', '"a/b"', "{not json"])
def test_a_body_that_is_not_an_object_is_400(
    enforced: Cast, admin_tokens: dict[str, str], raw: str
) -> None:
    response = client_for(admin_tokens["mike"]).post(REQUESTS, raw, content_type="application/json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert error_of(response)["code"] in ("invalid_request", "malformed_request")


def test_already_allowed_and_duplicates_are_400_with_their_own_codes(
    enforced: Cast, admin_tokens: dict[str, str]
) -> None:
    api = client_for(admin_tokens["mike"])
    allowed = api.post(REQUESTS, {"repository": "nginx", "justification": "x"}, format="json")
    assert allowed.status_code == HTTPStatus.BAD_REQUEST
    assert error_of(allowed)["code"] == "already_allowed"
    assert "official images allowed" in error_of(allowed)["message"]

    first = api.post(REQUESTS, {"repository": CUSTOM, "justification": "x"}, format="json")
    assert first.status_code == HTTPStatus.CREATED
    again = api.post(REQUESTS, {"repository": CUSTOM, "justification": "x"}, format="json")
    assert again.status_code == HTTPStatus.BAD_REQUEST
    assert error_of(again)["code"] == "duplicate_request"


def test_outsiders_get_404_for_requests(cast: Cast, admin_tokens: dict[str, str]) -> None:
    api = client_for(admin_tokens["charlie"])
    assert api.get(REQUESTS).status_code == HTTPStatus.NOT_FOUND
    response = api.post(REQUESTS, {"repository": CUSTOM, "justification": "x"}, format="json")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert not AccessRequest.objects.exists()


# --- Listing requests -------------------------------------------------------------------------


@pytest.fixture
def filed(enforced: Cast) -> dict[str, AccessRequest]:
    def make(org: Any, user: Any, value: str, status: str = "pending") -> AccessRequest:
        return AccessRequest.objects.create(
            org=org,
            requester=user,
            kind="repository",
            value=value,
            justification="x",
            status=status,
        )

    return {
        "mike": make(enforced.acme, enforced.mike, CUSTOM),
        "mike_old": make(enforced.acme, enforced.mike, "a/b", "declined"),
        "erin": make(enforced.acme, enforced.erin, "c/d"),
        "globex": make(enforced.globex, enforced.charlie, "e/f"),
    }


def values(response: Any) -> set[str]:
    return {item["value"] for item in response.json()["results"]}


def test_members_list_their_own_requests_and_owners_everyone_s(
    tokens: dict[str, str], filed: dict[str, AccessRequest]
) -> None:
    assert values(client_for(tokens["mike"]).get(REQUESTS)) == {CUSTOM, "a/b"}
    assert values(client_for(tokens["erin"]).get(REQUESTS)) == {"c/d"}
    assert values(client_for(tokens["olivia"]).get(REQUESTS)) == {CUSTOM, "a/b", "c/d"}
    pending = client_for(tokens["olivia"]).get(REQUESTS, {"status": "pending"})
    assert values(pending) == {CUSTOM, "c/d"}


@pytest.mark.parametrize(
    ("query", "field"), [({"status": "maybe"}, "status"), ({"state": "pending"}, "state")]
)
def test_bad_request_list_filters_are_400(
    tokens: dict[str, str], filed: dict[str, AccessRequest], query: dict[str, str], field: str
) -> None:
    response = client_for(tokens["olivia"]).get(REQUESTS, query)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert error_of(response)["message"].startswith(f"{field}: ")


# --- Approving and declining ------------------------------------------------------------------


def decide_url(request: AccessRequest, verb: str) -> str:
    return f"{REQUESTS}/{request.pk}/{verb}"


def test_owner_approves_and_the_exception_exists(
    admin_tokens: dict[str, str],
    filed: dict[str, AccessRequest],
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(admin_tokens["olivia"]).post(
            decide_url(filed["mike"], "approve"), {"comment": "ok"}, format="json"
        )
    assert response.status_code == HTTPStatus.OK, response.json()
    data = response.json()
    assert (data["status"], data["decided_by"], data["comment"]) == ("approved", "olivia", "ok")
    exception = RepositoryException.objects.get()
    assert data["exception_id"] == exception.pk
    assert exception.repository == CUSTOM
    (message,) = mail.outbox
    assert message.to == ["mike@example.com"]
    assert "http://testserver/orgs/acme/my-access/" in message.body


def test_approve_without_a_body_or_comment_works(
    admin_tokens: dict[str, str], filed: dict[str, AccessRequest]
) -> None:
    response = client_for(admin_tokens["olivia"]).post(decide_url(filed["erin"], "approve"))
    assert response.status_code == HTTPStatus.OK
    assert response.json()["comment"] == ""


def test_owner_approves_an_image_type(enforced: Cast, admin_tokens: dict[str, str]) -> None:
    request = AccessRequest.objects.create(
        org=enforced.acme,
        requester=enforced.mike,
        kind="image_type",
        value="community",
        justification="x",
    )
    response = client_for(admin_tokens["olivia"]).post(decide_url(request, "approve"))
    assert response.status_code == HTTPStatus.OK
    assert ImageAccessPolicy.objects.get(org=enforced.acme).allow_community


def test_owner_declines_with_a_comment(
    admin_tokens: dict[str, str], filed: dict[str, AccessRequest]
) -> None:
    response = client_for(admin_tokens["olivia"]).post(
        decide_url(filed["mike"], "decline"), {"comment": "use bitnami"}, format="json"
    )
    assert response.status_code == HTTPStatus.OK
    assert (response.json()["status"], response.json()["comment"]) == ("declined", "use bitnami")
    assert not RepositoryException.objects.exists()


@pytest.mark.parametrize("verb", ["approve", "decline"])
@pytest.mark.parametrize("who", ["erin", "mike"])
def test_non_owners_get_403_and_nothing_changes(
    admin_tokens: dict[str, str], filed: dict[str, AccessRequest], verb: str, who: str
) -> None:
    logs = ActivityLog.objects.count()
    response = client_for(admin_tokens[who]).post(decide_url(filed["mike"], verb))
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert error_of(response)["code"] == "permission_denied"
    filed["mike"].refresh_from_db()
    assert filed["mike"].status == "pending"
    assert not RepositoryException.objects.exists()
    assert ActivityLog.objects.count() == logs


@pytest.mark.parametrize("verb", ["approve", "decline"])
def test_ids_of_another_organization_are_404(
    admin_tokens: dict[str, str], filed: dict[str, AccessRequest], verb: str
) -> None:
    api = client_for(admin_tokens["olivia"])
    assert api.post(decide_url(filed["globex"], verb)).status_code == HTTPStatus.NOT_FOUND
    assert api.post(f"{REQUESTS}/999999/{verb}").status_code == HTTPStatus.NOT_FOUND
    filed["globex"].refresh_from_db()
    assert filed["globex"].status == "pending"
    # charlie, a member of globex only, cannot reach acme's requests at all.
    charlie = client_for(admin_tokens["charlie"])
    assert charlie.post(decide_url(filed["mike"], verb)).status_code == HTTPStatus.NOT_FOUND


@pytest.mark.parametrize("verb", ["approve", "decline"])
def test_deciding_a_decided_request_is_409(
    admin_tokens: dict[str, str], filed: dict[str, AccessRequest], verb: str
) -> None:
    response = client_for(admin_tokens["olivia"]).post(decide_url(filed["mike_old"], verb))
    assert response.status_code == HTTPStatus.CONFLICT
    assert error_of(response) == {
        "code": "request_decided",
        "message": "this request was already declined",
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"comment": "x" * 2001}, "comment"),
        ({"comment": ["ok"]}, "comment"),
        ({"comment": "ok", "status": "approved"}, "status"),
    ],
)
@pytest.mark.parametrize("verb", ["approve", "decline"])
def test_bad_decision_bodies_are_400_and_change_nothing(
    admin_tokens: dict[str, str],
    filed: dict[str, AccessRequest],
    body: dict[str, Any],
    field: str,
    verb: str,
) -> None:
    response = client_for(admin_tokens["olivia"]).post(
        decide_url(filed["mike"], verb), body, format="json"
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert error_of(response)["message"].startswith(f"{field}: ")
    filed["mike"].refresh_from_db()
    assert filed["mike"].status == "pending"


def test_decision_endpoints_refuse_get(
    admin_tokens: dict[str, str], filed: dict[str, AccessRequest]
) -> None:
    response = client_for(admin_tokens["olivia"]).get(decide_url(filed["mike"], "approve"))
    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED


def test_the_schema_documents_the_access_request_endpoints(
    cast: Cast, tokens: dict[str, str]
) -> None:
    response = client_for(tokens["olivia"]).get("/api/schema/", {"format": "json"})
    assert response.status_code == HTTPStatus.OK
    paths = response.json()["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/orgs/{slug}/access-requests"])
    assert "post" in paths["/api/v1/orgs/{slug}/access-requests/{id}/approve"]
    assert "post" in paths["/api/v1/orgs/{slug}/access-requests/{id}/decline"]


def test_a_member_asks_for_a_registry_and_its_approval_allows_it(
    enforced: Cast, admin_tokens: dict[str, str]
) -> None:
    from policies.models import RegistryAccessPolicy
    from policies.registry_access import update_registry_access

    member, owner = client_for(admin_tokens["mike"]), client_for(admin_tokens["olivia"])
    off = member.post(REQUESTS, {"registry": "ghcr.io", "justification": "x"}, format="json")
    assert off.status_code == HTTPStatus.BAD_REQUEST
    assert error_of(off)["code"] == "already_allowed"
    assert "registry access management is not in effect" in error_of(off)["message"]

    update_registry_access(org=enforced.acme, actor=enforced.olivia, enabled=True)
    listed = member.post(REQUESTS, {"registry": "docker.io", "justification": "x"}, format="json")
    assert "(docker.io is an allowed registry)" in error_of(listed)["message"]
    bad = member.post(
        REQUESTS, {"registry": "https://ghcr.io", "justification": "x"}, format="json"
    )
    assert bad.status_code == HTTPStatus.BAD_REQUEST
    assert error_of(bad)["message"].startswith("registry: ")

    filed = member.post(
        REQUESTS, {"registry": "GHCR.io:443", "justification": "our packages"}, format="json"
    )
    assert filed.status_code == HTTPStatus.CREATED, filed.json()
    request = AccessRequest.objects.get()
    assert (request.kind, request.value) == ("registry", "ghcr.io")
    denied = member.post("/api/v1/decisions", {"image": "ghcr.io/acme/tool"}, format="json")
    assert denied.json()["decisions"][0]["allowed"] is False

    approved = owner.post(decide_url(request, "approve"), {"comment": "ok"}, format="json")
    assert approved.status_code == HTTPStatus.OK, approved.json()
    access = RegistryAccessPolicy.objects.get(org=enforced.acme)
    assert access.registries[-1] == {"host": "ghcr.io", "note": "requested by mike"}
    allowed = member.post("/api/v1/decisions", {"image": "ghcr.io/acme/tool"}, format="json")
    assert allowed.json()["decisions"][0]["allowed"] is True
