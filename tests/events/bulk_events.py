"""Decision events made in bulk for the Usage, event list and API tests.

Events are inserted with ``bulk_create`` (no decisions are run), so a test can put any number
of them on any day and then roll them up with ``policies.events.rollups.roll_up_events``.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connection

from orgs.models import Organization
from policies.models import DecisionEvent


@dataclass(frozen=True)
class Pull:
    """One kind of event: who pulled what, and the answer."""

    username: str
    repository: str
    category: str
    outcome: str = "allowed"  # allowed | denied | would_deny
    enforcer: str = "api"
    image: str = ""
    reason: str = ""


def event(org: Organization | None, pull: Pull, at: dt.datetime) -> DecisionEvent:
    """An unsaved event for ``pull`` at ``at``."""
    allowed = pull.outcome != "denied"
    namespace, _, name = pull.repository.partition("/")
    image = pull.image or (name if namespace == "library" else pull.repository)
    reason = pull.reason or (
        f"image access denied: {pull.category.replace('_', ' ')} images not allowed"
        if pull.outcome != "allowed"
        else f"{pull.category.replace('_', ' ')} images allowed"
    )
    return DecisionEvent(
        event_id=uuid.uuid4().hex,
        org=org,
        username=pull.username,
        image=image,
        reference=f"docker.io/{pull.repository}:latest",
        registry="docker.io",
        repository=pull.repository,
        category=pull.category,
        allowed=allowed,
        would_deny=pull.outcome == "would_deny",
        reason=f"audit mode: {reason}" if pull.outcome == "would_deny" else reason,
        enforcer=pull.enforcer,
        created_at=at,
    )


def add_events(
    org: Organization | None, pull: Pull, *, count: int = 1, day: dt.date, hour: int = 12
) -> None:
    """``count`` identical events on ``day`` (spread over a few minutes from ``hour``:00)."""
    start = dt.datetime.combine(day, dt.time(hour, 0), tzinfo=dt.UTC)
    DecisionEvent.objects.bulk_create(
        [event(org, pull, start + dt.timedelta(seconds=i)) for i in range(count)],
        batch_size=2000,
    )


# A plausible organization: many allowed pulls of a few popular images, a long tail of
# denied community images, some audit-mode would-denials, a handful of members.
MEMBERS = tuple(f"dev{index:02d}" for index in range(12))
OFFICIAL = ("library/nginx", "library/python", "library/postgres", "library/redis")
VERIFIED = ("bitnami/redis", "grafana/grafana", "hashicorp/terraform")
COMMUNITY = tuple(f"someuser{index}/tool{index}" for index in range(40))


def realistic_pulls(total: int, days: int, today: dt.date, seed: int = 7) -> Iterator[Pull]:
    """``total`` pulls with their time, over ``days`` days ending ``today`` (same seed, same)."""
    rng = random.Random(seed)
    for _ in range(total):
        member = rng.choice(MEMBERS)
        roll = rng.random()
        if roll < 0.6:
            yield Pull(member, rng.choice(OFFICIAL), "official")
        elif roll < 0.8:
            yield Pull(member, rng.choice(VERIFIED), "verified_publisher")
        elif roll < 0.95:
            yield Pull(member, rng.choice(COMMUNITY), "community", "denied")
        else:
            yield Pull(member, rng.choice(COMMUNITY), "community", "would_deny")


def add_realistic_events(
    org: Organization, *, total: int, days: int, today: dt.date, batch: int = 5000
) -> None:
    """Insert ``total`` realistic events for ``org`` spread over ``days`` days.

    Plain ``executemany`` of prepared tuples rather than ``bulk_create``: building and
    preparing 100,000 model instances would take most of a volume test's time.
    """
    rng = random.Random(total)
    midnight = dt.datetime.combine(today, dt.time.min, dt.UTC)
    fields = [f for f in DecisionEvent._meta.concrete_fields if not f.primary_key]
    names = [f.attname for f in fields]
    table = connection.ops.quote_name(DecisionEvent._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"  # noqa: S608
    prepared: dict[Pull, list[Any]] = {}
    rows: list[list[Any]] = []
    with connection.cursor() as cursor:
        for pull in realistic_pulls(total, days, today):
            if pull not in prepared:
                template = event(org, pull, midnight)
                prepared[pull] = [
                    f.get_db_prep_save(getattr(template, f.attname), connection) for f in fields
                ]
            row = list(prepared[pull])
            at = midnight - dt.timedelta(days=rng.randrange(days), seconds=-rng.randrange(86_400))
            row[names.index("event_id")] = uuid.uuid4().hex
            row[names.index("created_at")] = connection.ops.adapt_datetimefield_value(at)
            rows.append(row)
            if len(rows) >= batch:
                cursor.executemany(sql, rows)
                rows = []
        if rows:
            cursor.executemany(sql, rows)
