"""Organization settings, namespaces, deletion, and re-authentication for sensitive acts."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from orgs.models import ActivityLog, Membership, Namespace, Organization, PersonalAccessToken
from tests.conftest import Cast
from tests.pages import client_for

pytestmark = pytest.mark.django_db
REAUTH = "/accounts/reauthenticate/"


def test_owner_changes_settings_and_it_is_logged(cast: Cast) -> None:
    client = client_for(cast.olivia)
    response = client.post(
        "/orgs/acme/settings/",
        {"name": "Acme Inc", "enforce_sign_in": "on", "require_two_factor": ""},
    )
    assert response.status_code == HTTPStatus.FOUND
    acme = Organization.objects.get(slug="acme")
    assert (acme.name, acme.enforce_sign_in, acme.require_two_factor) == ("Acme Inc", True, False)
    entry = ActivityLog.objects.get(action="org.updated")
    assert entry.before == {"name": "Acme Corp", "enforce_sign_in": False}
    assert entry.after == {"name": "Acme Inc", "enforce_sign_in": True}


def test_member_sees_settings_read_only(cast: Cast) -> None:
    page = client_for(cast.mike).get("/orgs/acme/settings/")
    assert page.status_code == HTTPStatus.OK
    assert "Only owners can change these settings." in page.text
    assert "<fieldset disabled>" in page.text
    assert "Delete this organization" not in page.text


def test_blank_name_is_refused_with_a_message(cast: Cast) -> None:
    response = client_for(cast.olivia).post("/orgs/acme/settings/", {"name": ""})
    assert response.status_code == HTTPStatus.OK
    assert "This field is required." in response.text
    assert Organization.objects.get(slug="acme").name == "Acme Corp"


def test_namespaces_are_added_validated_and_the_last_one_kept(cast: Cast) -> None:
    client = client_for(cast.olivia)
    client.post("/orgs/acme/settings/namespaces/", {"name": "acme-labs"})
    assert set(Namespace.objects.filter(org=cast.acme).values_list("name", flat=True)) == {
        "acme",
        "acme-labs",
    }
    bad = client.post("/orgs/acme/settings/namespaces/", {"name": "Not Valid"}, follow=True)
    assert "A namespace is 2 or more lowercase letters" in bad.text
    taken = client.post("/orgs/acme/settings/namespaces/", {"name": "globex"}, follow=True)
    assert "already exists" in taken.text
    labs = Namespace.objects.get(name="acme-labs")
    client.post(f"/orgs/acme/settings/namespaces/{labs.pk}/remove/")
    only = Namespace.objects.get(name="acme")
    kept = client.post(f"/orgs/acme/settings/namespaces/{only.pk}/remove/", follow=True)
    assert "keeps at least one namespace" in kept.text
    assert Namespace.objects.filter(org=cast.acme).count() == 1


def test_namespace_of_another_org_is_404(cast: Cast) -> None:
    theirs = Namespace.objects.get(name="globex")
    response = client_for(cast.olivia).post(f"/orgs/acme/settings/namespaces/{theirs.pk}/remove/")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert Namespace.objects.filter(pk=theirs.pk).exists()


def test_deleting_needs_the_slug_typed(cast: Cast) -> None:
    client = client_for(cast.olivia)
    wrong = client.post("/orgs/acme/delete/", {"confirm": "acm"}, follow=True)
    assert "Type acme to confirm the deletion." in wrong.text
    assert Organization.objects.filter(slug="acme").exists()
    done = client.post("/orgs/acme/delete/", {"confirm": "acme"})
    assert done["Location"] == "/orgs/"
    assert not Organization.objects.filter(slug="acme").exists()
    assert not Membership.objects.filter(org__slug="acme").exists()
    entry = ActivityLog.objects.get(action="org.deleted")
    assert (entry.org, entry.target, entry.actor) == (None, "acme", cast.olivia)


@pytest.mark.parametrize(
    ("url", "data"),
    [
        ("/settings/tokens/", {"name": "ci", "scope": "read", "expiry": "30"}),
        ("/orgs/acme/delete/", {"confirm": "acme"}),
        ("/orgs/acme/members/{mike}/role/", {"role": "editor"}),
    ],
)
def test_sensitive_acts_ask_for_the_password_again(
    cast: Cast, url: str, data: dict[str, str]
) -> None:
    mike = Membership.objects.get(org=cast.acme, user=cast.mike)
    client = client_for(cast.olivia, recently_authenticated=False)
    response = client.post(url.format(mike=mike.pk), data)
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"].startswith(REAUTH)
    assert Organization.objects.filter(slug="acme").exists()
    assert Membership.objects.get(pk=mike.pk).role == "member"
    assert not PersonalAccessToken.objects.filter(name="ci").exists()


def test_after_confirming_the_password_the_suspended_action_completes(cast: Cast) -> None:
    from tests.conftest import PASSWORD

    client = client_for(cast.olivia, recently_authenticated=False)
    first = client.post("/settings/tokens/", {"name": "ci", "scope": "read", "expiry": "30"})
    assert first["Location"].startswith(REAUTH)
    confirmed = client.post(first["Location"], {"password": PASSWORD}, follow=True)
    assert confirmed.status_code == HTTPStatus.OK
    assert PersonalAccessToken.objects.filter(user=cast.olivia, name="ci").exists()
    assert "dckr_pat_" in confirmed.text
