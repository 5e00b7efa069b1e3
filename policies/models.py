"""Image access policy, repository exceptions, the publisher catalog and decision events."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone

from orgs.models import Organization, OrgScopedQuerySet
from policies.choices import POLICY_IMAGE_TYPES, Outcome


class ImageAccessPolicy(models.Model):
    """Which image types an organization's members may pull. Off by default.

    Organization images are always allowed and Docker-Sponsored Open Source images count as
    community images; owners are never restricted. ``version`` grows with every change.
    """

    org = models.OneToOneField(
        Organization, on_delete=models.CASCADE, related_name="image_access_policy"
    )
    enabled = models.BooleanField(default=False)
    allow_official = models.BooleanField(default=True)
    allow_verified_publisher = models.BooleanField(default=True)
    allow_community = models.BooleanField(default=False)
    audit_mode = models.BooleanField(
        default=False, help_text="Record would-be denials but allow the pull."
    )
    block_image_load = models.BooleanField(
        default=False,
        db_default=False,  # a server that predates the column still creates policies
        help_text="Refuse docker load and docker import on machines with the daemon plugin.",
    )
    version = models.PositiveIntegerField(default=1)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)

    objects = OrgScopedQuerySet.as_manager()

    SETTINGS: ClassVar = (
        "enabled",
        "allow_official",
        "allow_verified_publisher",
        "allow_community",
        "audit_mode",
        "block_image_load",
    )

    class Meta:
        verbose_name_plural = "image access policies"

    def __str__(self) -> str:
        return f"image access policy of {self.org}"

    def settings_dict(self) -> dict[str, bool]:
        return {name: getattr(self, name) for name in self.SETTINGS}


def default_registries() -> list[dict[str, str]]:
    """A new allowlist holds Docker Hub, under every one of its host names."""
    return [{"host": "docker.io", "note": "Docker Hub"}]


class RegistryAccessPolicy(models.Model):
    """Which registries everyone in an organization, owners included, may pull from.

    Off by default. ``registries`` is the allowlist: ``[{"host", "note"}]``, each host
    normalized by ``policies.engine.registries`` when it is written. ``version`` grows with
    every change.
    """

    org = models.OneToOneField(
        Organization, on_delete=models.CASCADE, related_name="registry_access_policy"
    )
    enabled = models.BooleanField(default=False)
    registries = models.JSONField(default=default_registries)
    version = models.PositiveIntegerField(default=1)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "registry access policies"

    def __str__(self) -> str:
        return f"registry access policy of {self.org}"

    @property
    def hosts(self) -> list[str]:
        return [entry["host"] for entry in self.registries]


class RepositoryException(models.Model):
    """An owner's allowance for one Docker Hub repository, or a namespace (``name == "*"``)."""

    org = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="repository_exceptions"
    )
    namespace = models.CharField(max_length=255)
    name = models.CharField(max_length=255, help_text="Repository name, or * for all")
    reason = models.CharField(max_length=500, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        ordering: ClassVar = ["namespace", "name"]
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["org", "namespace", "name"], name="exception_unique_repository"
            ),
        ]

    def __str__(self) -> str:
        return self.repository

    @property
    def repository(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()


class PublisherKind(models.TextChoices):
    """How the platform's catalog marks a Docker Hub namespace."""

    VERIFIED_PUBLISHER = "verified_publisher", "Docker Verified Publisher"
    SPONSORED_OSS = "sponsored_oss", "Docker-Sponsored Open Source"


class PublisherNamespace(models.Model):
    """A catalog entry, curated by platform staff: a namespace and what kind of publisher."""

    namespace = models.CharField(max_length=255, unique=True)
    kind = models.CharField(max_length=32, choices=PublisherKind.choices)
    note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering: ClassVar = ["namespace"]

    def __str__(self) -> str:
        return f"{self.namespace} ({self.kind})"


class DecisionEvent(models.Model):
    """One decision of one enforcer: who asked for which image and what we answered."""

    class Enforcer(models.TextChoices):
        API = "api"
        REGISTRY = "registry"
        CLI = "cli"
        DAEMON = "daemon"

    # The event table is the one that grows with every pull, and the drain's inserts pay for
    # each index and constraint per row (bench/bench_backlog.py): the idempotency key is unique
    # without Django's extra pattern index, the organization's lookups use the composite
    # indexes below, and the foreign keys carry no database constraint (deferred checks cost a
    # lookup per row at commit). Django still cascades deletions; an event written while its
    # organization was being deleted is never shown (every query filters by a live org) and
    # leaves with the retention purge.
    event_id = models.CharField(max_length=64, help_text="Idempotency key")
    org = models.ForeignKey(
        Organization,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="events",
        db_index=False,
        db_constraint=False,
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
    )
    username = models.CharField(max_length=150, blank=True)
    token_id = models.BigIntegerField(null=True, blank=True)
    image = models.CharField(max_length=512)
    reference = models.CharField(max_length=512, blank=True)
    # A database default too: a server that does not know the column yet can still insert.
    registry = models.CharField(
        max_length=255,
        blank=True,
        default="",
        db_default="",
        help_text="Registry host, as a daemon reaches it",
    )
    repository = models.CharField(max_length=255, blank=True)
    category = models.CharField(max_length=32)
    allowed = models.BooleanField()
    would_deny = models.BooleanField(default=False)
    reason = models.CharField(max_length=255)
    enforcer = models.CharField(max_length=16, choices=Enforcer.choices)
    client_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=255, blank=True)
    # The machine an enforcer acts for, as it names itself (the daemon plugin's host name).
    client_host = models.CharField(max_length=253, blank=True, default="", db_default="")
    created_at = models.DateTimeField(db_index=True)

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        ordering: ClassVar = ["-created_at", "-id"]
        indexes: ClassVar = [
            models.Index(fields=["org", "-created_at"]),
            models.Index(fields=["org", "allowed", "-created_at"]),
        ]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["event_id"], name="policies_decisionevent_event_id_key")
        ]

    def __str__(self) -> str:
        outcome = "allowed" if self.allowed else "denied"
        return f"{self.image} {outcome} for {self.username or 'anonymous'}"


