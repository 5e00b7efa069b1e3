"""Daily rollups of decision events, and the retention of raw events.

The Usage page reads rollups, never raw events, so it stays fast at any volume. Each run
recomputes every day from the last day it had not closed up to today (so late-arriving events
of yesterday are counted), then deletes raw events older than the retention: those days were
rolled up by an earlier run.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Case, CharField, Count, Value, When
from django.db.models.functions import TruncDate
from django.utils import timezone

from policies.choices import Outcome
from policies.models import DailyUsage, DecisionEvent, RollupState


@dataclass(frozen=True)
class RollupReport:
    days: int
    buckets: int
    purged: int


def _outcome() -> Case:
    return Case(
        When(would_deny=True, then=Value(Outcome.WOULD_DENY)),
        When(allowed=True, then=Value(Outcome.ALLOWED)),
        default=Value(Outcome.DENIED),
        output_field=CharField(),
    )


def roll_up_day(day: dt.date) -> int:
    """Replace the rollup buckets of ``day`` (UTC) with counts of its raw events."""
    start = dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)
    end = start + dt.timedelta(days=1)
    groups = (
        DecisionEvent.objects.filter(created_at__gte=start, created_at__lt=end, org__isnull=False)
        .annotate(outcome=_outcome())
        .values("org_id", "category", "registry", "repository", "username", "outcome")
        .annotate(count=Count("id"))
        .order_by()
    )
    buckets = [DailyUsage(day=day, **group) for group in groups]
    with transaction.atomic():
        DailyUsage.objects.filter(day=day).delete()
        DailyUsage.objects.bulk_create(buckets, batch_size=1000)
    return len(buckets)


def roll_up_events(*, today: dt.date | None = None) -> tuple[int, int]:
    """Recompute rollups for every day not yet closed; return (days, buckets)."""
    today = today or timezone.now().date()
    state, _ = RollupState.objects.get_or_create(pk=1)
    first = state.next_day
    if first is None:
        oldest = (
            DecisionEvent.objects.annotate(day=TruncDate("created_at"))
            .order_by("created_at")
            .values_list("day", flat=True)
            .first()
        )
        first = oldest or today
    days = buckets = 0
    day = first
    while day <= today:
        buckets += roll_up_day(day)
        days += 1
        day += dt.timedelta(days=1)
    # Yesterday is recomputed once more next time: its stragglers may still be in the stream.
    state.next_day = today - dt.timedelta(days=1)
    state.save(update_fields=["next_day"])
    return days, buckets


def purge_events(*, retention_days: int, now: dt.datetime | None = None) -> int:
    """Delete raw events older than the retention (their days are already rolled up)."""
    cutoff = (now or timezone.now()) - dt.timedelta(days=retention_days)
    state = RollupState.objects.filter(pk=1).first()
    if state is None or state.next_day is None:
        return 0  # nothing rolled up yet: keep every raw event
    rolled_until = dt.datetime.combine(state.next_day, dt.time.min, tzinfo=dt.UTC)
    deleted, _ = DecisionEvent.objects.filter(created_at__lt=min(cutoff, rolled_until)).delete()
    return deleted


def roll_up_and_purge(*, retention_days: int, today: dt.date | None = None) -> RollupReport:
    """Roll up, then purge: the order keeps every purged event counted."""
    days, buckets = roll_up_events(today=today)
    now = None if today is None else dt.datetime.combine(today, dt.time.max, tzinfo=dt.UTC)
    purged = purge_events(retention_days=retention_days, now=now)
    return RollupReport(days=days, buckets=buckets, purged=purged)
