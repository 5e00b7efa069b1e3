"""Read organizations and the catalog from the database into the engine's snapshots."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q
from django.utils import timezone

from orgs.models import Membership, Namespace, Organization
from policies.engine.snapshots import (
    CatalogSnapshot,
    ExceptionSnapshot,
    OrgSnapshot,
    PolicySnapshot,
)
from policies.models import ImageAccessPolicy, PublisherKind, PublisherNamespace, RepositoryException


def load_catalog() -> CatalogSnapshot:
    """The whole publisher catalog."""
    verified: set[str] = set()
    sponsored: set[str] = set()
    for namespace, kind in PublisherNamespace.objects.values_list("namespace", "kind"):
        (verified if kind == PublisherKind.VERIFIED_PUBLISHER else sponsored).add(namespace)
    return CatalogSnapshot(verified_publishers=frozenset(verified), sponsored_oss=frozenset(sponsored))


def policy_snapshot(policy: ImageAccessPolicy | None) -> PolicySnapshot:
    """Engine view of a policy row (defaults when the organization has none yet)."""
    if policy is None:
        return PolicySnapshot()
    return PolicySnapshot(
        enabled=policy.enabled,
        allow_official=policy.allow_official,
        allow_verified_publisher=policy.allow_verified_publisher,
        allow_community=policy.allow_community,
        audit_mode=policy.audit_mode,
        version=policy.version,
    )


def load_orgs(orgs: Iterable[Organization]) -> list[OrgSnapshot]:
    """Snapshots of ``orgs`` with their policy, namespaces, live exceptions and member roles.

    Four queries whatever the number of organizations.
    """
    orgs = list(orgs)
    ids = [org.id for org in orgs]
    policies = {p.org_id: p for p in ImageAccessPolicy.objects.filter(org_id__in=ids)}
    namespaces: dict[int, set[str]] = {org_id: set() for org_id in ids}
    for org_id, name in Namespace.objects.filter(
        org_id__in=ids
    ).values_list("org_id", "name"):
        namespaces[org_id].add(name)
    exceptions: dict[int, list[ExceptionSnapshot]] = {org_id: [] for org_id in ids}
    live = Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
    for exc in RepositoryException.objects.filter(live, org_id__in=ids):
        exceptions[exc.org_id].append(
            ExceptionSnapshot(exc.id, exc.namespace, exc.name, exc.expires_at)
        )
    roles: dict[int, dict[int, str]] = {org_id: {} for org_id in ids}
    for org_id, user_id, role in Membership.objects.filter(org_id__in=ids).values_list(
        "org_id", "user_id", "role"
    ):
        roles[org_id][user_id] = role
    return [
        OrgSnapshot(
            id=org.id,
            slug=org.slug,
            business=org.is_business,
            enforce_sign_in=org.enforce_sign_in,
            policy=policy_snapshot(policies.get(org.id)),
            namespaces=frozenset(namespaces[org.id]),
            exceptions=tuple(exceptions[org.id]),
            roles=roles[org.id],
        )
        for org in orgs
    ]
