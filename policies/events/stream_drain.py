"""Draining the decision event stream into PostgreSQL (a Celery task and ``drain_events``).

``drain_stream`` reads the stream with a consumer group in batches, inserts them in bulk and
only then acknowledges, so a worker killed mid-batch loses nothing: its pending entries are
claimed by the next consumer. Inserts are idempotent (``event_id`` is unique), so a batch
inserted but not acknowledged is not inserted twice.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Sequence
from typing import Any

import orjson
from django.conf import settings
from django.db import DataError, IntegrityError, connection, transaction

from imageaccess.redis_client import REDIS_ERRORS, STREAM_RESETS_KEY, get_redis
from policies.events.event_rows import insert_json_arrays, store_rows
from policies.events.stream_writer import deferred_stream, outage_batch

logger = logging.getLogger(__name__)


def consumer_name() -> str:
    """This process's consumer name in the group (host and pid: unique while it lives)."""
    return f"{socket.gethostname()}-{os.getpid()}"


class _GroupWatch:
    """Notices a consumer group that vanished after this process had seen it.

    That happens when Redis restarts without persistence (or loses its data otherwise): the
    entries the group held, decisions already answered, are gone. The loss is logged and
    counted in Redis (``STREAM_RESETS_KEY``), which ``/readyz`` reports. A worker that starts
    after such a restart cannot tell it from a first start.
    """

    seen = False


_group_watch = _GroupWatch()


def _ensure_group(client: Any) -> None:
    try:
        client.xgroup_create(settings.EVENT_STREAM, settings.EVENT_GROUP, id="0", mkstream=True)
    except REDIS_ERRORS as exc:
        if "BUSYGROUP" not in str(exc):
            raise
        _group_watch.seen = True
        return
    if _group_watch.seen:
        resets = client.incr(STREAM_RESETS_KEY)
        logger.error(
            "the decision event stream's consumer group was gone: Redis restarted empty or "
            "lost its data, and decisions it held were lost (reset %s); run Redis with "
            "appendonly yes",
            resets,
        )
    _group_watch.seen = True


def _rows_of(entries: Sequence[tuple[bytes, dict[bytes, bytes]]]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for entry_id, fields in entries:
        try:
            rows.extend(orjson.loads(fields[b"events"]))
        except (KeyError, orjson.JSONDecodeError, TypeError):
            # A malformed entry can never be stored; acknowledging it keeps the stream moving.
            logger.error("dropping malformed decision event entry %r", entry_id)
    return rows


# What a stream entry that can never be stored raises; an unavailable database raises
# something else (OperationalError, InterfaceError) and leaves the batch pending for a retry.
_UNSTORABLE = (DataError, IntegrityError, KeyError, ValueError, TypeError, AttributeError)


def _store_entries(entries: Sequence[tuple[bytes, dict[bytes, bytes]]]) -> int:
    """Store a batch: PostgreSQL parses it whole; if it cannot, entry by entry.

    Entry by entry, one that cannot be stored (not JSON, a row the table refuses) is logged
    and dropped, so it never blocks the stream, and the rest of its batch is stored.
    """
    if connection.vendor == "postgresql":
        try:
            with transaction.atomic():
                return insert_json_arrays([fields[b"events"] for _, fields in entries])
        except _UNSTORABLE:
            logger.warning("a decision event batch holds an entry that cannot be stored")
    stored = 0
    for entry in entries:
        try:
            with transaction.atomic():
                stored += store_rows(_rows_of([entry]))
        except _UNSTORABLE:
            logger.exception("dropping decision event entry %r: it cannot be stored", entry[0])
    return stored


def _store_and_ack(client: Any, entries: Sequence[tuple[bytes, dict[bytes, bytes]]]) -> int:
    if not entries:
        return 0
    stored = _store_entries(entries)
    ids = [entry_id for entry_id, _ in entries]
    # Only after the rows are committed: a crash before this line leaves them pending.
    # Acknowledged and deleted in one round trip.
    pipe = client.pipeline(transaction=False)
    pipe.xack(settings.EVENT_STREAM, settings.EVENT_GROUP, *ids)
    pipe.xdel(settings.EVENT_STREAM, *ids)
    pipe.execute()
    return stored


def _forget_dead_consumers(client: Any, *, keep: str, idle_ms: int) -> None:
    """Remove consumers that hold nothing and have been idle past the claim delay.

    Each worker process joins the group under its own name, so every restart leaves one
    behind; their pending entries were claimed above, and an empty, idle consumer is only
    clutter in ``XINFO`` and in the group's memory.
    """
    stream, group = settings.EVENT_STREAM, settings.EVENT_GROUP
    consumers: Any = client.xinfo_consumers(stream, group)
    for info in consumers:
        name = info["name"].decode() if isinstance(info["name"], bytes) else str(info["name"])
        if name != keep and int(info["pending"]) == 0 and int(info["idle"]) > idle_ms:
            client.xgroup_delconsumer(stream, group, name)


def drain_stream(*, max_batches: int = 100, consumer: str | None = None) -> int:
    """Move events from the Redis stream into the database; return how many were inserted.

    First claims entries left pending by consumers idle for longer than
    ``IMAGEACCESS_EVENT_CLAIM_IDLE_SECONDS`` (a crashed worker), then reads new ones.
    """
    deferred_stream.flush()  # this thread's own appends are in the stream before it is read
    outage_batch.flush()
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
    _forget_dead_consumers(client, keep=consumer, idle_ms=idle_ms)
    for _ in range(max_batches):
        response: Any = client.xreadgroup(group, consumer, {stream: ">"}, count=size)
        if not response:
            break
        entries = response[0][1]
        if not entries:
            break
        inserted += _store_and_ack(client, entries)
    return inserted
