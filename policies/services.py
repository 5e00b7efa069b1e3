"""Policy workflows: change settings, manage exceptions, replace the catalog.

Every change bumps the relevant version and writes the activity log in one transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from orgs.activity import log_action
from orgs.models import Organization, PersonalAccessToken
from policies.engine.classify import hub_path
from policies.engine.reference import InvalidReference, parse_normalized_named
from policies.models import (
    ImageAccessPolicy,
    PublisherKind,
    PublisherNamespace,
    RepositoryException,
)
from policies.snapshot_store import bump_snapshot_version

BUSINESS_REQUIRED = "image access management requires a Business subscription"


class PolicyError(Exception):
    """A policy change that cannot be made; the message is shown as is."""


def get_policy(org: Organization) -> ImageAccessPolicy:
    """The organization's policy row, created with the defaults (off) on first use."""
    policy, _ = ImageAccessPolicy.objects.get_or_create(org=org)
    return policy


def update_policy(
    *,
    org: Organization,
    actor: User,
    changes: Mapping[str, bool],
    token: PersonalAccessToken | None = None,
) -> tuple[ImageAccessPolicy, dict[str, bool]]:
    """Apply ``changes`` (a subset of the policy's settings); return the policy and what changed.

    Turning the policy on needs the Business plan. No change, no version bump.
    """
    unknown = set(changes) - set(ImageAccessPolicy.SETTINGS)
    if unknown:
        raise PolicyError(f"unknown setting: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        get_policy(org)
        policy = ImageAccessPolicy.objects.select_for_update().get(org=org)
        before = policy.settings_dict()
        changed = {k: bool(v) for k, v in changes.items() if before[k] != bool(v)}
        if changed.get("enabled") and not org.is_business:
            raise PolicyError(BUSINESS_REQUIRED)
        if not changed:
            return policy, {}
        for name, value in changed.items():
            setattr(policy, name, value)
        policy.version = F("version") + 1
        policy.updated_by = actor
        policy.updated_at = timezone.now()
        policy.save()
        policy.refresh_from_db()
        log_action(
            actor=actor,
            org=org,
            action="policy.updated",
            target="image access",
            before={k: before[k] for k in changed},
            after=changed,
            token=token,
        )
    return policy, changed


def parse_repository_pattern(value: str) -> tuple[str, str]:
    """Parse an exception's repository: ``namespace/name``, ``namespace/*`` or a familiar name.

    Only Docker Hub repositories qualify; tags and digests are refused. Raises ``PolicyError``
    with the parser's message for names that do not parse.
    """
    text = value.strip()
    wildcard = text.endswith("/*")
    candidate = f"{text[:-2]}/wildcard-placeholder" if wildcard else text
    try:
        reference = parse_normalized_named(candidate)
    except InvalidReference as exc:
        raise PolicyError(f"{text}: {exc}") from None
    if reference.tag or reference.digest:
        raise PolicyError(f"{text}: name a repository without a tag or digest")
    path = hub_path(reference)
    if path is None:
        raise PolicyError(f"{text}: exceptions apply to Docker Hub repositories only")
    namespace, name = path
    if "/" in name:
        raise PolicyError(f"{text}: a Docker Hub repository is namespace/name")
    return namespace, "*" if wildcard else name


def add_exception(
    *,
    org: Organization,
    actor: User,
    repository: str,
    reason: str = "",
    expires_at: dt.datetime | None = None,
    token: PersonalAccessToken | None = None,
) -> RepositoryException:
    """Allow one repository (or namespace) for the organization's members."""
    namespace, name = parse_repository_pattern(repository)
    if expires_at is not None and expires_at <= timezone.now():
        raise PolicyError("the expiry must be in the future")
    try:
        with transaction.atomic():
            exception = RepositoryException.objects.create(
                org=org,
                namespace=namespace,
                name=name,
                reason=reason.strip(),
                expires_at=expires_at,
                created_by=actor,
            )
            bump_policy_version(org)
            log_action(
                actor=actor,
                org=org,
                action="exception.created",
                target=exception.repository,
                after={"reason": exception.reason, "expires_at": _iso(expires_at)},
                token=token,
            )
    except IntegrityError:
        raise PolicyError(f"{namespace}/{name} already has an exception") from None
    return exception


def remove_exception(
    *,
    exception: RepositoryException,
    actor: User,
    token: PersonalAccessToken | None = None,
) -> None:
    """Withdraw a repository exception."""
    with transaction.atomic():
        log_action(
            actor=actor,
            org=exception.org,
            action="exception.deleted",
            target=exception.repository,
            before={"reason": exception.reason, "expires_at": _iso(exception.expires_at)},
            token=token,
        )
        bump_policy_version(exception.org)
        exception.delete()


def bump_policy_version(org: Organization) -> None:
    """A change that is not to the image access settings themselves (an exception, the
    registry list) still gives the organization's policy a new version: enforcers that cache
    decisions by version (the daemon plugin, ``?version=N``) see it."""
    get_policy(org)
    ImageAccessPolicy.objects.filter(org=org).update(version=F("version") + 1)
    bump_snapshot_version()


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


@dataclass
class CatalogReport:
    """What ``replace_catalog`` did."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CatalogEntry:
    """One validated line of a catalog file."""

    namespace: str
    kind: str
    note: str = ""


def validate_catalog(rows: Iterable[Mapping[str, Any]]) -> list[CatalogEntry]:
    """Check catalog rows; raise ``PolicyError`` naming the first bad row (1-based)."""
    entries: list[CatalogEntry] = []
    seen: set[str] = set()
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, Mapping):
            raise PolicyError(f"entry {number}: expected an object with namespace, kind, note")
        namespace = str(row.get("namespace") or "").strip()
        kind = str(row.get("kind") or "").strip()
        note = str(row.get("note") or "").strip()
        if not namespace:
            raise PolicyError(f"entry {number}: namespace is missing")
        try:
            reference = parse_normalized_named(f"{namespace}/x")
        except InvalidReference as exc:
            raise PolicyError(f"entry {number}: namespace {namespace!r}: {exc}") from None
        if reference.domain != "docker.io" or namespace == "library":
            raise PolicyError(f"entry {number}: {namespace!r} is not a Docker Hub namespace")
        if kind not in PublisherKind.values:
            raise PolicyError(
                f"entry {number}: kind must be verified_publisher or sponsored_oss, not {kind!r}"
            )
        if namespace in seen:
            raise PolicyError(f"entry {number}: namespace {namespace!r} is listed twice")
        seen.add(namespace)
        entries.append(CatalogEntry(namespace, kind, note[:500]))
    return entries


def replace_catalog(entries: list[CatalogEntry]) -> CatalogReport:
    """Make the catalog exactly ``entries``: add, update and remove as needed."""
    report = CatalogReport()
    wanted = {entry.namespace: entry for entry in entries}
    with transaction.atomic():
        current = {p.namespace: p for p in PublisherNamespace.objects.select_for_update()}
        for namespace, row in current.items():
            if namespace not in wanted:
                row.delete()
                report.removed.append(namespace)
        for namespace, entry in wanted.items():
            existing = current.get(namespace)
            if existing is None:
                PublisherNamespace.objects.create(
                    namespace=namespace, kind=entry.kind, note=entry.note
                )
                report.added.append(namespace)
            elif (existing.kind, existing.note) != (entry.kind, entry.note):
                existing.kind, existing.note = entry.kind, entry.note
                existing.save(update_fields=["kind", "note"])
                report.changed.append(namespace)
    return report
