"""Image access, exceptions, organization list and layout pages (Django's test client)."""

from __future__ import annotations

import datetime as dt
import re
from http import HTTPStatus
from pathlib import Path

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from orgs.models import ActivityLog, Membership, Plan
from orgs.roles import Role
from policies.models import ImageAccessPolicy, RepositoryException
from policies.services import BUSINESS_REQUIRED, PolicyError, parse_repository_pattern
from tests.conftest import Cast, make_user
from tests.pages import World, client_for, messages_of

IMAGE_ACCESS = reverse("policies:image-access", kwargs={"slug": "acme"})
EXCEPTIONS = reverse("policies:exceptions", kwargs={"slug": "acme"})
ALL_ON = {"enabled": "on", "allow_official": "on", "allow_verified_publisher": "on"}


def policy() -> ImageAccessPolicy:
    return ImageAccessPolicy.objects.get(org__slug="acme")


# --- Image access -----------------------------------------------------------------------------


def test_owner_turns_on_image_access_and_sees_what_changed(world: World) -> None:
    version = policy().version
    client = client_for(world.cast.olivia)

    response = client.post(IMAGE_ACCESS, {**ALL_ON, "allow_community": "on"}, follow=True)

    assert response.status_code == HTTPStatus.OK
    assert "Saved: image access turned on; community images allowed." in response.text
    saved = policy()
    assert saved.enabled
    assert saved.allow_community
    assert saved.version == version + 1
    assert saved.updated_by == world.cast.olivia
    log = ActivityLog.objects.filter(org=world.cast.acme, action="policy.updated").get()
    assert log.after == {"enabled": True, "allow_community": True}


def test_owner_unchecking_a_type_says_not_allowed(world: World) -> None:
    client = client_for(world.cast.olivia)
    response = client.post(IMAGE_ACCESS, {"enabled": "on", "allow_official": "on"}, follow=True)
    assert (
        "Saved: image access turned on; Docker Verified Publisher images not allowed."
        in response.text
    )


def test_saving_unchanged_settings_bumps_nothing(world: World) -> None:
    version = policy().version
    client = client_for(world.cast.olivia)
    response = client.post(IMAGE_ACCESS, {"allow_official": "on", "allow_verified_publisher": "on"})
    assert response.status_code == HTTPStatus.FOUND
    assert messages_of(response) == ["Nothing changed."]
    assert policy().version == version


def test_member_sees_policy_read_only(world: World) -> None:
    client_for(world.cast.olivia).post(IMAGE_ACCESS, {"enabled": "on", "allow_official": "on"})

    response = client_for(world.cast.mike).get(IMAGE_ACCESS)

    html = response.text
    assert response.status_code == HTTPStatus.OK
    assert "Only owners can change these settings." in html
    checkboxes = re.findall(r"<input type=\"checkbox\"[^>]*>", html)
    assert len(checkboxes) == 7  # switch, organization, three types, audit mode, load
    assert all(" disabled" in tag for tag in checkboxes)
    assert "Save changes" not in html
    assert "<strong>You can pull:</strong> Organization images, Docker Official Images." in html
    assert (
        "Community images (including Docker-Sponsored Open Source), Docker Verified Publisher "
        "images, unless" in html
    )
    assert "Owners are not restricted." in html


def test_editor_sees_the_same_read_only_page(world: World) -> None:
    response = client_for(world.cast.erin).get(IMAGE_ACCESS)
    assert "Only owners can change these settings." in response.text
    assert "Your role in Acme Corp is editor" in response.text


def test_owner_sees_enabled_controls_and_organization_images_locked(world: World) -> None:
    html = client_for(world.cast.olivia).get(IMAGE_ACCESS).text
    assert "Only owners can change" not in html
    assert "Save changes" in html
    organization = re.search(r"<input[^>]*id=\"id_allow_organization\"[^>]*>", html)
    assert organization
    assert "checked" in organization[0]
    assert "disabled" in organization[0]
    community = re.search(r"<input[^>]*name=\"allow_community\"[^>]*>", html)
    assert community
    assert "disabled" not in community[0]
    for label in (
        "Organization images",
        "Community images",
        "Docker Verified Publisher images",
        "Docker Official Images",
        "Docker-Sponsored Open Source",
    ):
        assert label in html


def test_forged_post_by_member_is_forbidden_and_changes_nothing(world: World) -> None:
    before = policy().settings_dict(), policy().version
    response = client_for(world.cast.mike).post(IMAGE_ACCESS, {**ALL_ON, "allow_community": "on"})
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert (policy().settings_dict(), policy().version) == before
    assert not ActivityLog.objects.filter(action="policy.updated").exists()


