"""Organization workflows. Every function is keyword-only and logs what it changes."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from orgs.activity import log_action
from orgs.models import Invitation, Membership, Namespace, Organization, Plan
from orgs.roles import Role

INVITATION_LIFETIME = dt.timedelta(days=7)


class MembershipError(Exception):
    """A membership change that the rules forbid; the message is shown to the person."""


def create_organization(
    *, creator: User, slug: str, name: str, plan: str = Plan.BUSINESS
) -> Organization:
    """Create an organization owning the namespace ``slug``; ``creator`` becomes its owner."""
    org = Organization(slug=slug, name=name, plan=plan)
    org.full_clean()
    if Namespace.objects.filter(name=slug).exists():
        raise ValidationError({"slug": "That Docker Hub namespace already belongs to someone."})
    with transaction.atomic():
        org.save()
        Namespace.objects.create(org=org, name=slug)
        Membership.objects.create(org=org, user=creator, role=Role.OWNER)
        log_action(
            actor=creator,
            org=org,
            action="org.created",
            target=org.slug,
            after={"name": name, "plan": plan},
        )
    return org


def check_role_change(*, actor: Membership, target: Membership, new_role: str | None) -> None:
    """The one place that holds the role rules. ``new_role=None`` means removal.

    Only owners manage members; nobody changes their own role (they may leave, unless they
    are the last owner); the last owner can be neither removed nor demoted.
    """
    leaving = new_role is None and actor.pk == target.pk
    if not leaving and actor.role != Role.OWNER:
        raise MembershipError("Only owners can manage members.")
    if new_role is not None and actor.pk == target.pk:
        raise MembershipError("You cannot change your own role.")
    if new_role is not None and new_role not in Role.values:
        raise MembershipError(f"Unknown role {new_role!r}.")
    if target.role == Role.OWNER and new_role != Role.OWNER:
        owners = Membership.objects.filter(org_id=target.org_id, role=Role.OWNER).count()
        if owners <= 1:
            raise MembershipError(
                "The last owner cannot be removed or demoted: make someone else an owner first."
            )


def change_role(*, actor: Membership, target: Membership, role: str) -> Membership:
    """Change ``target``'s role, enforcing the rules."""
    with transaction.atomic():
        # Lock the owner rows so two concurrent demotions cannot both pass the last-owner check.
        list(Membership.objects.select_for_update().filter(org_id=target.org_id, role=Role.OWNER))
        target.refresh_from_db()
        check_role_change(actor=actor, target=target, new_role=role)
        before = target.role
        if before == role:
            return target
        target.role = role
        target.save(update_fields=["role"])
        log_action(
            actor=actor.user,
            org=target.org,
            action="member.role_changed",
            target=target.user.get_username(),
            before={"role": before},
            after={"role": role},
        )
    return target


def remove_member(*, actor: Membership, target: Membership) -> None:
    """Remove ``target`` from the organization (or let ``actor`` leave)."""
    with transaction.atomic():
        list(Membership.objects.select_for_update().filter(org_id=target.org_id, role=Role.OWNER))
        check_role_change(actor=actor, target=target, new_role=None)
        log_action(
            actor=actor.user,
            org=target.org,
            action="member.removed" if actor.pk != target.pk else "member.left",
            target=target.user.get_username(),
            before={"role": target.role},
        )
        target.delete()


def _invitation_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedInvitation:
    """An invitation and its one-time secret (only the hash is stored)."""

    invitation: Invitation
    secret: str


def invite(
    *, actor: Membership, email: str = "", username: str = "", role: str = Role.MEMBER
) -> IssuedInvitation:
    """Invite someone by email or username; only owners may invite.

    The answer never tells whether an account exists, so inviting cannot be used to find
    out who has one: an invitation to a username nobody has yet is issued like any other
    (whoever signs up with that name may accept it), and the same queries run either way.
    Only membership of this organization is refused, in the words the owner typed: its
    members' names and addresses are on the members page already.
    """
    if actor.role != Role.OWNER:
        raise MembershipError("Only owners can invite members.")
    if role not in Role.values:
        raise MembershipError(f"Unknown role {role!r}.")
    email, username = email.strip().lower(), username.strip()
    if bool(email) == bool(username):
        raise MembershipError("Invite either an email address or a username.")
    org = actor.org
    members = Membership.objects.filter(org=org)
    if username:
        members = members.filter(user__username__iexact=username)
    else:
        members = members.filter(user__email__iexact=email)
    if members.exists():
        raise MembershipError(f"{username or email} is already a member.")
    pending = Invitation.objects.pending().filter(org=org, email=email, username=username)
    if pending.exists():
        raise MembershipError("There is already a pending invitation for them.")
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        invitation = Invitation.objects.create(
            org=org,
            email=email,
            username=username,
            role=role,
            token_hash=_invitation_hash(secret),
            invited_by=actor.user,
            expires_at=timezone.now() + INVITATION_LIFETIME,
        )
        log_action(
            actor=actor.user,
            org=org,
            action="invitation.created",
            target=invitation.invitee,
            after={"role": role},
        )
    return IssuedInvitation(invitation=invitation, secret=secret)


