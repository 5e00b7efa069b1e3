"""Recording decisions as events without making the decision wait for PostgreSQL.

The request path appends one stream entry per request (all of its decisions) to a Redis
stream: one command, whose reply the request does not wait for (``DeferredStream``).
``drain_stream`` (a Celery task, and ``manage.py drain_events``) reads
the stream with a consumer group in batches, inserts them in bulk and only then acknowledges,
so a worker killed mid-batch loses nothing: its pending entries are claimed by the next
consumer. Inserts are idempotent (``event_id`` is unique), so a batch inserted but not
acknowledged is not inserted twice. Without Redis, or while it is down, events are written to
the database directly.
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import os
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis
from django.conf import settings
from django.db import DatabaseError, close_old_connections, transaction
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


Rows = list[dict[str, Any]]
CONNECTION_NAME = "imageaccess-events"


@dataclass(slots=True)
class _Channel:
    """One thread's own connection, and the rows of the XADDs whose reply is still unread."""

    client: redis.Redis
    connection: Any
    pid: int
    pending: deque[Rows] = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock)
    seen_oldest: Rows | None = None  # the oldest unconfirmed rows at the last background pass


class DeferredStream:
    """Appends entries to the event stream without waiting for Redis's reply.

    Each thread keeps a connection of its own. An XADD is written to the socket and the request
    goes on; its reply is read a few at a time on later appends, by which time it has long
    arrived, so a decision never waits for Redis (one command, no wait). A background thread
    reads whatever is still outstanding every ``confirm_seconds``, so an idle process settles its
    events too. Rows stay in memory until their reply confirms them: an error reply, or a
    connection lost before the reply, sends them to the database instead. Inserts are idempotent
    by ``event_id``, so rows that did reach the stream before the connection broke are not
    stored twice. ``flush`` reads this thread's outstanding replies at once (tests, the drain);
    ``flush_all`` every thread's (process exit).
    """

    collect_every = 8  # read replies once this many are due: one recv for several of them
    max_pending = 512  # beyond this (Redis far behind), an append waits for the replies
    confirm_seconds = 0.5  # no reply stays unread for much longer than this (0: no thread)

    def __init__(self) -> None:
        self._local = threading.local()
        self._channels: list[_Channel] = []
        self._lock = threading.Lock()
        self._confirmer_pid = 0

    def append(self, client: redis.Redis, stream: str, rows: Rows) -> None:
        channel = self._channel(client)
        with channel.lock:
            try:
                if len(channel.pending) >= self.collect_every:
                    self._collect(channel, wait=len(channel.pending) >= self.max_pending)
                # No health check: its PING would read the replies still pending.
                channel.connection.send_command(
                    "XADD", stream, "*", "events", orjson.dumps(rows), check_health=False
                )
            except REDIS_ERRORS as exc:
                self._lost(channel, exc)
                store_rows(rows)
                return
            channel.pending.append(rows)

    def unconfirmed(self) -> int:
        """How many of this thread's appends still wait for their reply to be read."""
        channel = self._own_channel()
        return len(channel.pending) if channel is not None else 0

    def flush(self) -> None:
        """Read every reply this thread still waits for."""
        channel = self._own_channel()
        if channel is not None:
            self._flush(channel)

    def flush_all(self) -> None:
        """Read every thread's outstanding replies."""
        for channel in self._live_channels():
            self._flush(channel)

    def _own_channel(self) -> _Channel | None:
        channel: _Channel | None = getattr(self._local, "channel", None)
        return channel if channel is not None and channel.pid == os.getpid() else None

    def _live_channels(self) -> list[_Channel]:
        with self._lock:
            # A channel inherited through fork belongs to the parent: never touch it.
            self._channels = [c for c in self._channels if c.pid == os.getpid()]
            return list(self._channels)

    def _flush(self, channel: _Channel) -> None:
        with channel.lock:
            try:
                self._collect(channel, wait=True)
            except REDIS_ERRORS as exc:
                self._lost(channel, exc)

    def _channel(self, client: redis.Redis) -> _Channel:
        channel = self._own_channel()
        if channel is not None and channel.client is client:
            return channel
        if channel is not None:
            self._flush(channel)  # the client was replaced (settings changed)
            channel.connection.disconnect()
        pool = client.connection_pool
        # Its own connection, named so that it can be told apart in CLIENT LIST.
        connection = pool.connection_class(
            **{**pool.connection_kwargs, "client_name": f"{CONNECTION_NAME}-{os.getpid()}"}
        )
        channel = _Channel(client, connection, os.getpid())
        self._local.channel = channel
        self._live_channels()
        with self._lock:
            self._channels.append(channel)
            if self.confirm_seconds and self._confirmer_pid != os.getpid():
                # One per process (threads do not survive fork).
                self._confirmer_pid = os.getpid()
                threading.Thread(
                    target=self._confirm_forever, name="decision-event-confirmer", daemon=True
                ).start()
        return channel

    def _confirm_forever(self) -> None:
        pid = os.getpid()
        while os.getpid() == pid:
            time.sleep(self.confirm_seconds or 0.5)
            if not self.confirm_seconds:
                continue
            for channel in self._live_channels():
                self._confirm(channel)
            # Database fallbacks from this thread must not hold a connection for ever.
            close_old_connections()

    def _confirm(self, channel: _Channel) -> None:
        """One background pass: never makes a request wait for it.

        A busy channel is left to its own thread (the lock is taken only if free) and only its
        replies that have arrived are read; a channel whose oldest entry was already waiting at
        the previous pass (an idle thread, or Redis not answering) is read to the end.
        """
        if not channel.pending or not channel.lock.acquire(blocking=False):
            return
        try:
            oldest = channel.pending[0]
            self._collect(channel, wait=oldest is channel.seen_oldest)
        except REDIS_ERRORS as exc:
            self._lost(channel, exc)
        finally:
            channel.seen_oldest = channel.pending[0] if channel.pending else None
            channel.lock.release()

    def _collect(self, channel: _Channel, *, wait: bool) -> None:
        """Read replies that have arrived (all of them, waiting, when ``wait``)."""
        connection = channel.connection
        while channel.pending:
            if not wait and not connection.can_read(timeout=0):
                return
            try:
                connection.read_response()
            except redis.ResponseError as exc:
                rows = channel.pending.popleft()
                logger.warning(
                    "Redis refused %s decision events (%s); storing them", len(rows), exc
                )
                self._store_quietly(rows)
                continue
            channel.pending.popleft()

    def _lost(self, channel: _Channel, exc: Exception) -> None:
        """The connection failed: whatever awaits a reply goes to the database."""
        breaker.trip(exc)
        channel.connection.disconnect()
        while channel.pending:
            self._store_quietly(channel.pending.popleft())

    @staticmethod
    def _store_quietly(rows: Rows) -> None:
        # Rows of earlier requests: their responses are long gone, so a failure is logged here
        # rather than failing the request at hand.
        try:
            store_rows(rows)
        except DatabaseError:
            logger.exception(
                "lost %s decision events: neither Redis nor the database took them", len(rows)
            )


deferred_stream = DeferredStream()
atexit.register(deferred_stream.flush_all)


def record_decisions(outcomes: Sequence[ImageOutcome], context: RequestContext) -> None:
    """Record the decisions of one request: one XADD, or a database insert without Redis."""
    rows = event_rows(outcomes, context, timezone.now())
    if not rows:
        return
    client = get_redis()
    if client is None:
        store_rows(rows)
    else:
        deferred_stream.append(client, settings.EVENT_STREAM, rows)


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
    deferred_stream.flush()  # this thread's own appends are in the stream before it is read
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