def test_outsider_gets_404(world: World) -> None:
    assert client_for(world.cast.charlie).get(IMAGE_ACCESS).status_code == HTTPStatus.NOT_FOUND


def test_policy_off_summary_says_anything_goes(world: World) -> None:
    html = client_for(world.cast.mike).get(IMAGE_ACCESS).text
    assert "Image access management is off: members can pull any Docker Hub image." in html
    assert "Never changed: these are the defaults" in html


def test_audit_mode_is_explained(world: World) -> None:
    client_for(world.cast.olivia).post(IMAGE_ACCESS, {**ALL_ON, "audit_mode": "on"})
    html = client_for(world.cast.mike).get(IMAGE_ACCESS).text
    assert "Audit mode is on:" in html


def test_page_shows_who_changed_it_last(world: World) -> None:
    client_for(world.cast.olivia).post(IMAGE_ACCESS, ALL_ON)
    html = client_for(world.cast.mike).get(IMAGE_ACCESS).text
    when = timezone.localtime(policy().updated_at)
    assert f'Last changed by olivia on <time datetime="{when.isoformat()}">' in html


def test_non_business_org_explains_why_the_switch_is_unavailable(world: World) -> None:
    world.cast.acme.plan = Plan.TEAM
    world.cast.acme.save()
    client = client_for(world.cast.olivia)

    html = client.get(IMAGE_ACCESS).text
    switch = re.search(r"<input[^>]*name=\"enabled\"[^>]*>", html)
    assert switch
    assert "disabled" in switch[0]
    assert BUSINESS_REQUIRED in html

    # A forged "on" is ignored (the field is disabled); the other choices still save.
    client.post(IMAGE_ACCESS, {**ALL_ON, "allow_community": "on"})
    assert not policy().enabled
    assert policy().allow_community


def test_downgraded_org_with_policy_on_can_turn_it_off(world: World) -> None:
    client_for(world.cast.olivia).post(IMAGE_ACCESS, ALL_ON)
    world.cast.acme.plan = Plan.TEAM
    world.cast.acme.save()
    html = client_for(world.cast.mike).get(IMAGE_ACCESS).text
    assert "switched on but not in effect" in html
    client_for(world.cast.olivia).post(IMAGE_ACCESS, {"allow_official": "on"})
    assert not policy().enabled


# --- Exceptions -------------------------------------------------------------------------------


def test_owner_adds_a_namespace_exception_with_expiry(world: World) -> None:
    day = timezone.localdate() + dt.timedelta(days=10)
    response = client_for(world.cast.olivia).post(
        EXCEPTIONS,
        {"repository": "grafana/*", "reason": "dashboards", "expires_on": day.isoformat()},
        follow=True,
    )
    assert "Exception added: members may pull grafana/*." in response.text
    exception = RepositoryException.objects.get(org=world.cast.acme, namespace="grafana")
    assert exception.name == "*"
    assert exception.reason == "dashboards"
    assert timezone.localtime(exception.expires_at).date() == day + dt.timedelta(days=1)
    assert ActivityLog.objects.filter(action="exception.created", target="grafana/*").exists()


def test_invalid_repository_shows_the_parser_message(world: World) -> None:
    try:
        parse_repository_pattern("Bitnami/Redis")
    except PolicyError as exc:
        expected = str(exc)
    count = RepositoryException.objects.count()

    response = client_for(world.cast.olivia).post(EXCEPTIONS, {"repository": "Bitnami/Redis"})

    assert response.status_code == HTTPStatus.OK
    assert escape(expected) in response.text
    assert RepositoryException.objects.count() == count


def test_repository_outside_docker_hub_is_refused(world: World) -> None:
    response = client_for(world.cast.olivia).post(EXCEPTIONS, {"repository": "ghcr.io/a/b"})
    assert "exceptions apply to Docker Hub repositories only" in response.text


def test_duplicate_exception_is_refused(world: World) -> None:
    response = client_for(world.cast.olivia).post(EXCEPTIONS, {"repository": "bitnami/redis"})
    assert "bitnami/redis already has an exception" in response.text


def test_exception_expiry_in_the_past_is_refused(world: World) -> None:
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    response = client_for(world.cast.olivia).post(
        EXCEPTIONS, {"repository": "grafana/grafana", "expires_on": yesterday.isoformat()}
    )
    assert "Pick today or a later date." in response.text
    assert not RepositoryException.objects.filter(namespace="grafana").exists()


def test_owner_removes_an_exception(world: World) -> None:
    url = reverse("policies:exception-remove", kwargs={"slug": "acme", "pk": world.exception.pk})
    response = client_for(world.cast.olivia).post(url, follow=True)
    assert "Exception for bitnami/redis removed." in response.text
    assert not RepositoryException.objects.filter(pk=world.exception.pk).exists()
    assert ActivityLog.objects.filter(action="exception.deleted").exists()


