"""Recording decisions as events without making the decision wait for PostgreSQL.

The request path appends one stream entry per request (all of its decisions) to a Redis
stream: one command, whose reply the request does not wait for (``DeferredStream``). Without
Redis, or while it is down, events are written to the database directly, in batches during an
outage (``OutageBatch``). ``policies.events.stream_drain`` moves the stream into PostgreSQL.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing.util
import os
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis
from django.conf import settings
from django.db import Error as DjangoDatabaseError
from django.db import connections
from django.utils import timezone

from imageaccess.redis_client import REDIS_ERRORS, breaker, get_redis
from policies.decision_service import ImageOutcome
from policies.events.event_rows import RequestContext, event_rows, store_rows

logger = logging.getLogger(__name__)

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
