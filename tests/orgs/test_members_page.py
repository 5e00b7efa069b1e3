"""Members page and the invitation accept page."""

from __future__ import annotations

import datetime as dt
import re
import time
from http import HTTPStatus
from typing import Any

from django.core import mail
from django.urls import reverse
from django.utils import timezone

from orgs.models import Invitation, Membership
from orgs.roles import Role
from tests.conftest import make_user
from tests.pages import World, client_for, messages_of

MEMBERS = reverse("orgs:members", kwargs={"slug": "acme"})


def member_url(name: str, membership: Membership) -> str:
    return reverse(name, kwargs={"slug": "acme", "pk": membership.pk})


def invitation_link(text: str) -> str:
    match = re.search(r"http://testserver(/invitations/[^/\s]+/)", text)
    assert match, text
    return match[1]


def test_members_are_listed_with_roles(world: World) -> None:
    html = client_for(world.cast.mike).get(MEMBERS).text
    for name in ("olivia", "erin", "mike"):
        assert name in html
    assert "charlie" not in html
    assert "Owner" in html
    assert "Editor" in html
    # Members see no management controls and no email addresses.
    assert "Send invitation" not in html
    assert "olivia@example.com" not in html
    assert "Leave" in html


def test_owner_invites_by_email_gets_link_once_and_an_email(world: World) -> None:
    response = client_for(world.cast.olivia).post(
        MEMBERS, {"invitee": "dana@example.com", "role": "editor"}
    )
    assert response.status_code == HTTPStatus.FOUND
    (message,) = messages_of(response)
    link = invitation_link(message)
    invitation = Invitation.objects.get(email="dana@example.com")
    assert invitation.role == Role.EDITOR
    (sent,) = mail.outbox
    assert sent.to == ["dana@example.com"]
    assert link in sent.body
    # The secret itself is not stored: only its hash.
    assert link.split("/")[2] not in invitation.token_hash


def wait_for_mail(count: int, timeout: float = 5.0) -> None:
    """Invitations by username are emailed in the background: wait for them."""
    deadline = time.monotonic() + timeout
    while len(mail.outbox) < count and time.monotonic() < deadline:
        time.sleep(0.01)


def test_invite_by_username_emails_that_user(world: World) -> None:
    client_for(world.cast.olivia).post(MEMBERS, {"invitee": "charlie", "role": "member"})
    assert Invitation.objects.filter(username="charlie").exists()
    wait_for_mail(1)
    assert mail.outbox[0].to == ["charlie@example.com"]


def _answer(response: Any, invitee: str) -> tuple[int, str, tuple[str, ...]]:
    """A response with the invitee's name and the one-time link taken out."""
    texts = tuple(
        re.sub(r"/invitations/[^/\s]+/", "/invitations/LINK/", m).replace(invitee, "INVITEE")
        for m in messages_of(response)
    )
    return response.status_code, response.get("Location", ""), texts


def test_inviting_an_account_or_nobody_answers_the_same(world: World) -> None:
    """Page answer, messages, redirect and what is stored look the same whether or not the
    username (or the address) belongs to an account."""
    answers = {
        invitee: _answer(
            client_for(world.cast.olivia).post(MEMBERS, {"invitee": invitee, "role": "member"}),
            invitee,
        )
        for invitee in ("charlie", "nobody-at-all", "charlie@example.com", "nobody@example.com")
    }
    by_name = {answers["charlie"], answers["nobody-at-all"]}
    by_email = {answers["charlie@example.com"], answers["nobody@example.com"]}
    assert len(by_name) == 1, by_name
    assert len(by_email) == 1, by_email
    assert Invitation.objects.filter(username__in=["charlie", "nobody-at-all"]).count() == 2
    # The list of pending invitations shows both the same way.
    html = client_for(world.cast.olivia).get(MEMBERS).text
    assert "nobody-at-all" in html
    assert "charlie" in html


