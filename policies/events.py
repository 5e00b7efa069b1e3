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
import multiprocessing.util
import os
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg
import redis
from django.conf import settings
from django.db import DataError, IntegrityError, connection, connections, transaction
from django.db import Error as DjangoDatabaseError
from django.utils import timezone

from imageaccess.redis_client import REDIS_ERRORS, STREAM_RESETS_KEY, breaker, get_redis
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


def new_event_id() -> str:
    """A unique key that sorts by time: microseconds since the epoch, then 72 random bits.

    The unique index on it then grows at its right edge, as the other indexes of the event
    table do, instead of touching a random page of an ever larger index for every insert.
    """
    return f"{time.time_ns() // 1000:014x}{secrets.token_hex(9)}"


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
                "event_id": new_event_id(),
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
                # PostgreSQL text holds no NUL; a front server that passes one must not
                # make the whole batch fail to store.
                "user_agent": context.user_agent[:255].replace("\x00", ""),
                "created_at": now.isoformat(),
            }
        )
    return rows


Rows = list[dict[str, Any]]
# Error replies that no later XADD on this server will escape: a replica after a failover,
# memory full, a user without the permission.
_REFUSES_WRITES = (
    redis.exceptions.ReadOnlyError,
    redis.exceptions.OutOfMemoryError,
    redis.exceptions.NoPermissionError,
)


@dataclass(slots=True, eq=False)
class _Channel:
    """One thread's own connection, and the rows of the XADDs whose reply is still unread."""

    client: redis.Redis
    connection: Any
    pid: int
    thread: threading.Thread
    pending: deque[tuple[float, Rows]] = field(default_factory=deque)  # (sent at, rows)
    lock: threading.Lock = field(default_factory=threading.Lock)
    unsent: Rows = field(default_factory=list)  # refused or lost: for the database
    last_sent: float = 0.0

    def take_unsent(self) -> Rows:
        rows, self.unsent = self.unsent, []
        return rows


