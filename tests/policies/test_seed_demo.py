"""``manage.py seed_demo``: output shape and idempotence."""

from __future__ import annotations

import io
import json
from http import HTTPStatus

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from orgs.models import Membership, Organization, PersonalAccessToken
from policies.models import PublisherNamespace

pytestmark = pytest.mark.django_db


def seed() -> dict:
    out = io.StringIO()
    call_command("seed_demo", "--json", stdout=out)
    return json.loads(out.getvalue())


def test_seed_demo_json_has_orgs_users_passwords_tokens_and_roles() -> None:
    data = seed()
    assert data["orgs"] == ["acme", "globex"]
    assert set(data["users"]) == {"olivia", "erin", "mike", "charlie"}
    assert data["users"]["olivia"]["orgs"] == {"acme": "owner"}
    assert data["users"]["erin"]["orgs"] == {"acme": "editor"}
    assert data["users"]["mike"]["orgs"] == {"acme": "member"}
    assert data["users"]["charlie"]["orgs"] == {"globex": "member"}
    for info in data["users"].values():
        assert info["token"].startswith("dckr_pat_")
        assert info["password"]
    acme = Organization.objects.get(slug="acme")
    assert (acme.name, acme.plan) == ("Acme Corp", "business")
    assert list(acme.namespaces.values_list("name", flat=True)) == ["acme"]
    assert PublisherNamespace.objects.exists()


def test_seed_demo_is_idempotent_and_revokes_earlier_demo_tokens() -> None:
    first = seed()
    second = seed()
    assert Organization.objects.count() == 2
    assert Membership.objects.count() == 4
    assert PersonalAccessToken.objects.active().count() == 4
    assert PersonalAccessToken.objects.count() == 8
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {first['users']['mike']['token']}")
    assert api.get("/api/v1/me").status_code == HTTPStatus.UNAUTHORIZED
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {second['users']['mike']['token']}")
    assert api.get("/api/v1/me").status_code == HTTPStatus.OK
    admin_token = PersonalAccessToken.objects.active().get(user__username="olivia")
    assert admin_token.scope == "admin"


def test_demo_users_can_sign_in_with_the_printed_password(client) -> None:
    data = seed()
    response = client.post(
        "/accounts/login/",
        {"login": "mike", "password": data["users"]["mike"]["password"]},
    )
    assert response.status_code == HTTPStatus.FOUND
    assert client.get("/orgs/acme/").status_code == HTTPStatus.OK
