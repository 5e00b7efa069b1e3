"""What the Usage, event list and My access pages (and the events API) read.

The Usage page reads only ``DailyUsage`` rollups, in a fixed number of queries, so it costs
the same with a hundred events or millions. The event list and a member's own denials read
raw ``DecisionEvent`` rows, always filtered by organization and time.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.contrib.auth.models import User
from django.db.models import Count, Max, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from orgs.models import Organization
from policies.choices import IMAGE_TYPE_LABELS, Outcome
from policies.models import DailyUsage, DecisionEvent

PERIODS = (7, 30, 90)
DEFAULT_PERIOD = 30
TOP_LIMIT = 10

# How each outcome maps onto the raw event's flags (the rollup's ``_outcome`` in reverse).
OUTCOME_FILTERS: dict[str, Q] = {
    Outcome.ALLOWED.value: Q(allowed=True, would_deny=False),
    Outcome.DENIED.value: Q(allowed=False),
    Outcome.WOULD_DENY.value: Q(would_deny=True),
}


def period_days(value: object) -> int:
    """The Usage period from ``?days=``: 7, 30 or 90; anything else is the default."""
    try:
        days = int(str(value))
    except ValueError:
        return DEFAULT_PERIOD
    return days if days in PERIODS else DEFAULT_PERIOD


def period_start(days: int, today: dt.date) -> dt.date:
    """The first day of a period of ``days`` days ending with ``today`` (UTC dates)."""
    return today - dt.timedelta(days=days - 1)


def utc_today() -> dt.date:
    """Today as the rollups count days: in UTC."""
    return timezone.now().astimezone(dt.UTC).date()


def outcome_of(event: DecisionEvent) -> str:
    """``allowed``, ``denied`` or ``would_deny``, as the rollups count it."""
    if event.would_deny:
        return Outcome.WOULD_DENY.value
    return Outcome.ALLOWED.value if event.allowed else Outcome.DENIED.value


@dataclass(frozen=True)
class OutcomeCounts:
    """Pulls allowed, denied and would-be-denied (audit mode)."""

    allowed: int = 0
    denied: int = 0
    would_deny: int = 0

    @property
    def total(self) -> int:
        return self.allowed + self.denied + self.would_deny

    def as_dict(self) -> dict[str, int]:
        return {"allowed": self.allowed, "denied": self.denied, "would_deny": self.would_deny}


@dataclass(frozen=True)
class Ranked:
    """A repository or member and how often it was denied (or would have been)."""

    name: str
    denied: int
    would_deny: int

    @property
    def total(self) -> int:
        return self.denied + self.would_deny


@dataclass(frozen=True)
class UsageReport:
    """Everything the Usage page shows for one period."""

    days: int
    start: dt.date
    end: dt.date
    totals: OutcomeCounts
    daily: list[tuple[dt.date, OutcomeCounts]]
    categories: list[tuple[str, str, OutcomeCounts]]
    top_repositories: list[Ranked] = field(default_factory=list)
    top_members: list[Ranked] = field(default_factory=list)
    top_registries: list[Ranked] = field(default_factory=list)

    @property
    def has_data(self) -> bool:
        return self.totals.total > 0


def _counts(values: dict[str, int]) -> OutcomeCounts:
    return OutcomeCounts(**{key: values.get(key, 0) for key in ("allowed", "denied", "would_deny")})


def _top_denied(buckets: QuerySet[DailyUsage], dimension: str, limit: int) -> list[Ranked]:
    rows = (
        buckets.filter(outcome__in=(Outcome.DENIED, Outcome.WOULD_DENY))
        .exclude(**{dimension: ""})
        .values(dimension)
        .annotate(
            denied=Coalesce(Sum("count", filter=Q(outcome=Outcome.DENIED)), 0),
            would=Coalesce(Sum("count", filter=Q(outcome=Outcome.WOULD_DENY)), 0),
            total=Sum("count"),
        )
        .order_by("-total", dimension)[:limit]
    )
    return [Ranked(row[dimension], row["denied"], row["would"]) for row in rows]


def usage_report(
    org: Organization, *, days: int, today: dt.date | None = None, limit: int = TOP_LIMIT
) -> UsageReport:
    """Summarize ``days`` days of rollups ending today: four queries, whatever the volume.

    One query groups by day, category and outcome (both the chart over time and the chart by
    category come from it); one each ranks denied repositories, members and registries.
    """
    end = today or utc_today()
    start = period_start(days, end)
    buckets = DailyUsage.objects.for_org(org).filter(day__gte=start, day__lte=end)
    per_day: dict[dt.date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    per_category: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    grouped = buckets.values("day", "category", "outcome").annotate(total=Sum("count")).order_by()
    for row in grouped:
        per_day[row["day"]][row["outcome"]] += row["total"]
        per_category[row["category"]][row["outcome"]] += row["total"]
    daily = [
        (
            start + dt.timedelta(days=offset),
            _counts(per_day.get(start + dt.timedelta(days=offset), {})),
        )
        for offset in range(days)
    ]
    totals = OutcomeCounts(
        allowed=sum(c.allowed for _, c in daily),
        denied=sum(c.denied for _, c in daily),
        would_deny=sum(c.would_deny for _, c in daily),
    )
    known = [key for key in IMAGE_TYPE_LABELS if key in per_category]
    unknown = sorted(key for key in per_category if key not in IMAGE_TYPE_LABELS)
    categories = [
        (key, IMAGE_TYPE_LABELS.get(key, key), _counts(per_category[key]))
        for key in known + unknown
    ]
    return UsageReport(
        days=days,
        start=start,
        end=end,
        totals=totals,
        daily=daily,
        categories=categories,
        top_repositories=_top_denied(buckets, "repository", limit),
        top_members=_top_denied(buckets, "username", limit),
        top_registries=_top_denied(buckets, "registry", limit),
    )


@dataclass(frozen=True)
class EventFilters:
    """Filters of the event list, shared by the page, its CSV export and the API."""

    user: str = ""
    repository: str = ""
    registry: str = ""
    category: str = ""
    outcome: str = ""
    enforcer: str = ""
    days: int | None = None
    day: dt.date | None = None


def filter_events(
    events: QuerySet[DecisionEvent], filters: EventFilters, *, today: dt.date | None = None
) -> QuerySet[DecisionEvent]:
    """Apply ``filters`` to an organization's events (callers scope ``events`` first)."""
    if filters.user:
        events = events.filter(username=filters.user)
    if filters.repository:
        events = events.filter(repository=filters.repository)
    if filters.registry:
        events = events.filter(registry=filters.registry)
    if filters.category:
        events = events.filter(category=filters.category)
    if filters.outcome:
        events = events.filter(OUTCOME_FILTERS[filters.outcome])
    if filters.enforcer:
        events = events.filter(enforcer=filters.enforcer)
    if filters.days:
        first = period_start(filters.days, today or utc_today())
        events = events.filter(created_at__gte=dt.datetime.combine(first, dt.time.min, dt.UTC))
    if filters.day:
        start = dt.datetime.combine(filters.day, dt.time.min, dt.UTC)
        events = events.filter(created_at__gte=start, created_at__lt=start + dt.timedelta(days=1))
    return events


@dataclass(frozen=True)
class Denial:
    """A repository a member was denied (or would have been) recently, with how often."""

    repository: str
    category: str
    denied: int
    would_deny: int
    last_at: dt.datetime

    @property
    def category_label(self) -> str:
        return IMAGE_TYPE_LABELS.get(self.category, self.category)


def recent_denials(
    org: Organization, user: User, *, days: int = 30, limit: int = 25
) -> list[Denial]:
    """The member's own denials in ``org`` over ``days`` days, one line per repository."""
    since = timezone.now() - dt.timedelta(days=days)
    rows = (
        DecisionEvent.objects.for_org(org)
        .filter(user=user, created_at__gte=since)
        .filter(Q(allowed=False) | Q(would_deny=True))
        .exclude(repository="")
        .values("repository", "category")
        .annotate(
            denied=Count("id", filter=Q(allowed=False)),
            would=Count("id", filter=Q(would_deny=True)),
            last_at=Max("created_at"),
        )
        .order_by("-last_at", "repository")[:limit]
    )
    return [
        Denial(row["repository"], row["category"], row["denied"], row["would"], row["last_at"])
        for row in rows
    ]
