"""Recording decisions as events without making the decision wait for PostgreSQL.

The request path appends one stream entry per request (all of its decisions) to a Redis
stream: one round trip. ``drain_stream`` (a Celery task, and ``manage.py drain_events``) reads
the stream with a consumer group in batches, inserts them in bulk and only then acknowledges,
so a worker killed mid-batch loses nothing: its pending entries are claimed by the next
consumer. Inserts are idempotent (``event_id`` is unique), so a batch inserted but not
acknowledged is not inserted twice. Without Redis, or while it is down, events are written to
the database directly.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from imageaccess.redis_client import REDIS_ERRORS, breaker, get_redis
from policies.decisions import ImageOutcome
from policies.models import DecisionEvent

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Who asked, through which enforcer, from where."""

    enforcer: str
    user_id: int | None = None
    username: str = ""
    token_id: int | None = None
    client_address: str | None = None
    user_agent: str = ""


def event_rows(
    outcomes: Sequence[ImageOutcome], context: RequestContext, now: dt.datetime
) -> list[dict[str, Any]]:
    """One plain dict per decided image (parse errors are not decisions)."""
    rows = []
    for outcome in outcomes:
        decision = outcome.decision
        if decision is None:
            continue
        rows.append(
            {
                "event_id": uuid.uuid4().hex,
                "org_id": decision.org_id,
                "user_id": context.user_id,
                "username": context.username[:150],
                "token_id": context.token_id,
                "image": outcome.image[:512],
                "reference": str(decision.reference)[:512],
                "repository": (decision.classification.hub_repository or "")[:255],
                "category": decision.category.value,
                "allowed": decision.allowed,
                "would_deny": decision.would_deny,
                "reason": decision.reason[:255],
                "enforcer": context.enforcer,
                "client_address": context.client_address,
                "user_agent": context.user_agent[:255],
                "created_at": now.isoformat(),
            }
        )
    return rows


def record_decisions(outcomes: Sequence[ImageOutcome], context: RequestContext) -> None:
    """Record the decisions of one request: one XADD, or a database insert without Redis."""
    rows = event_rows(outcomes, context, timezone.now())
    if not rows:
        return
    client = get_redis()
    if client is not None:
        try:
            client.xadd(settings.EVENT_STREAM, {"events": orjson.dumps(rows)})
            return
        except REDIS_ERRORS as exc:
            breaker.trip(exc)
    store_rows(rows)


def _model(row: dict[str, Any]) -> DecisionEvent:
    fields = dict(row)
    fields["created_at"] = dt.datetime.fromisoformat(fields["created_at"])
    return DecisionEvent(**fields)


def store_rows(rows: Sequence[dict[str, Any]]) -> int:
    """Insert event rows; rows already stored (same ``event_id``) are skipped."""
    if not rows:
        return 0
    ids = [row["event_id"] for row in rows]
    existing = set(
        DecisionEvent.objects.filter(event_id__in=ids).values_list("event_id", flat=True)
    )
    new = [_model(row) for row in rows if row["event_id"] not in existing]
    # ignore_conflicts still guards a race with another consumer inserting the same batch.
    DecisionEvent.objects.bulk_create(new, ignore_conflicts=True, batch_size=1000)
    return len(new)


def consumer_name() -> str:
    """This process's consumer name in the group (host and pid: unique while it lives)."""
    return f"{socket.gethostname()}-{os.getpid()}"


def _ensure_group(client: Any) -> None:
    try:
        client.xgroup_create(settings.EVENT_STREAM, settings.EVENT_GROUP, id="0", mkstream=True)
    except REDIS_ERRORS as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def _rows_of(entries: Sequence[tuple[bytes, dict[bytes, bytes]]]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for entry_id, fields in entries:
        try:
            rows.extend(orjson.loads(fields[b"events"]))
        except (KeyError, orjson.JSONDecodeError, TypeError):
            # A malformed entry can never be stored; acknowledging it keeps the stream moving.
            logger.error("dropping malformed decision event entry %r", entry_id)
    return rows


def _store_and_ack(client: Any, entries: Sequence[tuple[bytes, dict[bytes, bytes]]]) -> int:
    if not entries:
        return 0
    rows = _rows_of(entries)
    with transaction.atomic():
        stored = store_rows(rows)
    ids = [entry_id for entry_id, _ in entries]
    # Only after the rows are committed: a crash before this line leaves them pending.
    client.xack(settings.EVENT_STREAM, settings.EVENT_GROUP, *ids)
    client.xdel(settings.EVENT_STREAM, *ids)
    return stored


def drain_stream(*, max_batches: int = 100, consumer: str | None = None) -> int:
    """Move events from the Redis stream into the database; return how many were inserted.

    First claims entries left pending by consumers idle for longer than
    ``IMAGEACCESS_EVENT_CLAIM_IDLE_SECONDS`` (a crashed worker), then reads new ones.
    """
    client = get_redis()
    if client is None:
        return 0
    consumer = consumer or consumer_name()
    _ensure_group(client)
    stream, group, size = settings.EVENT_STREAM, settings.EVENT_GROUP, settings.EVENT_BATCH_SIZE
    inserted = 0
    cursor = "0-0"
    idle_ms = settings.EVENT_CLAIM_IDLE_SECONDS * 1000
    for _ in range(max_batches):
        result: Any = client.xautoclaim(
            stream, group, consumer, idle_ms, start_id=cursor, count=size
        )
        cursor, claimed = result[0], result[1]
        inserted += _store_and_ack(client, claimed)
        if cursor in (b"0-0", "0-0"):
            break
    for _ in range(max_batches):
        response: Any = client.xreadgroup(group, consumer, {stream: ">"}, count=size)
        if not response:
            break
        entries = response[0][1]
        if not entries:
            break
        inserted += _store_and_ack(client, entries)
    return inserted
