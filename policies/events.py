"""Recording decisions as events, without making the decision wait for PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils import timezone

from policies.decisions import ImageOutcome
from policies.models import DecisionEvent


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Who asked, through which enforcer, from where."""

    enforcer: str
    user_id: int | None = None
    username: str = ""
    token_id: int | None = None
    client_address: str | None = None
    user_agent: str = ""


def record_decisions(outcomes: Sequence[ImageOutcome], context: RequestContext) -> None:
    """Store one event per decided image (items with a parse error are not decisions)."""
    now = timezone.now()
    org_ids = _org_ids(outcomes)
    events = [
        DecisionEvent(
            event_id=uuid.uuid4().hex,
            org_id=org_ids.get(outcome.decision.org) if outcome.decision.org else None,
            user_id=context.user_id,
            username=context.username[:150],
            token_id=context.token_id,
            image=outcome.image[:512],
            reference=str(outcome.decision.reference)[:512],
            repository=(outcome.decision.classification.hub_repository or "")[:255],
            category=outcome.decision.category.value,
            allowed=outcome.decision.allowed,
            would_deny=outcome.decision.would_deny,
            reason=outcome.decision.reason[:255],
            enforcer=context.enforcer,
            client_address=context.client_address,
            user_agent=context.user_agent[:255],
            created_at=now,
        )
        for outcome in outcomes
        if outcome.decision is not None
    ]
    if events:
        DecisionEvent.objects.bulk_create(events)


def _org_ids(outcomes: Sequence[ImageOutcome]) -> dict[str, int]:
    from orgs.models import Organization

    slugs = {o.decision.org for o in outcomes if o.decision is not None and o.decision.org}
    if not slugs:
        return {}
    return dict(Organization.objects.filter(slug__in=slugs).values_list("slug", "id"))