class DailyUsage(models.Model):
    """Decision counts per day, organization, category, registry, repository, user and outcome."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="daily_usage")
    day = models.DateField()
    category = models.CharField(max_length=32)
    registry = models.CharField(max_length=255, blank=True, default="", db_default="")
    repository = models.CharField(max_length=255, blank=True)
    username = models.CharField(max_length=150, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    count = models.PositiveIntegerField()

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        indexes: ClassVar = [models.Index(fields=["org", "day"])]
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["org", "day", "category", "registry", "repository", "username", "outcome"],
                name="daily_usage_unique_registry_bucket",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.org} {self.day} {self.repository} {self.outcome}: {self.count}"


class RollupState(models.Model):
    """Single row: the first day the next rollup must recompute."""

    next_day = models.DateField(null=True, blank=True)

    def __str__(self) -> str:
        return f"rollups from {self.next_day}"


class AccessRequest(models.Model):
    """A member's request for a repository, a namespace or an image type."""

    class Kind(models.TextChoices):
        REPOSITORY = "repository"
        NAMESPACE = "namespace"
        IMAGE_TYPE = "image_type"
        REGISTRY = "registry"

    class Status(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        DECLINED = "declined"

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="access_requests")
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_requests"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    value = models.CharField(
        max_length=300, help_text="ns/name, ns, an image type, or a registry host"
    )
    justification = models.TextField(max_length=2000)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    comment = models.TextField(max_length=2000, blank=True)
    exception = models.ForeignKey(
        RepositoryException, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        ordering: ClassVar = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.requester} asks for {self.kind} {self.value}"

    @property
    def image_type_title(self) -> str:
        """The image type asked for, as a label names it (``Docker Official Images``)."""
        image_type = POLICY_IMAGE_TYPES.get(self.value)
        return image_type.title if image_type is not None else self.value


class SnapshotVersion(models.Model):
    """Single row counting every change that can alter a decision.

    Bumped in the same transaction as the change (see ``policies.signals``); web processes
    compare it with the version of their in-memory snapshots at most once a second.
    """

    version = models.PositiveBigIntegerField(default=1)

    def __str__(self) -> str:
        return f"snapshot v{self.version}"
