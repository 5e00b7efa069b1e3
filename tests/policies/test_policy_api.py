"""Policy and exceptions REST endpoints: permissions, validation, activity log."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from rest_framework.test import APIClient

from orgs.models import ActivityLog, Organization, TokenScope
from orgs.tokens import mint_token
from policies.models import ImageAccessPolicy, RepositoryException
from tests.conftest import Cast, bearer

pytestmark = pytest.mark.django_db
POLICY = "/api/v1/orgs/acme/image-access"
EXCEPTIONS = "/api/v1/orgs/acme/exceptions"


def client_for(token: str) -> APIClient:
    return bearer(APIClient(), token)


@pytest.mark.parametrize("who", ["olivia", "erin", "mike"])
def test_every_member_reads_the_policy(cast: Cast, tokens: dict[str, str], who: str) -> None:
    response = client_for(tokens[who]).get(POLICY)
    assert response.status_code == HTTPStatus.OK
    assert response.json() | {"updated_at": None} == {
        "enabled": False,
        "allow_official": True,
        "allow_verified_publisher": True,
        "allow_community": False,
        "allow_organization": True,
        "audit_mode": False,
        "block_image_load": False,
        "version": 1,
        "updated_by": None,
        "updated_at": None,
    }


def test_non_member_gets_404_for_policy_and_exceptions(cast: Cast, tokens: dict[str, str]) -> None:
    charlie = client_for(tokens["charlie"])
    for url in (POLICY, EXCEPTIONS, f"{EXCEPTIONS}/1", "/api/v1/orgs/nope/image-access"):
        response = charlie.get(url)
        assert response.status_code == HTTPStatus.NOT_FOUND, url
        assert response.json() == {"error": {"code": "not_found", "message": "not found"}}
    assert charlie.patch(POLICY, {"enabled": True}, format="json").status_code == 404


@pytest.mark.parametrize("who", ["erin", "mike"])
def test_non_owner_writes_get_403_and_change_nothing(
    cast: Cast, tokens: dict[str, str], who: str
) -> None:
    api = client_for(tokens[who])
    assert api.patch(POLICY, {"enabled": True}, format="json").status_code == 403
    assert api.post(EXCEPTIONS, {"repository": "a/b"}, format="json").status_code == 403
    assert not ImageAccessPolicy.objects.filter(enabled=True).exists()
    assert not RepositoryException.objects.exists()


def test_owner_token_without_admin_scope_cannot_write(cast: Cast) -> None:
    read_only = mint_token(user=cast.olivia, name="ro", scope=TokenScope.READ).plaintext
    response = client_for(read_only).patch(POLICY, {"enabled": True}, format="json")
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert "admin scope" in response.json()["error"]["message"]


def test_owner_session_can_write(cast: Cast) -> None:
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(cast.olivia)
    response = client.patch(POLICY, {"enabled": True}, content_type="application/json")
    # A session write without the CSRF token is refused by DRF.
    assert response.status_code == HTTPStatus.FORBIDDEN
    csrf_client = APIClient(enforce_csrf_checks=False)
    csrf_client.force_login(cast.olivia)
    assert csrf_client.patch(POLICY, {"enabled": True}, format="json").status_code == 200


def test_policy_change_bumps_version_and_logs_before_and_after(
    cast: Cast, tokens: dict[str, str]
) -> None:
    api = client_for(tokens["olivia"])
    response = api.patch(POLICY, {"enabled": True, "allow_community": True}, format="json")
    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert (body["enabled"], body["allow_community"], body["version"], body["updated_by"]) == (
        True,
        True,
        2,
        "olivia",
    )
    entry = ActivityLog.objects.get(action="policy.updated")
    assert entry.before == {"enabled": False, "allow_community": False}
    assert entry.after == {"enabled": True, "allow_community": True}
    assert entry.actor == cast.olivia
    assert entry.actor_token is not None
    # The same values again change nothing and do not bump the version.
    again = api.patch(POLICY, {"enabled": True}, format="json").json()
    assert again["version"] == 2


def test_turning_on_without_business_plan_is_refused(cast: Cast, tokens: dict[str, str]) -> None:
    Organization.objects.filter(slug="acme").update(plan="team")
    response = client_for(tokens["olivia"]).patch(POLICY, {"enabled": True}, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"]["message"] == (
        "image access management requires a Business subscription"
    )
    assert not ImageAccessPolicy.objects.filter(enabled=True).exists()
    assert not ActivityLog.objects.filter(action="policy.updated").exists()


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"enabled": "yes"}, "enabled: must be true or false"),
        ({"allow_community": 1}, "allow_community: must be true or false"),
        ({"allow_organization": False}, "organization images are always allowed"),
        ({"allow_everything": True}, "allow_everything: unknown setting"),
        ([True], "send a JSON object"),
    ],
)
def test_bad_policy_patches_get_400(
    cast: Cast, tokens: dict[str, str], body: object, fragment: str
) -> None:
    response = client_for(tokens["olivia"]).patch(POLICY, body, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert fragment in response.json()["error"]["message"]
    assert ImageAccessPolicy.objects.filter(version__gt=1).count() == 0


def test_exception_lifecycle(cast: Cast, tokens: dict[str, str]) -> None:
    api = client_for(tokens["olivia"])
    created = api.post(
        EXCEPTIONS,
        {"repository": "someuser/custom-image", "reason": "needed for the demo"},
        format="json",
    )
    assert created.status_code == HTTPStatus.CREATED
    body = created.json()
    assert body["repository"] == "someuser/custom-image"
    assert body["created_by"] == "olivia"
    assert body["expires_at"] is None
    namespace = api.post(EXCEPTIONS, {"repository": "bitnami/*"}, format="json")
    assert namespace.json()["repository"] == "bitnami/*"
    listed = client_for(tokens["mike"]).get(EXCEPTIONS).json()
    assert [e["repository"] for e in listed] == ["bitnami/*", "someuser/custom-image"]
    assert api.delete(f"{EXCEPTIONS}/{body['id']}").status_code == HTTPStatus.NO_CONTENT
    assert api.delete(f"{EXCEPTIONS}/{body['id']}").status_code == HTTPStatus.NOT_FOUND
    actions = list(ActivityLog.objects.values_list("action", flat=True))
    assert actions.count("exception.created") == 2
    assert "exception.deleted" in actions


def test_exception_ids_of_another_org_are_404(cast: Cast, tokens: dict[str, str]) -> None:
    other = RepositoryException.objects.create(org=cast.globex, namespace="x", name="y")
    api = client_for(tokens["olivia"])
    assert api.get(f"{EXCEPTIONS}/{other.pk}").status_code == HTTPStatus.NOT_FOUND
    assert api.delete(f"{EXCEPTIONS}/{other.pk}").status_code == HTTPStatus.NOT_FOUND
    assert RepositoryException.objects.filter(pk=other.pk).exists()


@pytest.mark.parametrize(
    ("repository", "fragment"),
    [
        ("Foo/Bar", "must be lowercase"),
        ("ghcr.io/a/b", "Docker Hub repositories only"),
        ("nginx:1.27", "without a tag or digest"),
        ("a/b/c", "namespace/name"),
        ("///", "invalid reference format"),
        ("", "repository: "),
    ],
)
def test_bad_exception_repository_gets_400_with_parser_message(
    cast: Cast, tokens: dict[str, str], repository: str, fragment: str
) -> None:
    response = client_for(tokens["olivia"]).post(
        EXCEPTIONS, {"repository": repository}, format="json"
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert fragment in response.json()["error"]["message"]
    assert not RepositoryException.objects.exists()


def test_duplicate_exception_and_past_expiry_are_refused(
    cast: Cast, tokens: dict[str, str]
) -> None:
    api = client_for(tokens["olivia"])
    api.post(EXCEPTIONS, {"repository": "a/b"}, format="json")
    dup = api.post(EXCEPTIONS, {"repository": "a/b"}, format="json")
    assert dup.status_code == HTTPStatus.BAD_REQUEST
    assert "already has an exception" in dup.json()["error"]["message"]
    past = api.post(
        EXCEPTIONS, {"repository": "c/d", "expires_at": "2001-01-01T00:00:00Z"}, format="json"
    )
    assert past.status_code == HTTPStatus.BAD_REQUEST
    assert "future" in past.json()["error"]["message"]
    bad_date = api.post(EXCEPTIONS, {"repository": "c/d", "expires_at": "soon"}, format="json")
    assert bad_date.status_code == HTTPStatus.BAD_REQUEST
    assert bad_date.json()["error"]["message"].startswith("expires_at: ")


def test_exception_allows_a_denied_repository(cast: Cast, tokens: dict[str, str]) -> None:
    owner = client_for(tokens["olivia"])
    owner.patch(POLICY, {"enabled": True}, format="json")
    owner.post(EXCEPTIONS, {"repository": "someuser/*"}, format="json")
    result = client_for(tokens["mike"]).post(
        "/api/v1/decisions", {"image": "someuser/custom-image"}, format="json"
    )
    decision = result.json()["decisions"][0]
    assert decision["allowed"] is True
    assert decision["exception_id"] == RepositoryException.objects.get().pk


def test_openapi_schema_and_docs_are_served(cast: Cast, client) -> None:
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == HTTPStatus.OK
    paths = schema.json()["paths"]
    for path in (
        "/api/v1/decisions",
        "/api/v1/orgs/{slug}/image-access",
        "/api/v1/orgs/{slug}/exceptions",
        "/api/v1/orgs/{slug}/exceptions/{id}",
        "/api/v1/me",
    ):
        assert path in paths, path
    examples = paths["/api/v1/decisions"]["post"]["requestBody"]["content"]["application/json"]
    assert "examples" in examples
    docs = client.get("/api/docs/")
    assert docs.status_code == HTTPStatus.OK
    assert b"cdn" not in docs.content.lower()


def test_owner_blocks_images_loaded_from_files_and_it_is_logged(
    cast: Cast, tokens: dict[str, str]
) -> None:
    response = client_for(tokens["olivia"]).patch(POLICY, {"block_image_load": True}, format="json")
    assert response.status_code == HTTPStatus.OK
    assert response.json()["block_image_load"] is True
    entry = ActivityLog.objects.get(action="policy.updated")
    assert (entry.before, entry.after) == ({"block_image_load": False}, {"block_image_load": True})
    bad = client_for(tokens["olivia"]).patch(POLICY, {"block_image_load": "yes"}, format="json")
    assert bad.status_code == HTTPStatus.BAD_REQUEST
    assert "block_image_load" in bad.json()["error"]["message"]
    member = client_for(tokens["mike"]).patch(POLICY, {"block_image_load": False}, format="json")
    assert member.status_code == HTTPStatus.FORBIDDEN
