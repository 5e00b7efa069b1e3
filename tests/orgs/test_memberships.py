"""Role rules, invitations and the activity log they write."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from orgs.models import ActivityLog, Invitation, Membership
from orgs.roles import Role
from orgs.services import (
    MembershipError,
    accept_invitation,
    cancel_invitation,
    change_role,
    create_organization,
    decline_invitation,
    find_invitation,
    invite,
    remove_member,
    renew_invitation,
)
from tests.conftest import Cast, make_user

pytestmark = pytest.mark.django_db


def membership(cast: Cast, name: str) -> Membership:
    return Membership.objects.get(org=cast.acme, user=cast.user(name))


def test_creator_of_an_organization_becomes_owner_and_owns_its_namespace(cast: Cast) -> None:
    org = create_organization(creator=cast.mike, slug="initech", name="Initech")
    assert Membership.objects.get(org=org, user=cast.mike).role == Role.OWNER
    assert list(org.namespaces.values_list("name", flat=True)) == ["initech"]
    assert ActivityLog.objects.filter(org=org, action="org.created").exists()


def test_owner_changes_a_role_and_it_is_logged_with_before_and_after(cast: Cast) -> None:
    change_role(actor=membership(cast, "olivia"), target=membership(cast, "mike"), role="editor")
    assert membership(cast, "mike").role == Role.EDITOR
    entry = ActivityLog.objects.get(action="member.role_changed")
    assert (entry.before, entry.after, entry.actor) == (
        {"role": "member"},
        {"role": "editor"},
        cast.olivia,
    )


@pytest.mark.parametrize("actor", ["erin", "mike"])
def test_only_owners_manage_members(cast: Cast, actor: str) -> None:
    with pytest.raises(MembershipError, match="Only owners"):
        change_role(actor=membership(cast, actor), target=membership(cast, "mike"), role="owner")
    with pytest.raises(MembershipError, match="Only owners"):
        remove_member(actor=membership(cast, actor), target=membership(cast, "olivia"))
    assert membership(cast, "olivia").role == Role.OWNER


def test_nobody_changes_their_own_role(cast: Cast) -> None:
    change_role(actor=membership(cast, "olivia"), target=membership(cast, "erin"), role="owner")
    with pytest.raises(MembershipError, match="your own role"):
        change_role(actor=membership(cast, "erin"), target=membership(cast, "erin"), role="member")


def test_last_owner_can_be_neither_demoted_nor_removed(cast: Cast) -> None:
    olivia = membership(cast, "olivia")
    with pytest.raises(MembershipError, match="last owner"):
        remove_member(actor=olivia, target=olivia)
    # A second owner cannot demote her either once she is the only one left.
    change_role(actor=olivia, target=membership(cast, "erin"), role="owner")
    remove_member(actor=membership(cast, "erin"), target=olivia)
    erin = membership(cast, "erin")
    with pytest.raises(MembershipError, match="last owner"):
        remove_member(actor=erin, target=erin)
    assert Membership.objects.filter(org=cast.acme, role=Role.OWNER).count() == 1


def test_member_may_leave(cast: Cast) -> None:
    mike = membership(cast, "mike")
    remove_member(actor=mike, target=mike)
    assert not Membership.objects.filter(org=cast.acme, user=cast.mike).exists()
    assert ActivityLog.objects.filter(action="member.left").exists()


def test_invitation_by_username_is_accepted_once(cast: Cast) -> None:
    newbie = make_user("newbie")
    issued = invite(actor=membership(cast, "olivia"), username="newbie", role="editor")
    assert find_invitation(issued.secret) == issued.invitation
    created = accept_invitation(invitation=issued.invitation, user=newbie)
    assert created.role == Role.EDITOR
    with pytest.raises(MembershipError, match="accepted"):
        accept_invitation(invitation=issued.invitation, user=newbie)
    assert issued.invitation.token_hash != issued.secret


def test_invitation_to_a_username_nobody_has_yet_is_issued_like_any_other(cast: Cast) -> None:
    """Whether an account exists is never the answer: whoever signs up with that name later
    accepts the invitation like anyone else."""
    olivia = membership(cast, "olivia")
    unknown = invite(actor=olivia, username="Not-Yet-Here", role="editor")
    known = invite(actor=olivia, username="charlie", role="editor")
    for issued in (unknown, known):
        assert issued.invitation.status == Invitation.Status.PENDING
        assert ActivityLog.objects.filter(
            action="invitation.created", target=issued.invitation.invitee
        ).exists()
    newcomer = make_user("not-yet-here")
    created = accept_invitation(invitation=unknown.invitation, user=newcomer)
    assert created.role == Role.EDITOR


def test_invitations_to_accounts_and_to_nobody_run_the_same_queries(cast: Cast) -> None:
    """The same work either way, so the time taken does not tell an account apart."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    olivia = membership(cast, "olivia")
    invite(actor=olivia, email="warm-up@example.com")  # loads what every later call reuses
    shapes = []
    for kwargs in (
        {"username": "charlie"},
        {"username": "nobody-at-all"},
        {"email": "charlie@example.com"},
        {"email": "nobody@example.com"},
    ):
        with CaptureQueriesContext(connection) as queries:
            invite(actor=olivia, **kwargs)
        shapes.append(len(queries.captured_queries))
    assert len(set(shapes)) == 1, shapes