def test_exceptions_of_another_org_cannot_be_removed(world: World) -> None:
    theirs = RepositoryException.objects.create(org=world.cast.globex, namespace="x", name="*")
    url = reverse("policies:exception-remove", kwargs={"slug": "acme", "pk": theirs.pk})
    response = client_for(world.cast.olivia).post(url)
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert RepositoryException.objects.filter(pk=theirs.pk).exists()


def test_member_reads_exceptions_without_controls(world: World) -> None:
    html = client_for(world.cast.mike).get(EXCEPTIONS).text
    assert "bitnami/redis" in html
    assert "cache" in html
    assert "Only owners can add or remove exceptions." in html
    assert "Add an exception" not in html
    assert "Remove" not in html


def test_owner_sees_remove_with_confirmation(world: World) -> None:
    html = client_for(world.cast.olivia).get(EXCEPTIONS).text
    assert 'data-confirm="Remove the exception for bitnami/redis?' in html


# --- Organizations, switching, layout --------------------------------------------------------


def test_user_without_organization_sees_empty_state(db: None) -> None:
    loner = make_user("loner")
    html = client_for(loner).get(reverse("orgs:list")).text
    assert "You are not in an organization yet" in html
    assert "Ask one of its owners to invite you" in html
    assert "Create an organization" in html


def test_creating_an_organization_makes_you_owner(cast: Cast) -> None:
    response = client_for(cast.mike).post(
        reverse("orgs:list"), {"name": "Mike Co", "slug": "mikeco", "plan": "business"}
    )
    assert response["Location"] == reverse("orgs:home", kwargs={"slug": "mikeco"})
    assert Membership.objects.get(org__slug="mikeco", user=cast.mike).role == Role.OWNER


def test_taken_namespace_is_refused(cast: Cast) -> None:
    response = client_for(cast.mike).post(
        reverse("orgs:list"), {"name": "Dup", "slug": "globex", "plan": "business"}
    )
    assert "That namespace is already taken." in response.text


def test_switcher_only_goes_to_own_organizations(cast: Cast) -> None:
    client = client_for(cast.olivia)
    response = client.get(reverse("orgs:list"), {"switch": "acme"})
    assert response["Location"] == reverse("orgs:home", kwargs={"slug": "acme"})
    assert client.get(reverse("orgs:list"), {"switch": "globex"}).status_code == HTTPStatus.OK


def test_layout_shows_navigation_user_and_tokens_link(world: World) -> None:
    html = client_for(world.cast.olivia).get(IMAGE_ACCESS).text
    for label in ("Image access", "Exceptions", "Members", "Tokens", "Activity", "Sign out"):
        assert label in html
    assert 'aria-current="page">Image access' in html
    assert f'href="{reverse("tokens")}"' in html
    assert '<option value="acme" selected>Acme Corp</option>' in html


def test_activity_link_only_for_owners(world: World) -> None:
    activity = reverse("orgs:activity", kwargs={"slug": "acme"})
    assert activity in client_for(world.cast.olivia).get(IMAGE_ACCESS).text
    assert activity not in client_for(world.cast.mike).get(IMAGE_ACCESS).text


def test_pages_send_the_content_security_policy(world: World) -> None:
    response = client_for(world.cast.olivia).get(IMAGE_ACCESS)
    assert "script-src 'self'" in response["Content-Security-Policy"]


def test_templates_have_no_inline_script_or_style() -> None:
    """The CSP forbids inline code; catch it in review rather than in a blank browser page."""
    offenders = []
    for path in Path(settings.BASE_DIR, "templates").rglob("*.html"):
        text = path.read_text()
        if re.search(r"<script(?![^>]*\bsrc=)", text) or re.search(r"<style\b", text):
            offenders.append(f"{path}: inline script or style element")
        if re.search(r"\sstyle=|\son[a-z]+=", text):
            offenders.append(f"{path}: inline style or event handler attribute")
    assert offenders == []


def test_owner_blocks_images_loaded_from_files_and_members_read_it(world: World) -> None:
    response = client_for(world.cast.olivia).post(
        IMAGE_ACCESS, {**ALL_ON, "block_image_load": "on"}, follow=True
    )
    assert "docker load and import blocked" in response.text
    assert policy().block_image_load
    log = ActivityLog.objects.filter(org=world.cast.acme, action="policy.updated").latest("pk")
    assert log.after["block_image_load"] is True
    html = client_for(world.cast.mike).get(IMAGE_ACCESS).text
    field = re.search(r"<input[^>]*name=\"block_image_load\"[^>]*>", html)
    assert field
    assert "checked" in field[0]
    assert "disabled" in field[0]
    assert "Block images loaded from files" in html