class DeferredStream:
    """Appends entries to the event stream without waiting for Redis's reply.

    Each thread keeps a connection of its own. An XADD is written to the socket and the request
    goes on; its reply is read a few at a time on later appends, by which time it has long
    arrived, so a warm decision does not wait for Redis (one command, no reply awaited). A
    background thread reads, without waiting, the replies that have arrived for threads gone
    idle, declares a connection lost when a reply is missing for ``reply_timeout`` seconds, and
    closes the connections of threads that have ended. Rows stay in memory until their reply
    confirms them: an error reply, or a connection lost before the reply, sends them to the
    database instead, never under the channel's lock. Inserts are idempotent by ``event_id``, so
    rows that did reach the stream before the connection broke are not stored twice. ``flush``
    reads this thread's outstanding replies, waiting (tests, the drain); ``flush_all`` every
    thread's, when a process exits.
    """

    collect_every = 8  # read replies once this many are due: one recv for several of them
    max_pending = 512  # beyond this (Redis far behind), an append waits for the replies
    confirm_seconds = 0.5  # the background pass (0: no background thread)
    reply_timeout = 2.0  # a reply missing for this long: the connection is lost
    idle_probe_seconds = 1.0  # after this long unused, check the server has not closed it

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        # A forked child starts with no channels: the parent's connections and rows are not its.
        self._local = threading.local()
        self._channels: list[_Channel] = []
        self._lock = threading.Lock()
        self._confirmer_pid = 0

    def append(self, client: redis.Redis, stream: str, rows: Rows) -> None:
        channel = self._channel(client)
        failure: BaseException | None = None
        with channel.lock:
            try:
                self._prepare(channel)
                # No health check: its PING would read the replies still pending.
                channel.connection.send_command(
                    "XADD", stream, "*", "events", orjson.dumps(rows), check_health=False
                )
            except BaseException as exc:
                failure = exc
                self._lost(channel, exc)
            else:
                channel.last_sent = time.monotonic()
                channel.pending.append((channel.last_sent, rows))
            unsent = channel.take_unsent()
        _store_quietly(unsent)
        if failure is not None:
            if not isinstance(failure, REDIS_ERRORS):
                raise failure
            store_rows(rows)

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

    def forget(self) -> None:
        """Disconnect every channel, dropping what waits for a reply (tests: between one
        test's Redis and the next one's)."""
        for channel in self._live_channels():
            channel.connection.disconnect()
        self._reset()

    def _own_channel(self) -> _Channel | None:
        channel: _Channel | None = getattr(self._local, "channel", None)
        return channel if channel is not None and channel.pid == os.getpid() else None

    def _live_channels(self) -> list[_Channel]:
        with self._lock:
            return list(self._channels)

    def _drop(self, channel: _Channel) -> None:
        channel.connection.disconnect()
        with self._lock:
            if channel in self._channels:
                self._channels.remove(channel)

    def _flush(self, channel: _Channel) -> None:
        with channel.lock:
            try:
                self._collect(channel, wait=True)
            except REDIS_ERRORS as exc:
                self._lost(channel, exc)
            unsent = channel.take_unsent()
        _store_quietly(unsent)

    def _channel(self, client: redis.Redis) -> _Channel:
        channel = self._own_channel()
        if channel is not None and channel.client is client:
            return channel
        if channel is not None:  # the client was replaced (settings changed)
            self._flush(channel)
            self._drop(channel)
        pool = client.connection_pool
        channel = _Channel(
            client,
            pool.connection_class(**pool.connection_kwargs),
            os.getpid(),
            threading.current_thread(),
        )
        self._local.channel = channel
        with self._lock:
            self._channels.append(channel)
            start = bool(self.confirm_seconds) and self._confirmer_pid != os.getpid()
            if start:
                self._confirmer_pid = os.getpid()
        if start:
            self._start_confirmer()
        return channel

    def _start_confirmer(self) -> None:
        try:
            threading.Thread(
                target=self._confirm_forever, name="decision-events", daemon=True
            ).start()
        except RuntimeError:
            self._confirmer_pid = 0  # try again with the next channel
            logger.exception("could not start the decision event confirmer")
            return
        # Worker processes of multiprocessing (granian) end with os._exit, skipping atexit;
        # their finalizers still run. Registered here, in the process that owns the channels.
        multiprocessing.util.Finalize(None, self.flush_all, exitpriority=10)

    def _prepare(self, channel: _Channel) -> None:
        """Before a send: read arrived replies, or check an idle connection is still open."""
        if channel.pending:
            if len(channel.pending) >= self.collect_every:
                self._collect(channel, wait=len(channel.pending) >= self.max_pending)
        elif time.monotonic() - channel.last_sent > self.idle_probe_seconds:
            # Nothing is owed to us, so anything readable means the server closed it (restart,
            # idle timeout): reconnect quietly rather than lose the next event to a dead socket.
            try:
                if channel.connection.can_read(timeout=0):
                    channel.connection.disconnect()
            except REDIS_ERRORS:
                channel.connection.disconnect()

    def _confirm_forever(self) -> None:
        pid = os.getpid()
        while os.getpid() == pid:
            time.sleep(self.confirm_seconds or 0.5)
            if not self.confirm_seconds:
                continue
            try:
                for channel in self._live_channels():
                    self._confirm(channel)
                # This thread's database fallbacks are rare: never keep a connection open.
                connections.close_all()
            except Exception:
                logger.exception("decision event confirmer pass failed")

    def _confirm(self, channel: _Channel) -> None:
        """One background pass over a channel; it never waits for Redis or for the channel."""
        if not channel.lock.acquire(blocking=False):
            return  # its thread is using it: that thread reads its own replies
        try:
            if channel.pending:
                try:
                    self._collect(channel, wait=False)
                except REDIS_ERRORS as exc:
                    self._lost(channel, exc)
                # What is left has not arrived: the oldest decides whether Redis still answers.
                if channel.pending and (
                    time.monotonic() - channel.pending[0][0] >= self.reply_timeout
                ):
                    self._lost(channel, redis.TimeoutError("no reply from Redis"))
            unsent = channel.take_unsent()
            retire = not channel.pending and not channel.thread.is_alive()
        finally:
            channel.lock.release()
        _store_quietly(unsent)
        if retire:
            self._drop(channel)

    def _collect(self, channel: _Channel, *, wait: bool) -> None:
        """Read replies that have arrived (all of them, waiting, when ``wait``)."""
        connection = channel.connection
        while channel.pending:
            if not wait and not connection.can_read(timeout=0):
                return
            try:
                reply = connection.read_response()
            except redis.ResponseError as exc:
                reply = exc
            if isinstance(reply, redis.ConnectionError):
                # An error such as LOADING is returned, not raised, when it was already
                # buffered: the connection is not usable.
                raise reply
            _, rows = channel.pending.popleft()
            if isinstance(reply, Exception):
                logger.warning(
                    "Redis refused %s decision events (%s); storing them", len(rows), reply
                )
                channel.unsent.extend(rows)
                if isinstance(reply, _REFUSES_WRITES):
                    # Every later XADD would be refused too: treat it as an outage, so the
                    # breaker sends events to the database and a reconnect can find a primary.
                    raise redis.ConnectionError(f"Redis refuses writes: {reply}")

    def _lost(self, channel: _Channel, exc: BaseException) -> None:
        """The connection failed: whatever awaits a reply goes to the database."""
        if isinstance(exc, REDIS_ERRORS):
            breaker.trip(exc)
        channel.connection.disconnect()
        while channel.pending:
            channel.unsent.extend(channel.pending.popleft()[1])


