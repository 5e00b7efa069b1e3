"""Tenancy: organizations, who belongs to them, their credentials and their audit trail."""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from orgs.roles import Role

# Docker Hub namespace grammar: lowercase letters and digits, 2-255 characters.
namespace_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9_-]{1,254}$",
    "A namespace is 2 or more lowercase letters, digits, '-' or '_', starting with a letter "
    "or digit.",
)


class Plan(models.TextChoices):
    """Subscription plans; image access management is a Business feature."""

    PERSONAL = "personal", "Personal"
    PRO = "pro", "Pro"
    TEAM = "team", "Team"
    BUSINESS = "business", "Business"


class OrgScopedQuerySet(models.QuerySet):
    """Queryset for org-owned rows; views reach tenant data only through ``for_org``."""

    def for_org(self, org: Organization) -> OrgScopedQuerySet:
        return self.filter(org=org)


class Organization(models.Model):
    """A tenant: owns Docker Hub namespaces, members and one image access policy."""

    slug = models.SlugField(
        max_length=64,
        unique=True,
        validators=[namespace_validator],
        help_text="Lowercase identifier used in URLs; also the first Docker Hub namespace.",
    )
    name = models.CharField(max_length=200)
    plan = models.CharField(max_length=16, choices=Plan.choices, default=Plan.BUSINESS)
    enforce_sign_in = models.BooleanField(
        default=False,
        help_text="Anonymous pulls through enforcers that name this organization are refused.",
    )
    require_two_factor = models.BooleanField(
        default=False, help_text="Owners must use two-factor authentication."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering: ClassVar = ["name"]

    def __str__(self) -> str:
        return self.slug

    @property
    def is_business(self) -> bool:
        return self.plan == Plan.BUSINESS


class Namespace(models.Model):
    """A Docker Hub namespace owned by an organization (its images are "organization")."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="namespaces")
    name = models.CharField(max_length=255, unique=True, validators=[namespace_validator])

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        ordering: ClassVar = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's role in an organization (member < editor < owner)."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(default=timezone.now)

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        ordering: ClassVar = ["org", "user__username"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["org", "user"], name="membership_unique_user_org"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.org} ({self.role})"


class Team(models.Model):
    """A named group of members inside an organization."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="teams")
    name = models.CharField(max_length=100)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="teams", blank=True)

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        ordering: ClassVar = ["name"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["org", "name"], name="team_unique_name_per_org"),
        ]

    def __str__(self) -> str:
        return f"{self.org}/{self.name}"


class InvitationQuerySet(OrgScopedQuerySet):
    def pending(self) -> InvitationQuerySet:
        return self.filter(
            accepted_at__isnull=True,
            declined_at__isnull=True,
            cancelled_at__isnull=True,
            expires_at__gt=timezone.now(),
        )


class Invitation(models.Model):
    """An owner's single-use offer of a role, addressed to an email or a username."""

    class Status(models.TextChoices):
        PENDING = "pending"
        ACCEPTED = "accepted"
        DECLINED = "declined"
        CANCELLED = "cancelled"
        EXPIRED = "expired"

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(blank=True)
    username = models.CharField(max_length=150, blank=True)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    declined_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering: ClassVar = ["-created_at"]
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=~Q(email="") | ~Q(username=""), name="invitation_has_invitee"
            ),
        ]

    def __str__(self) -> str:
        return f"invitation of {self.invitee} to {self.org}"

    @property
    def invitee(self) -> str:
        return self.email or self.username

    @property
    def status(self) -> Invitation.Status:
        if self.accepted_at:
            return self.Status.ACCEPTED
        if self.declined_at:
            return self.Status.DECLINED
        if self.cancelled_at:
            return self.Status.CANCELLED
        if self.expires_at <= timezone.now():
            return self.Status.EXPIRED
        return self.Status.PENDING


class TokenScope(models.TextChoices):
    """What a personal access token may do, weakest first."""

    PUBLIC_READ = "public_read", "Public repository read-only"
    READ = "read", "Read-only"
    WRITE = "write", "Read & write"
    ADMIN = "admin", "Read, write & admin"


SCOPE_RANK = {scope: rank for rank, scope in enumerate(TokenScope.values)}


class PersonalAccessTokenQuerySet(models.QuerySet):
    def active(self) -> PersonalAccessTokenQuerySet:
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        )


class PersonalAccessToken(models.Model):
    """A user's API credential. Only a keyed hash and the last characters are stored."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_tokens"
    )
    name = models.CharField(max_length=100)
    scope = models.CharField(max_length=16, choices=TokenScope.choices, default=TokenScope.READ)
    token_hash = models.CharField(max_length=64, unique=True)
    pepper_id = models.CharField(max_length=32)
    last_chars = models.CharField(max_length=4)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = PersonalAccessTokenQuerySet.as_manager()

    class Meta:
        ordering: ClassVar = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.display})"

    @property
    def display(self) -> str:
        """A mask safe to show anywhere: the prefix and the last four characters."""
        return f"dckr_pat_…{self.last_chars}"

    def is_expired(self, now: dt.datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())

    def allows(self, scope: str) -> bool:
        """Whether this token's scope includes ``scope`` (scopes are ordered)."""
        return SCOPE_RANK[self.scope] >= SCOPE_RANK[scope]


class RegistryRefreshToken(models.Model):
    """A refresh token the registry token service issued (``docker login`` keeps it).

    It stands for the personal access token that obtained it: only a keyed hash is stored, it
    expires, and it is honoured only while that token and its user are active.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="registry_refresh_tokens"
    )
    access_token = models.ForeignKey(
        PersonalAccessToken, on_delete=models.CASCADE, related_name="refresh_tokens"
    )
    token_hash = models.CharField(max_length=64, unique=True)
    pepper_id = models.CharField(max_length=32)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering: ClassVar = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"registry refresh token of {self.access_token}"


class ActivityLog(models.Model):
    """One change to tenant data: who did what to which object, before and after."""

    org = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.CASCADE, related_name="activity"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_token = models.ForeignKey(
        PersonalAccessToken, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=64, db_index=True)
    target = models.CharField(max_length=255, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        ordering: ClassVar = ["-created_at", "-id"]
        indexes: ClassVar = [models.Index(fields=["org", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor} at {self.created_at:%Y-%m-%d %H:%M}"