def renew_invitation(*, actor: Membership, invitation: Invitation) -> IssuedInvitation:
    """Issue a new secret and expiry for a pending or expired invitation (resend)."""
    if actor.role != Role.OWNER:
        raise MembershipError("Only owners can resend invitations.")
    if invitation.status not in (Invitation.Status.PENDING, Invitation.Status.EXPIRED):
        raise MembershipError(f"This invitation was {invitation.status}.")
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        invitation.token_hash = _invitation_hash(secret)
        invitation.expires_at = timezone.now() + INVITATION_LIFETIME
        invitation.save(update_fields=["token_hash", "expires_at"])
        log_action(
            actor=actor.user,
            org=invitation.org,
            action="invitation.resent",
            target=invitation.invitee,
        )
    return IssuedInvitation(invitation=invitation, secret=secret)


def cancel_invitation(*, actor: Membership, invitation: Invitation) -> None:
    """Withdraw a pending invitation."""
    if actor.role != Role.OWNER:
        raise MembershipError("Only owners can cancel invitations.")
    if invitation.status != Invitation.Status.PENDING:
        raise MembershipError(f"This invitation is already {invitation.status}.")
    with transaction.atomic():
        invitation.cancelled_at = timezone.now()
        invitation.save(update_fields=["cancelled_at"])
        log_action(
            actor=actor.user,
            org=invitation.org,
            action="invitation.cancelled",
            target=invitation.invitee,
        )


def find_invitation(secret: str) -> Invitation | None:
    """The invitation a link's secret belongs to, whatever its state."""
    return (
        Invitation.objects.select_related("org").filter(token_hash=_invitation_hash(secret)).first()
    )


def _check_addressee(invitation: Invitation, user: User) -> None:
    if invitation.status != Invitation.Status.PENDING:
        raise MembershipError(f"This invitation was {invitation.status} and cannot be used.")
    if invitation.username and invitation.username.lower() != user.get_username().lower():
        raise MembershipError("This invitation is addressed to another user.")
    if invitation.email and invitation.email.lower() != getattr(user, "email", "").lower():
        raise MembershipError("This invitation is addressed to another email address.")


def accept_invitation(*, invitation: Invitation, user: User) -> Membership:
    """Join the organization with the invited role; an invitation works once."""
    with transaction.atomic():
        invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        _check_addressee(invitation, user)
        try:
            with transaction.atomic():
                membership = Membership.objects.create(
                    org=invitation.org, user=user, role=invitation.role
                )
        except IntegrityError:
            raise MembershipError("You are already a member of this organization.") from None
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
        log_action(
            actor=user,
            org=invitation.org,
            action="invitation.accepted",
            target=user.get_username(),
            after={"role": invitation.role},
        )
    return membership


def decline_invitation(*, invitation: Invitation, user: User) -> None:
    """Refuse an invitation; it cannot be used afterwards."""
    with transaction.atomic():
        invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        _check_addressee(invitation, user)
        invitation.declined_at = timezone.now()
        invitation.save(update_fields=["declined_at"])
        log_action(
            actor=user,
            org=invitation.org,
            action="invitation.declined",
            target=user.get_username(),
        )


ORG_SETTINGS = ("name", "enforce_sign_in", "require_two_factor")


def update_organization(*, actor: Membership, changes: dict[str, object]) -> dict[str, object]:
    """Change an organization's own settings (owners); return what changed."""
    if actor.role != Role.OWNER:
        raise MembershipError("Only owners can change organization settings.")
    unknown = set(changes) - set(ORG_SETTINGS)
    if unknown:
        raise MembershipError(f"Unknown setting: {', '.join(sorted(unknown))}.")
    with transaction.atomic():
        org = Organization.objects.select_for_update().get(pk=actor.org_id)
        before = {name: getattr(org, name) for name in changes}
        changed = {name: value for name, value in changes.items() if before[name] != value}
        if not changed:
            return {}
        for name, value in changed.items():
            setattr(org, name, value)
        org.full_clean()
        org.save(update_fields=list(changed))
        log_action(
            actor=actor.user,
            org=org,
            action="org.updated",
            target=org.slug,
            before={name: before[name] for name in changed},
            after=changed,
        )
    return changed


def add_namespace(*, actor: Membership, name: str) -> Namespace:
    """Claim another Docker Hub namespace for the organization (owners)."""
    if actor.role != Role.OWNER:
        raise MembershipError("Only owners can manage namespaces.")
    namespace = Namespace(org=actor.org, name=name.strip())
    try:
        namespace.full_clean()
    except ValidationError as exc:
        raise MembershipError(" ".join(exc.messages)) from None
    with transaction.atomic():
        namespace.save()
        log_action(actor=actor.user, org=actor.org, action="namespace.added", target=name)
    return namespace


def remove_namespace(*, actor: Membership, namespace: Namespace) -> None:
    """Give up a namespace; the organization keeps at least one (owners)."""
    if actor.role != Role.OWNER:
        raise MembershipError("Only owners can manage namespaces.")
    with transaction.atomic():
        if Namespace.objects.filter(org_id=namespace.org_id).count() <= 1:
            raise MembershipError("An organization keeps at least one namespace.")
        log_action(
            actor=actor.user, org=actor.org, action="namespace.removed", target=namespace.name
        )
        namespace.delete()


def delete_organization(*, actor: Membership, confirm_slug: str) -> None:
    """Delete the organization and everything it owns (owners, after typing its slug).

    The deletion is logged without an organization, so the record outlives it.
    """
    org = actor.org
    if actor.role != Role.OWNER:
        raise MembershipError("Only owners can delete the organization.")
    if confirm_slug.strip() != org.slug:
        raise MembershipError(f"Type {org.slug} to confirm the deletion.")
    with transaction.atomic():
        log_action(
            actor=actor.user,
            org=None,
            action="org.deleted",
            target=org.slug,
            before={"name": org.name, "plan": org.plan},
        )
        org.delete()