def _store_quietly(rows: Rows) -> None:
    """Store rows of requests already answered: a failure never reaches the request at hand.

    Their responses are long gone, so it must not fail the request at hand. Rows the database
    does not take either (Redis and PostgreSQL out at once) wait in the outage batch, which
    tries again until one of them returns.
    """
    if not rows:
        return
    try:
        store_rows(rows)
    except DjangoDatabaseError as exc:
        outage_batch.keep(rows, exc)


deferred_stream = DeferredStream()
atexit.register(deferred_stream.flush_all)


class OutageBatch:
    """Events of requests answered while Redis is down, stored in one insert per batch.

    Written one request at a time, an outage costs a commit per request, a tenfold drop in
    what a node answers. Requests add their rows here; a request that finds the batch older
    than ``max_age`` or larger than ``max_rows`` stores it all, and a background pass stores
    what waits when requests stop coming. A worker killed outright loses at most ``max_age``
    of events (the exit handlers store the rest). Rows the database refuses too are held (up
    to ``max_held``) and the background pass alone tries them again, so no request waits for
    a database that just failed.
    """

    max_age = 0.05  # seconds
    max_rows = 500
    max_held = 50_000  # rows kept while the database refuses them too (about 25 MB)
    background_seconds = 0.05  # the background pass (0: none; tests store with ``flush``)

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._rows: Rows = []
        self._since = 0.0
        self._warned_at = -10.0
        self._refused = False  # the database refused rows that still wait
        self._thread_pid = 0

    def add(self, rows: Rows) -> None:
        now = time.monotonic()
        with self._lock:
            if not self._rows:
                self._since = now
            self._rows.extend(rows)
            due = len(self._rows) >= self.max_rows or now - self._since >= self.max_age
            taken = self._take() if due and not self._refused else []
        self._ensure_background()
        _store_quietly(taken)

    def flush(self) -> None:
        """Store whatever waits."""
        with self._lock:
            taken = self._take()
        _store_quietly(taken)

    def keep(self, rows: Rows, exc: BaseException) -> None:
        """Hold rows the database refused, ahead of the rest, for the next attempt.

        Past ``max_held`` rows the newest are dropped, and the loss is logged.
        """
        with self._lock:
            if not self._rows:
                self._since = time.monotonic()
            held = [*rows, *self._rows]
            self._rows = held[: self.max_held]
            self._refused = True
            dropped = len(held) - len(self._rows)
            self._warn_once(exc)
        if dropped:
            logger.error(
                "lost %s decision events: neither Redis nor the database took them and %s "
                "already wait in memory",
                dropped,
                self.max_held,
            )
        self._ensure_background()

    def _warn_once(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._warned_at > 5:
            self._warned_at = now
            logger.warning(
                "neither Redis nor the database takes decision events (%s); %s wait in memory",
                exc,
                len(self._rows),
            )

    def flush_at_exit(self) -> None:
        """The last attempt before the process ends: what the database refuses is lost."""
        with self._lock:
            taken = self._take()
        if not taken:
            return
        try:
            store_rows(taken)
        except DjangoDatabaseError:
            logger.exception(
                "lost %s decision events at exit: neither Redis nor the database took them",
                len(taken),
            )

    def _store_held(self, rows: Rows, chunk: int = 5000) -> None:
        for start in range(0, len(rows), chunk):
            try:
                store_rows(rows[start : start + chunk])
            except DjangoDatabaseError as exc:
                self.keep(rows[start:], exc)
                return
        with self._lock:
            if rows and self._refused:
                self._refused = False
                logger.warning("the database takes decision events again")

    def clear(self) -> None:
        """Forget whatever waits (tests, between one test and the next)."""
        with self._lock:
            self._take()
            self._refused = False

    def _take(self) -> Rows:
        rows, self._rows = self._rows, []
        return rows

    def _ensure_background(self) -> None:
        if not self.background_seconds or self._thread_pid == os.getpid():
            return
        with self._lock:
            if self._thread_pid == os.getpid():
                return
            self._thread_pid = os.getpid()
        threading.Thread(target=self._background, name="event-outage-batch", daemon=True).start()
        # As for the stream's channels: granian's workers skip atexit, not finalizers.
        multiprocessing.util.Finalize(None, self.flush_at_exit, exitpriority=10)

    def _background(self) -> None:
        while True:
            time.sleep(self.background_seconds)
            try:
                with self._lock:
                    due = bool(self._rows) and time.monotonic() - self._since >= self.max_age
                    taken = self._take() if due else []
                self._store_held(taken)
            finally:
                # A thread that is not a request's closes its connection after each pass.
                connections.close_all()


outage_batch = OutageBatch()
atexit.register(outage_batch.flush_at_exit)


def record_decisions(outcomes: Sequence[ImageOutcome], context: RequestContext) -> None:
    """Record the decisions of one request: one XADD; without Redis, the database.

    With no Redis configured (development) the rows are stored at once; with Redis
    configured but down they join the outage batch.
    """
    rows = event_rows(outcomes, context, timezone.now())
    if not rows:
        return
    client = get_redis()
    if client is not None:
        deferred_stream.append(client, settings.EVENT_STREAM, rows)
    elif settings.REDIS_URL:
        outage_batch.add(rows)
    else:
        store_rows(rows)


def _model(row: dict[str, Any]) -> DecisionEvent:
    fields = dict(row)
    fields["created_at"] = dt.datetime.fromisoformat(fields["created_at"])
    return DecisionEvent(**fields)


def store_rows(rows: Sequence[dict[str, Any]]) -> int:
    """Insert event rows; rows already stored (same ``event_id``) are skipped."""
    if not rows:
        return 0
    if connection.vendor == "postgresql":
        return _insert_postgresql(rows)
    ids = [row["event_id"] for row in rows]
    existing = set(
        DecisionEvent.objects.filter(event_id__in=ids).values_list("event_id", flat=True)
    )
    new = [_model(row) for row in rows if row["event_id"] not in existing]
    # ignore_conflicts still guards a race with another consumer inserting the same batch.
    DecisionEvent.objects.bulk_create(new, ignore_conflicts=True, batch_size=1000)
    return len(new)


# The columns of an event row and the type each is cast to from the text array it is sent
# in: one array per column keeps the statement the same whatever the batch size.
_EVENT_COLUMNS = (
    ("event_id", "text"),
    ("org_id", "bigint"),
    ("user_id", "bigint"),
    ("username", "text"),
    ("token_id", "bigint"),
    ("image", "text"),
    ("reference", "text"),
    ("repository", "text"),
    ("category", "text"),
    ("allowed", "boolean"),
    ("would_deny", "boolean"),
    ("reason", "text"),
    ("enforcer", "text"),
    ("client_address", "inet"),
    ("user_agent", "text"),
    ("created_at", "timestamptz"),
)
_INSERT_EVENTS = (  # noqa: S608 (names from the model, values as parameters)
    "INSERT INTO {table} ({names}) SELECT {casts} FROM unnest({arrays}) AS t({names}) "
    "ON CONFLICT (event_id) DO NOTHING"
).format(
    table=DecisionEvent._meta.db_table,
    names=", ".join(name for name, _ in _EVENT_COLUMNS),
    casts=", ".join(f"{name}::{kind}" for name, kind in _EVENT_COLUMNS),
    arrays=", ".join("%b::text[]" for _ in _EVENT_COLUMNS),
)


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "t" if value else "f"
    return str(value)


# Columns whose values are not text (or null) as the request path writes them.
_CONVERTED = frozenset({"org_id", "user_id", "token_id", "allowed", "would_deny"})


def _text_column(rows: Sequence[dict[str, Any]], name: str) -> list[Any]:
    values = [row.get(name) for row in rows]
    # Text as written; anything else (an entry no server of ours wrote) is converted rather
    # than let one odd value fail every retry of its batch.
    if all(value.__class__ is str or value is None for value in values):
        return values
    return [_as_text(value) for value in values]


def _insert_postgresql(rows: Sequence[dict[str, Any]]) -> int:
    """One statement for the whole batch; a conflict on ``event_id`` skips the row.

    Measured with bench/bench_drain.py: Django's ``bulk_create`` spent most of the drain's
    time building SQL for each row; arrays of column values are sent once, and the
    idempotency check is the unique index's, not a query before the insert.
    """
    connection.ensure_connection()  # first: a database that just failed fails this fast
    columns = [
        [_as_text(row.get(name)) for row in rows]
        if name in _CONVERTED
        else _text_column(rows, name)
        for name, _ in _EVENT_COLUMNS
    ]
    # Server-side binding with binary arrays: Django's cursor would quote every value into
    # the statement's text.
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(_INSERT_EVENTS, columns, binary=True)
        return int(cursor.rowcount)


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


_INSERT_EVENTS_JSON = (  # noqa: S608 (names from the model, values as parameters)
    "INSERT INTO {table} ({names}) SELECT {names} "
    "FROM json_populate_recordset(NULL::{table}, %s::json) ON CONFLICT (event_id) DO NOTHING"
).format(table=DecisionEvent._meta.db_table, names=", ".join(name for name, _ in _EVENT_COLUMNS))


def _insert_entries_postgresql(entries: Sequence[tuple[bytes, dict[bytes, bytes]]]) -> int:
    """Store a batch of stream entries as PostgreSQL reads them: their JSON, joined.

    Each entry's field is already a JSON array of rows; joined into one array, PostgreSQL
    parses it (in C) straight into rows, and Python touches no row at all. Measured with
    bench/bench_backlog.py: under full load the drain shares the machine with the servers,
    and building column arrays in Python was a third of its time.
    """
    parts = []
    for _, fields in entries:
        payload = fields[b"events"].strip()
        if not (payload.startswith(b"[") and payload.endswith(b"]")):
            raise ValueError("not a JSON array")
        if len(payload) > 2:
            parts.append(payload[1:-1])
    if not parts:
        return 0
    document = b"[" + b",".join(parts) + b"]"
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(_INSERT_EVENTS_JSON, [document.decode()])
        return int(cursor.rowcount)


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
                return _insert_entries_postgresql(entries)
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