def test_a_failing_mail_server_does_not_tell_accounts_apart(world: World, settings: Any) -> None:
    """Mail for a username invitation is sent in the background, so neither its time nor its
    failure shows in the owner's answer."""
    settings.EMAIL_BACKEND = "tests.console.test_members.FailingBackend"
    known = client_for(world.cast.olivia).post(MEMBERS, {"invitee": "charlie", "role": "member"})
    unknown = client_for(world.cast.olivia).post(
        MEMBERS, {"invitee": "nobody-at-all", "role": "member"}
    )
    assert _answer(known, "charlie") == _answer(unknown, "nobody-at-all")


class FailingBackend:
    """An email backend whose server is down."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def send_messages(self, messages: Any) -> int:
        raise ConnectionRefusedError("mail server down")


def test_invite_errors_are_shown(world: World) -> None:
    client = client_for(world.cast.olivia)

    def error_for(invitee: str) -> str:
        return client.post(MEMBERS, {"invitee": invitee, "role": "member"}).text

    assert "mike is already a member." in error_for("mike")
    assert "There is already a pending invitation for them." in error_for("newcomer@example.com")
    assert "Enter a valid email address." in error_for("a@b@c")
    assert mail.outbox == []


def test_owner_changes_a_role(world: World) -> None:
    response = client_for(world.cast.olivia).post(
        member_url("orgs:member-role", world.mike_membership), {"role": "editor"}
    )
    assert messages_of(response) == ["mike is now editor."]
    world.mike_membership.refresh_from_db()
    assert world.mike_membership.role == Role.EDITOR


def test_owner_cannot_change_own_role(world: World) -> None:
    own = Membership.objects.get(org=world.cast.acme, user=world.cast.olivia)
    response = client_for(world.cast.olivia).post(
        member_url("orgs:member-role", own), {"role": "member"}
    )
    assert messages_of(response) == ["You cannot change your own role."]
    own.refresh_from_db()
    assert own.role == Role.OWNER


def test_last_owner_cannot_be_demoted_by_another_owner_rule(world: World) -> None:
    # Make mike an owner, demote olivia, then try to demote mike: he is the last owner.
    Membership.objects.filter(pk=world.mike_membership.pk).update(role=Role.OWNER)
    olivia = Membership.objects.get(org=world.cast.acme, user=world.cast.olivia)
    client_for(world.cast.mike).post(member_url("orgs:member-role", olivia), {"role": "member"})
    response = client_for(world.cast.mike).post(member_url("orgs:member-remove", olivia))
    assert "removed" in messages_of(response)[0]
    response = client_for(world.cast.mike).post(MEMBERS.replace("members/", "leave/"))
    assert messages_of(response) == [
        "The last owner cannot be removed or demoted: make someone else an owner first."
    ]


def test_owner_removes_a_member(world: World) -> None:
    response = client_for(world.cast.olivia).post(
        member_url("orgs:member-remove", world.mike_membership)
    )
    assert messages_of(response) == ["mike was removed."]
    assert not Membership.objects.filter(pk=world.mike_membership.pk).exists()


def test_membership_of_another_org_is_404(world: World) -> None:
    charlie = Membership.objects.get(org=world.cast.globex, user=world.cast.charlie)
    response = client_for(world.cast.olivia).post(member_url("orgs:member-remove", charlie))
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert Membership.objects.filter(pk=charlie.pk).exists()


def test_member_leaves(world: World) -> None:
    response = client_for(world.cast.mike).post(reverse("orgs:leave", kwargs={"slug": "acme"}))
    assert response["Location"] == reverse("orgs:list")
    assert not Membership.objects.filter(org=world.cast.acme, user=world.cast.mike).exists()


def test_last_owner_cannot_leave(world: World) -> None:
    response = client_for(world.cast.olivia).post(reverse("orgs:leave", kwargs={"slug": "acme"}))
    assert "The last owner cannot be removed" in messages_of(response)[0]
    assert Membership.objects.filter(org=world.cast.acme, user=world.cast.olivia).exists()


def test_resend_issues_a_new_link_and_kills_the_old(world: World) -> None:
    client = client_for(world.cast.olivia)
    url = reverse("orgs:invitation-resend", kwargs={"slug": "acme", "pk": world.invitation.pk})
    (message,) = messages_of(client.post(url))
    new_link = invitation_link(message)
    assert world.invitation_secret not in new_link
    newcomer = make_user("newcomer")
    old = reverse("invitation", kwargs={"secret": world.invitation_secret})
    assert client_for(newcomer).get(old).status_code == HTTPStatus.NOT_FOUND
    assert client_for(newcomer).get(new_link).status_code == HTTPStatus.OK
    assert mail.outbox[0].to == ["newcomer@example.com"]


def test_cancel_invitation(world: World) -> None:
    url = reverse("orgs:invitation-cancel", kwargs={"slug": "acme", "pk": world.invitation.pk})
    response = client_for(world.cast.olivia).post(url)
    assert messages_of(response) == ["The invitation for newcomer@example.com was cancelled."]
    world.invitation.refresh_from_db()
    assert world.invitation.status == Invitation.Status.CANCELLED
    # Cancelling twice explains itself.
    response = client_for(world.cast.olivia).post(url)
    assert messages_of(response) == ["This invitation is already cancelled."]


def test_owner_sees_pending_invitations(world: World) -> None:
    html = client_for(world.cast.olivia).get(MEMBERS).text
    assert "newcomer@example.com" in html
    assert "Resend" in html
    assert "Cancel" in html


# --- Invitation accept page -------------------------------------------------------------------


def invitation_url(world: World) -> str:
    return reverse("invitation", kwargs={"secret": world.invitation_secret})


def test_invitation_page_offers_accept_and_decline(world: World) -> None:
    newcomer = make_user("newcomer")
    response = client_for(newcomer).get(invitation_url(world))
    assert "Join Acme Corp" in response.text
    assert 'value="accept"' in response.text
    assert 'value="decline"' in response.text
    assert "no-store" in response["Cache-Control"]


def test_anonymous_invitee_is_sent_to_sign_in_and_back(world: World) -> None:
    response = client_for(None).get(invitation_url(world))
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"].startswith(reverse("account_login"))
    assert "invitations" in response["Location"]


def test_accepting_joins_with_the_invited_role(world: World) -> None:
    newcomer = make_user("newcomer")
    response = client_for(newcomer).post(invitation_url(world), {"action": "accept"})
    assert response["Location"] == reverse("orgs:home", kwargs={"slug": "acme"})
    assert Membership.objects.get(org=world.cast.acme, user=newcomer).role == Role.MEMBER


def test_declining_joins_nothing(world: World) -> None:
    newcomer = make_user("newcomer")
    response = client_for(newcomer).post(invitation_url(world), {"action": "decline"})
    assert messages_of(response) == ["You declined the invitation to Acme Corp."]
    assert not Membership.objects.filter(user=newcomer).exists()
    world.invitation.refresh_from_db()
    assert world.invitation.status == Invitation.Status.DECLINED


def test_reused_invitation_is_refused(world: World) -> None:
    newcomer = make_user("newcomer")
    client = client_for(newcomer)
    client.post(invitation_url(world), {"action": "accept"}, follow=True)
    Membership.objects.filter(user=newcomer).delete()

    response = client.post(invitation_url(world), {"action": "accept"})

    assert messages_of(response) == ["This invitation was accepted and cannot be used."]
    assert not Membership.objects.filter(user=newcomer).exists()
    assert "can no longer be used" in client.get(invitation_url(world)).text


def test_expired_invitation_is_refused(world: World) -> None:
    Invitation.objects.filter(pk=world.invitation.pk).update(
        expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    newcomer = make_user("newcomer")
    client = client_for(newcomer)
    assert "This invitation was expired" in client.get(invitation_url(world)).text
    response = client.post(invitation_url(world), {"action": "accept"})
    assert messages_of(response) == ["This invitation was expired and cannot be used."]
    assert not Membership.objects.filter(user=newcomer).exists()


def test_invitation_for_someone_else_is_refused(world: World) -> None:
    response = client_for(world.cast.charlie).post(invitation_url(world), {"action": "accept"})
    assert messages_of(response) == ["This invitation is addressed to another email address."]
    assert not Membership.objects.filter(org=world.cast.acme, user=world.cast.charlie).exists()


def test_unknown_invitation_secret_is_404(world: World) -> None:
    url = reverse("invitation", kwargs={"secret": "not-a-secret"})
    assert client_for(world.cast.mike).get(url).status_code == HTTPStatus.NOT_FOUND
