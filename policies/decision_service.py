"""The decision service every enforcer calls: snapshots in, engine decisions out."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from policies.engine.classify import registry_host
from policies.engine.decide import Decision, LoadDecision, decide, decide_image_load
from policies.engine.reference import InvalidReference, Reference, parse_docker_ref
from policies.snapshot_store import SnapshotsUnavailable, store


class PolicyUnavailable(Exception):
    """No fresh policy could be read: enforcers must fail closed and ask the caller to retry."""


class UnknownOrganization(ValueError):
    """An enforcer named an organization that does not exist (a typo must not loosen policy)."""

    def __init__(self, slug: str) -> None:
        super().__init__(f"unknown organization: {slug}")
        self.slug = slug


def named_org_slugs(names: Sequence[str]) -> list[str]:
    """Slugs as an enforcer names them: organization slugs are lower case, so ``ACME`` is acme."""
    return list(dict.fromkeys(name.strip().lower() for name in names))


@dataclass(frozen=True, slots=True)
class ImageOutcome:
    """The answer for one requested image: a decision, or the parser's error."""

    image: str
    decision: Decision | None = None
    error: str | None = None


def decide_images(
    images: Sequence[str],
    *,
    user_id: int | None,
    named_orgs: Sequence[str] | None = None,
    now: dt.datetime | None = None,
) -> list[ImageOutcome]:
    """Decide each image for the user, under the named organizations if any.

    Raises ``UnknownOrganization`` for a named organization that does not exist and
    ``PolicyUnavailable`` when no fresh policy can be read.
    """
    now = now or timezone.now()
    slugs = named_org_slugs(named_orgs or ())
    try:
        catalog = store.catalog()
        named = store.named_orgs(slugs) if slugs else []
        user_orgs = store.user_orgs(user_id)
    except SnapshotsUnavailable as exc:
        raise PolicyUnavailable("the policy store cannot be read right now") from exc
    if len(named) < len(slugs):
        found = {org.slug for org in named}
        raise UnknownOrganization(next(slug for slug in slugs if slug not in found))
    outcomes: list[ImageOutcome] = []
    for image in images:
        try:
            reference = parse_docker_ref(image)
        except InvalidReference as exc:
            outcomes.append(ImageOutcome(image=image, error=str(exc)))
            continue
        decision = decide(
            reference,
            user_id=user_id,
            user_orgs=user_orgs,
            catalog=catalog,
            now=now,
            named_orgs=named,
        )
        outcomes.append(ImageOutcome(image=image, decision=decision))
    return outcomes


def decide_load(*, user_id: int | None, named_orgs: Sequence[str] | None = None) -> LoadDecision:
    """May the user load images from files (``docker load``/``import``)? Same errors as
    :func:`decide_images`."""
    slugs = named_org_slugs(named_orgs or ())
    try:
        named = store.named_orgs(slugs) if slugs else []
        user_orgs = store.user_orgs(user_id)
    except SnapshotsUnavailable as exc:
        raise PolicyUnavailable("the policy store cannot be read right now") from exc
    if len(named) < len(slugs):
        found = {org.slug for org in named}
        raise UnknownOrganization(next(slug for slug in slugs if slug not in found))
    return decide_image_load(user_id=user_id, user_orgs=user_orgs, named_orgs=named)


def load_payload(decision: LoadDecision) -> dict[str, Any]:
    """The public JSON shape of a load decision."""
    return {
        "allowed": decision.allowed,
        "would_deny": decision.would_deny,
        "reason": decision.reason,
        "org": decision.org,
        "policy_version": decision.policy_version,
    }


def outcome_payload(outcome: ImageOutcome) -> dict[str, Any]:
    """The public JSON shape of one outcome (DESIGN.md section 4)."""
    if outcome.decision is None:
        return {"image": outcome.image, "error": outcome.error}
    decision = outcome.decision
    reference: Reference = decision.reference
    classification = decision.classification
    return {
        "image": outcome.image,
        "reference": str(reference),
        "registry": reference.domain,
        "registry_host": registry_host(reference.domain),
        "repository": classification.hub_repository or reference.path,
        "tag": reference.tag,
        "digest": reference.digest,
        "category": classification.category.value,
        "sponsored_oss": classification.sponsored_oss,
        "scope": decision.scope.value,
        "allowed": decision.allowed,
        "would_deny": decision.would_deny,
        "reason": decision.reason,
        "org": decision.org,
        "policy_version": decision.policy_version,
        "exception_id": decision.exception_id,
        "registry_access_decided": decision.registry_decided,
    }
