"""Decide whether a user may pull an image, under the rules of DESIGN.md section 3.

First match wins: invalid reference (an error, never a decision); registry access on and the
image's registry in no allowlist entry (denied for everyone, owners included); not a Docker
Hub image (allowed, not governed); organization off or not on Business (allowed); owner
(allowed); organization image (allowed); repository exception (allowed); image type allowed
by the policy (allowed) or denied. Audit mode turns a denial into an allowed ``would_deny``.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass

from policies.engine.classify import Category, Classification, classify
from policies.engine.reference import Reference
from policies.engine.registries import display_host, registry_allowed
from policies.engine.snapshots import CatalogSnapshot, OrgSnapshot

OWNER = "owner"


class Scope(enum.StrEnum):
    """Whether image access management governs the image at all."""

    GOVERNED = "governed"
    NOT_GOVERNED = "not_governed"


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome for one image: allowed or not, why, and which organization decided."""

    reference: Reference
    classification: Classification
    allowed: bool
    reason: str
    scope: Scope = Scope.GOVERNED
    org: str | None = None  # the organization that decided (or whose sign-in rule denied)
    org_id: int | None = None  # whose log records the decision: only an org of the user's
    policy_version: int | None = None
    would_deny: bool = False
    exception_id: int | None = None
    sign_in_required: bool = False
    registry_decided: bool = False  # registry access management denied (or would have)

    @property
    def category(self) -> Category:
        return self.classification.category


def denial_reason(category: Category) -> str:
    """Docker-style denial text, e.g. ``image access denied: community images not allowed``."""
    return f"image access denied: {category.label} images not allowed"


def registry_reason(domain: str) -> str:
    """Docker's words: ``registry access to ghcr.io is not allowed``."""
    return f"registry access to {display_host(domain)} is not allowed"


def sign_in_reason(org_slug: str) -> str:
    return f"sign-in required: sign in as a member of {org_slug}"


def _type_allowed(org: OrgSnapshot, category: Category) -> bool:
    policy = org.policy
    if category is Category.OFFICIAL:
        return policy.allow_official
    if category is Category.VERIFIED_PUBLISHER:
        return policy.allow_verified_publisher
    if category is Category.COMMUNITY:
        return policy.allow_community
    return True  # organization images are always allowed


def decide_for_org(
    reference: Reference,
    *,
    user_id: int | None,
    org: OrgSnapshot,
    catalog: CatalogSnapshot,
    now: dt.datetime,
) -> Decision:
    """Apply one organization's policy to ``reference`` for ``user_id``."""
    classification = classify(reference, org_namespaces=org.namespaces, catalog=catalog)
    category = classification.category

    def verdict(
        allowed: bool,
        reason: str,
        *,
        scope: Scope = Scope.GOVERNED,
        would_deny: bool = False,
        exception_id: int | None = None,
        registry_decided: bool = False,
    ) -> Decision:
        return Decision(
            reference,
            classification,
            allowed,
            reason,
            scope=scope,
            org=org.slug,
            org_id=org.id,
            policy_version=org.policy.version,
            would_deny=would_deny,
            exception_id=exception_id,
            registry_decided=registry_decided,
        )

    access = org.registry_access
    if org.business and access.enabled and not registry_allowed(access.rules, reference.domain):
        reason = registry_reason(reference.domain)
        if org.policy.audit_mode:
            return verdict(True, f"audit mode: {reason}", would_deny=True, registry_decided=True)
        return verdict(False, reason, registry_decided=True)
    if category is Category.OTHER_REGISTRY:
        return verdict(True, "not a Docker Hub image: not governed", scope=Scope.NOT_GOVERNED)
    if not org.business:
        return verdict(True, "image access management needs a Business subscription: not enforced")
    if not org.policy.enabled:
        return verdict(True, "image access is off")
    if org.role_of(user_id) == OWNER:
        return verdict(True, "owners are not restricted")
    if category is Category.ORGANIZATION:
        return verdict(True, "organization images are always allowed")
    namespace, name = classification.namespace or "", classification.name or ""
    for exception in org.exceptions:
        if exception.matches(namespace, name, now):
            return verdict(
                True,
                f"allowed by repository exception {exception.namespace}/{exception.name}",
                exception_id=exception.id,
            )
    if _type_allowed(org, category):
        return verdict(True, f"{category.label} images allowed")
    reason = denial_reason(category)
    if org.policy.audit_mode:
        return verdict(True, f"audit mode: {reason}", would_deny=True)
    return verdict(False, reason)