def test_already_a_member_is_said_in_the_words_the_owner_typed(cast: Cast) -> None:
    """The owner sees members' names and addresses on the members page; the answer adds
    nothing to that, and never maps an address to a username."""
    olivia = membership(cast, "olivia")
    with pytest.raises(MembershipError) as by_email:
        invite(actor=olivia, email="MIKE@example.com")
    assert str(by_email.value) == "mike@example.com is already a member."
    with pytest.raises(MembershipError) as by_name:
        invite(actor=olivia, username="Mike")
    assert str(by_name.value) == "Mike is already a member."


def test_invitation_by_email_only_works_for_that_address(cast: Cast) -> None:
    issued = invite(actor=membership(cast, "olivia"), email="New@Example.com")
    stranger = make_user("stranger")
    with pytest.raises(MembershipError, match="another email"):
        accept_invitation(invitation=issued.invitation, user=stranger)
    invitee = make_user("new")  # new@example.com
    accept_invitation(invitation=issued.invitation, user=invitee)
    assert Membership.objects.filter(org=cast.acme, user=invitee, role="member").exists()


def test_expired_invitation_cannot_be_accepted_but_can_be_renewed(cast: Cast) -> None:
    newbie = make_user("newbie")
    issued = invite(actor=membership(cast, "olivia"), username="newbie")
    Invitation.objects.filter(pk=issued.invitation.pk).update(
        expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    issued.invitation.refresh_from_db()
    with pytest.raises(MembershipError, match="expired"):
        accept_invitation(invitation=issued.invitation, user=newbie)
    renewed = renew_invitation(actor=membership(cast, "olivia"), invitation=issued.invitation)
    assert find_invitation(issued.secret) is None  # the old link is dead
    accept_invitation(invitation=renewed.invitation, user=newbie)


def test_declined_and_cancelled_invitations_are_dead(cast: Cast) -> None:
    newbie = make_user("newbie")
    olivia = membership(cast, "olivia")
    first = invite(actor=olivia, username="newbie")
    decline_invitation(invitation=first.invitation, user=newbie)
    with pytest.raises(MembershipError, match="declined"):
        accept_invitation(invitation=first.invitation, user=newbie)
    second = invite(actor=olivia, username="newbie")
    cancel_invitation(actor=olivia, invitation=second.invitation)
    with pytest.raises(MembershipError, match="cancelled"):
        accept_invitation(invitation=second.invitation, user=newbie)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"username": "mike"}, "already a member"),
        ({}, "either an email address or a username"),
        ({"username": "x", "email": "x@example.com"}, "either an email"),
        ({"email": "a@example.com", "role": "king"}, "Unknown role"),
    ],
)
def test_bad_invitations_are_refused_with_a_reason(
    cast: Cast, kwargs: dict[str, str], message: str
) -> None:
    with pytest.raises(MembershipError, match=message):
        invite(actor=membership(cast, "olivia"), **kwargs)


def test_non_owner_cannot_invite(cast: Cast) -> None:
    with pytest.raises(MembershipError, match="Only owners"):
        invite(actor=membership(cast, "erin"), email="a@example.com")
    assert not Invitation.objects.exists()


def test_duplicate_pending_invitation_is_refused(cast: Cast) -> None:
    invite(actor=membership(cast, "olivia"), email="a@example.com")
    with pytest.raises(MembershipError, match="already a pending invitation"):
        invite(actor=membership(cast, "olivia"), email="a@example.com")
