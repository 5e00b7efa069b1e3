"""The Registry access page: owners switch it and edit the list, members read (test client)."""

from __future__ import annotations

from http import HTTPStatus

from django.urls import reverse

from orgs.models import ActivityLog, Plan
from policies.models import RegistryAccessPolicy
from tests.pages import World, client_for

PAGE = reverse("policies:registry-access", kwargs={"slug": "acme"})
SWITCH = reverse("policies:registry-access-switch", kwargs={"slug": "acme"})
REMOVE = reverse("policies:registry-access-remove", kwargs={"slug": "acme"})


def access() -> RegistryAccessPolicy:
    return RegistryAccessPolicy.objects.get(org__slug="acme")


def test_owner_adds_a_registry_and_turns_registry_access_on(world: World) -> None:
    owner = client_for(world.cast.olivia)
    page = owner.get(PAGE)
    assert "Registry access is <strong>off</strong>" in page.text
    assert "<code>docker.io</code>" in page.text

    added = owner.post(PAGE, {"host": "GHCR.io:443", "note": "our packages"}, follow=True)
    assert "ghcr.io added to the allowed registries." in added.text
    assert access().registries == [
        {"host": "docker.io", "note": "Docker Hub"},
        {"host": "ghcr.io", "note": "our packages"},
    ]

    switched = owner.post(SWITCH, {"enabled": "on"}, follow=True)
    assert "Registry access is on: only the listed registries can be pulled." in switched.text
    assert access().enabled
    assert "images can be pulled only from <code>docker.io</code>, <code>ghcr.io</code>" in (
        switched.text
    )
    assert ActivityLog.objects.filter(action="registry_access.updated").count() == 2


def test_a_bad_host_is_shown_on_the_field_and_changes_nothing(world: World) -> None:
    owner = client_for(world.cast.olivia)
    response = owner.post(PAGE, {"host": "https://ghcr.io/x", "note": ""})
    assert response.status_code == HTTPStatus.OK
    assert "give the host name only" in response.text
    duplicate = owner.post(PAGE, {"host": "index.docker.io", "note": ""})
    assert "docker.io is already in the list" in duplicate.text
    assert access().version == 1


def test_owner_removes_a_registry(world: World) -> None:
    owner = client_for(world.cast.olivia)
    owner.post(PAGE, {"host": "quay.io", "note": ""})
    removed = owner.post(REMOVE, {"host": "quay.io"}, follow=True)
    assert "quay.io removed from the allowed registries." in removed.text
    assert access().hosts == ["docker.io"]
    missing = owner.post(REMOVE, {"host": "nowhere.example"}, follow=True)
    assert "That registry is not in the list." in missing.text


def test_a_member_reads_it_without_any_form(world: World) -> None:
    member = client_for(world.cast.mike)
    page = member.get(PAGE)
    assert page.status_code == HTTPStatus.OK
    assert "Only owners can change these settings" in page.text
    assert "Add a registry" not in page.text
    assert "Turn registry access" not in page.text
    assert member.post(PAGE, {"host": "ghcr.io"}).status_code == HTTPStatus.FORBIDDEN
    assert member.post(SWITCH, {"enabled": "on"}).status_code == HTTPStatus.FORBIDDEN


def test_without_business_it_cannot_be_turned_on(world: World) -> None:
    world.cast.acme.plan = Plan.TEAM
    world.cast.acme.save()
    owner = client_for(world.cast.olivia)
    assert "cannot be turned on: registry access management requires a Business" in (
        owner.get(PAGE).text
    )
    refused = owner.post(SWITCH, {"enabled": "on"}, follow=True)
    assert "Registry access management requires a Business subscription." in refused.text
    assert not access().enabled


def test_a_bad_switch_value_changes_nothing(world: World) -> None:
    owner = client_for(world.cast.olivia)
    response = owner.post(SWITCH, {"enabled": "maybe"}, follow=True)
    assert "Choose on or off." in response.text
    assert access().version == 1


def test_a_member_asks_for_a_registry_on_my_access(world: World) -> None:
    from policies.models import AccessRequest
    from policies.registry_access import update_registry_access

    update_registry_access(org=world.cast.acme, actor=world.cast.olivia, enabled=True)
    my_access = reverse("policies:my-access", kwargs={"slug": "acme"})
    member = client_for(world.cast.mike)
    response = member.post(
        my_access,
        {"kind": "registry", "registry": "ghcr.io", "justification": "our packages"},
        follow=True,
    )
    assert response.status_code == HTTPStatus.OK
    request = AccessRequest.objects.get(requester=world.cast.mike, kind="registry")
    assert (request.kind, request.value) == ("registry", "ghcr.io")
    bad = member.post(
        my_access, {"kind": "registry", "registry": "ghcr.io/x", "justification": "x"}
    )
    assert "give the host name only" in bad.text