def decide(
    reference: Reference,
    *,
    user_id: int | None,
    user_orgs: Sequence[OrgSnapshot],
    catalog: CatalogSnapshot,
    now: dt.datetime,
    named_orgs: Sequence[OrgSnapshot] = (),
) -> Decision:
    """Decide for a user (``None`` when anonymous) and their organizations.

    With ``named_orgs`` (an enforcer's ``allowedOrgs``), the first named organization the
    user belongs to decides. Otherwise every organization of the user must allow (strictest
    wins) and a denial names the organization that denied; a named organization the user does
    not belong to never loosens that, and one that enforces sign-in denies the pull.
    """
    for org in named_orgs:
        if org.role_of(user_id) is not None:
            return decide_for_org(reference, user_id=user_id, org=org, catalog=catalog, now=now)
    decision = _strictest(reference, user_id=user_id, user_orgs=user_orgs, catalog=catalog, now=now)
    if not decision.allowed or decision.scope is Scope.NOT_GOVERNED:
        return decision
    for org in named_orgs:
        if org.enforce_sign_in:
            # Recorded for none of the named organizations: the user is not one of theirs.
            return Decision(
                reference,
                decision.classification,
                False,
                sign_in_reason(org.slug),
                org=org.slug,
                policy_version=org.policy.version,
                sign_in_required=True,
            )
    return decision


def _strictest(
    reference: Reference,
    *,
    user_id: int | None,
    user_orgs: Sequence[OrgSnapshot],
    catalog: CatalogSnapshot,
    now: dt.datetime,
) -> Decision:
    """Every organization of the user must allow; the first denial (by slug) answers."""
    # Report an organization whose policy is in effect when one allowed, else any.
    in_effect: Decision | None = None
    fallback: Decision | None = None
    for org in sorted(user_orgs, key=lambda o: o.slug):
        decision = decide_for_org(reference, user_id=user_id, org=org, catalog=catalog, now=now)
        if not decision.allowed:
            return decision
        if in_effect is None and org.in_effect:
            in_effect = decision
        fallback = fallback or decision
    chosen = in_effect or fallback
    if chosen is not None:
        return chosen
    unaffiliated = classify(reference, org_namespaces=frozenset(), catalog=catalog)
    if unaffiliated.category is Category.OTHER_REGISTRY:
        return Decision(
            reference,
            unaffiliated,
            True,
            "not a Docker Hub image: not governed",
            scope=Scope.NOT_GOVERNED,
        )
    return Decision(reference, unaffiliated, True, "no organization's policy applies")


@dataclass(frozen=True, slots=True)
class LoadDecision:
    """Whether the user may load images from files (``docker load``, ``docker import``).

    The images inside a file cannot be checked before dockerd loads them, so an organization
    may refuse loading altogether (``block_image_load``); containers started from a loaded
    image are still decided by their image's name.
    """

    allowed: bool
    reason: str
    org: str | None = None
    policy_version: int | None = None
    would_deny: bool = False


def load_denial_reason(org_slug: str) -> str:
    return f"image access denied: docker load and docker import are not allowed by {org_slug}"


def _load_for_org(user_id: int | None, org: OrgSnapshot) -> LoadDecision:
    def verdict(allowed: bool, reason: str, *, would_deny: bool = False) -> LoadDecision:
        return LoadDecision(allowed, reason, org.slug, org.policy.version, would_deny)

    if not org.in_effect or not org.policy.block_image_load:
        return verdict(True, "loading images is not restricted")
    if org.role_of(user_id) == OWNER:
        return verdict(True, "owners are not restricted")
    if org.policy.audit_mode:
        return verdict(True, f"audit mode: {load_denial_reason(org.slug)}", would_deny=True)
    return verdict(False, load_denial_reason(org.slug))


def decide_image_load(
    *,
    user_id: int | None,
    user_orgs: Sequence[OrgSnapshot],
    named_orgs: Sequence[OrgSnapshot] = (),
) -> LoadDecision:
    """Like :func:`decide`, for loading images from files: the first named organization the
    user belongs to decides, else every organization of the user must allow."""
    for org in named_orgs:
        if org.role_of(user_id) is not None:
            return _load_for_org(user_id, org)
    chosen: LoadDecision | None = None
    for org in sorted(user_orgs, key=lambda o: o.slug):
        decision = _load_for_org(user_id, org)
        if not decision.allowed:
            return decision
        chosen = chosen or decision
    for org in named_orgs:
        if org.enforce_sign_in:
            return LoadDecision(False, sign_in_reason(org.slug), org.slug, org.policy.version)
    return chosen or LoadDecision(True, "no organization's policy applies")
