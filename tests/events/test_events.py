"""Decision events: the Redis stream, the consumer group, the database fallback, rollups."""

from __future__ import annotations

import datetime as dt
import io
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from imageaccess import redis_client
from policies.decision_service import decide_images
from policies.events import event_rows, stream_drain, stream_writer
from policies.events.event_rows import RequestContext
from policies.events.rollups import roll_up_and_purge
from policies.events.stream_drain import drain_stream
from policies.events.stream_writer import deferred_stream, outage_batch, record_decisions
from policies.models import DailyUsage, DecisionEvent, RollupState
from policies.services import update_policy
from tests.conftest import Cast

pytestmark = pytest.mark.django_db
REDIS_URL = os.environ.get("REDIS_URL", "")
needs_redis = pytest.mark.skipif(
    not REDIS_URL and os.environ.get("CI") != "true",
    reason="needs a real Redis: set REDIS_URL (CI does)",
)


def pending(client: redis.Redis, settings: Any) -> int:
    """Entries read by some consumer of the group but not yet acknowledged."""
    info: Any = client.xpending(settings.EVENT_STREAM, settings.EVENT_GROUP)
    return int(info["pending"])


def use_redis(settings: Any, url: str | None) -> None:
    settings.REDIS_URL = url
    redis_client._client.cache_clear()
    redis_client.breaker.reset()


@pytest.fixture
def stream(settings) -> Iterator[redis.Redis]:
    """Real Redis, with a stream and group private to this test."""
    assert REDIS_URL, "CI must set REDIS_URL"
    use_redis(settings, REDIS_URL)
    settings.EVENT_STREAM = f"test:events:{os.getpid()}:{time.monotonic_ns()}"
    client = redis.Redis.from_url(REDIS_URL)
    yield client
    client.delete(settings.EVENT_STREAM)
    redis_client._client.cache_clear()


def decide_and_record(cast: Cast, images: list[str]) -> None:
    outcomes = decide_images(images, user_id=cast.mike.pk)
    record_decisions(
        outcomes, RequestContext(enforcer="api", user_id=cast.mike.pk, username="mike")
    )


def test_without_redis_events_go_straight_to_the_database(cast: Cast, settings) -> None:
    use_redis(settings, None)
    decide_and_record(cast, ["nginx", "someuser/x", "Bad Ref"])
    assert DecisionEvent.objects.count() == 2


@needs_redis
def test_with_redis_one_request_is_one_stream_entry_and_drains_exactly_once(
    cast: Cast, stream: redis.Redis, settings
) -> None:
    for _ in range(3):
        decide_and_record(cast, ["nginx", "someuser/x"])
    deferred_stream.flush()
    assert stream.xlen(settings.EVENT_STREAM) == 3
    assert DecisionEvent.objects.count() == 0
    assert drain_stream() == 6
    assert drain_stream() == 0
    assert DecisionEvent.objects.count() == 6
    assert stream.xlen(settings.EVENT_STREAM) == 0
    event = DecisionEvent.objects.filter(image="someuser/x").first()
    assert event is not None
    assert (event.org_id, event.username) == (cast.acme.pk, "mike")


@needs_redis
@pytest.mark.parametrize(
    "odd",
    [
        {"events": b"not json"},
        {"events": b'{"an": "object"}'},
        {"other": b"[]"},
        {"events": b'[{"event_id": "no-image-column"}]'},
        {"events": b"[]"},
    ],
    ids=["not-json", "object", "no-field", "row-the-table-refuses", "empty"],
)
def test_an_entry_that_cannot_be_stored_is_dropped_and_the_rest_of_its_batch_stored(
    cast: Cast, stream: redis.Redis, settings, odd: dict[Any, Any]
) -> None:
    decide_and_record(cast, ["nginx", "someuser/x"])
    deferred_stream.flush()
    stream.xadd(settings.EVENT_STREAM, odd)
    decide_and_record(cast, ["bitnami/redis"])
    deferred_stream.flush()
    assert drain_stream() == 3
    assert stream.xlen(settings.EVENT_STREAM) == 0
    assert pending(stream, settings) == 0
    assert sorted(DecisionEvent.objects.values_list("image", flat=True)) == [
        "bitnami/redis",
        "nginx",
        "someuser/x",
    ]


@needs_redis
def test_a_database_that_fails_leaves_the_batch_in_the_stream(
    cast: Cast, stream: redis.Redis, settings, monkeypatch
) -> None:
    """Unavailable is not unstorable: nothing is dropped or acknowledged, the next run stores."""
    from django.db import OperationalError

    decide_and_record(cast, ["nginx", "someuser/x"])
    deferred_stream.flush()

    def unavailable(*args: Any, **kwargs: Any) -> int:
        raise OperationalError("the database went away")

    with monkeypatch.context() as patch:
        patch.setattr(stream_drain, "insert_json_arrays", unavailable)
        patch.setattr(stream_drain, "store_rows", unavailable)
        with pytest.raises(OperationalError):
            drain_stream()
    assert DecisionEvent.objects.count() == 0
    assert stream.xlen(settings.EVENT_STREAM) == 1
    settings.EVENT_CLAIM_IDLE_SECONDS = 0  # the failed read is claimed back at once
    assert drain_stream() == 2
    assert pending(stream, settings) == 0


@needs_redis
def test_entries_of_a_dead_consumer_are_claimed_and_stored_once(
    cast: Cast, stream: redis.Redis, settings
) -> None:
    settings.EVENT_CLAIM_IDLE_SECONDS = 1
    decide_and_record(cast, ["nginx"])
    drain_stream(consumer="dead", max_batches=0)  # creates the group
    # The "dead" consumer reads the entry and dies before acknowledging it.
    stream.xreadgroup(settings.EVENT_GROUP, "dead", {settings.EVENT_STREAM: ">"}, count=10)
    assert drain_stream(consumer="alive") == 0  # not idle long enough yet
    time.sleep(1.1)
    assert drain_stream(consumer="alive") == 1
    assert pending(stream, settings) == 0
    assert DecisionEvent.objects.count() == 1


@needs_redis
def test_a_batch_stored_but_not_acknowledged_is_not_stored_twice(
    cast: Cast, stream: redis.Redis, settings
) -> None:
    settings.EVENT_CLAIM_IDLE_SECONDS = 1
    decide_and_record(cast, ["nginx", "bitnami/redis"])
    original_xack = redis.Redis.xack

    def crash_after_commit(self, *args, **kwargs):
        raise ConnectionError("worker died before XACK")

    redis.Redis.xack = crash_after_commit  # type: ignore[method-assign]
    try:
        with pytest.raises(ConnectionError):
            drain_stream(consumer="first")
    finally:
        redis.Redis.xack = original_xack  # type: ignore[method-assign]
    assert DecisionEvent.objects.count() == 2
    time.sleep(1.1)
    assert drain_stream(consumer="second") == 0
    assert DecisionEvent.objects.count() == 2
    assert pending(stream, settings) == 0


@needs_redis
def test_a_request_sends_its_xadd_and_does_not_wait_for_the_reply(
    cast: Cast, stream: redis.Redis, settings
) -> None:
    decide_and_record(cast, ["nginx"])
    assert deferred_stream.unconfirmed() == 1  # sent; the reply is read later
    for _ in range(deferred_stream.collect_every - 1):
        decide_and_record(cast, ["bitnami/redis"])
    assert deferred_stream.unconfirmed() == deferred_stream.collect_every
    wait_for(lambda: stream.xlen(settings.EVENT_STREAM) == deferred_stream.collect_every)
    time.sleep(0.05)  # Redis has answered them all: the replies are in our socket
    decide_and_record(cast, ["bitnami/redis"])
    # The next append read the replies that had arrived, a few at a time.
    assert deferred_stream.unconfirmed() == 1
    deferred_stream.flush()
    assert deferred_stream.unconfirmed() == 0
    assert stream.xlen(settings.EVENT_STREAM) == 1 + deferred_stream.collect_every
    assert DecisionEvent.objects.count() == 0


def wait_for(condition: Any, seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture
def background_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    """The background reader on, fast (it starts with the next new channel)."""
    monkeypatch.setattr(deferred_stream, "confirm_seconds", 0.05)
    monkeypatch.setattr(deferred_stream, "reply_timeout", 0.3)


@needs_redis
def test_an_idle_thread_has_its_replies_read_in_the_background(
    cast: Cast, stream: redis.Redis, settings, background_reader: None
) -> None:
    decide_and_record(cast, ["nginx"])  # a new client, so a new channel
    decide_and_record(cast, ["bitnami/redis"])
    wait_for(lambda: deferred_stream.unconfirmed() == 0)  # no request, no flush: read anyway
    assert stream.xlen(settings.EVENT_STREAM) == 2


@needs_redis
@pytest.mark.django_db(transaction=True)  # the background thread writes through its own connection
def test_a_reply_that_never_comes_sends_the_events_to_the_database(
    cast: Cast, stream: redis.Redis, settings, background_reader: None
) -> None:
    decide_and_record(cast, ["nginx"])
    deferred_stream.flush()
    stream.client_pause(3000, all=False)  # Redis holds write commands unprocessed
    try:
        decide_and_record(cast, ["someuser/x"])
        wait_for(lambda: DecisionEvent.objects.filter(image="someuser/x").exists())
        assert deferred_stream.unconfirmed() == 0
    finally:
        stream.client_unpause()
        redis_client.breaker.reset()


@needs_redis
@pytest.mark.django_db(transaction=True)
def test_the_connection_of_a_thread_that_ended_is_closed(
    cast: Cast, stream: redis.Redis, settings, background_reader: None
) -> None:
    decide_and_record(cast, ["nginx"])  # this thread's channel (and the reader) first
    before = len(deferred_stream._live_channels())

    def request_in_another_thread() -> None:
        try:
            decide_and_record(cast, ["bitnami/redis"])
        finally:
            connection.close()  # this thread's own database connection

    worker = threading.Thread(target=request_in_another_thread)
    worker.start()
    worker.join()
    assert len(deferred_stream._live_channels()) == before + 1
    wait_for(lambda: len(deferred_stream._live_channels()) == before)
    assert stream.xlen(settings.EVENT_STREAM) == 2  # its event was confirmed, then it closed


@needs_redis
def test_a_connection_the_server_closed_while_idle_reconnects_quietly(
    cast: Cast, stream: redis.Redis, settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deferred_stream, "idle_probe_seconds", 0)
    decide_and_record(cast, ["nginx"])
    deferred_stream.flush()
    kill_our_connection(stream)  # a Redis restart, or its idle timeout
    decide_and_record(cast, ["bitnami/redis"])
    deferred_stream.flush()
    assert stream.xlen(settings.EVENT_STREAM) == 2
    assert DecisionEvent.objects.count() == 0
    assert redis_client.get_redis() is not None  # no outage declared


def kill_our_connection(stream: redis.Redis) -> None:
    """Close, from the server side, this thread's event connection."""
    channel = deferred_stream._own_channel()
    assert channel is not None
    host, port = channel.connection._sock.getsockname()[:2]
    stream.client_kill_filter(addr=f"{host}:{port}")


@needs_redis
def test_an_error_reply_sends_the_events_to_the_database(
    cast: Cast, stream: redis.Redis, settings
) -> None:
    stream.set(settings.EVENT_STREAM, "not a stream")  # every XADD now answers WRONGTYPE
    decide_and_record(cast, ["nginx", "someuser/x"])
    decide_and_record(cast, ["bitnami/redis"])
    deferred_stream.flush()
    assert sorted(DecisionEvent.objects.values_list("image", flat=True)) == [
        "bitnami/redis",
        "nginx",
        "someuser/x",
    ]
    assert redis_client.get_redis() is not None  # an error reply is not an outage


@needs_redis
def test_a_server_that_refuses_writes_is_an_outage(
    cast: Cast, stream: redis.Redis, settings
) -> None:
    # A user without XADD stands for a replica after a failover or a full memory: every
    # later XADD would be refused as well.
    user = f"no-xadd-{os.getpid()}"
    stream.acl_setuser(
        user, enabled=True, passwords=["+secret"], keys=["*"], commands=["+@all", "-xadd"]
    )
    try:
        use_redis(settings, REDIS_URL.replace("redis://", f"redis://{user}:secret@", 1))
        decide_and_record(cast, ["nginx"])
        deferred_stream.flush()
        assert redis_client.get_redis() is None  # the breaker is open: Redis is skipped
        decide_and_record(cast, ["bitnami/redis"])  # to the database, in the outage batch
        outage_batch.flush()
        assert sorted(DecisionEvent.objects.values_list("image", flat=True)) == [
            "bitnami/redis",
            "nginx",
        ]
    finally:
        stream.acl_deluser(user)
        use_redis(settings, REDIS_URL)


@needs_redis
def test_events_sent_on_a_connection_lost_before_its_reply_go_to_the_database(
    cast: Cast, stream: redis.Redis, settings
) -> None:
    decide_and_record(cast, ["nginx"])  # connects
    deferred_stream.flush()
    stream.client_pause(5000, all=False)  # Redis holds write commands unprocessed ...
    try:
        decide_and_record(cast, ["someuser/x"])
        kill_our_connection(stream)  # ... and the connection dies before Redis runs the XADD
    finally:
        stream.client_unpause()
    decide_and_record(cast, ["bitnami/redis"])
    deferred_stream.flush()  # notices the loss: both go to the database
    assert sorted(DecisionEvent.objects.values_list("image", flat=True)) == [
        "bitnami/redis",
        "someuser/x",
    ]
    assert stream.xlen(settings.EVENT_STREAM) == 1  # only the first
    redis_client.breaker.reset()  # the lost connection kept callers off Redis for a while
    assert drain_stream() == 1
    assert DecisionEvent.objects.count() == 3


def test_when_redis_is_down_events_fall_back_to_the_database(cast: Cast, settings) -> None:
    use_redis(settings, "redis://127.0.0.1:1/0")  # nothing listens on port 1
    decide_and_record(cast, ["nginx"])
    decide_and_record(cast, ["bitnami/redis"])  # breaker open: no second connection attempt
    outage_batch.flush()
    assert DecisionEvent.objects.count() == 2
    redis_client._client.cache_clear()
    redis_client.breaker.reset()


def test_during_a_redis_outage_events_are_stored_in_batches_not_per_request(
    cast: Cast, settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_redis(settings, "redis://127.0.0.1:1/0")
    redis_client.breaker.trip(ConnectionError("down"))
    monkeypatch.setattr(outage_batch, "max_age", 60.0)
    monkeypatch.setattr(outage_batch, "max_rows", 30)
    inserts: list[int] = []
    store = stream_writer.store_rows

    def counted(rows: Any) -> int:
        inserts.append(len(rows))
        return store(rows)

    monkeypatch.setattr(stream_writer, "store_rows", counted)
    try:
        for _ in range(14):  # 28 events: under the batch size, inside its age
            decide_and_record(cast, ["nginx", "someuser/x"])
        assert inserts == []
        assert DecisionEvent.objects.count() == 0
        decide_and_record(cast, ["nginx", "someuser/x"])  # 30: the batch is full
        assert inserts == [30]
        assert DecisionEvent.objects.count() == 30
        monkeypatch.setattr(outage_batch, "max_age", 0.0)
        decide_and_record(cast, ["nginx"])  # past its age: stored by the request that finds it
        assert inserts == [30, 1]
        assert DecisionEvent.objects.count() == 31
    finally:
        redis_client._client.cache_clear()
        redis_client.breaker.reset()


def test_with_redis_and_the_database_both_refusing_events_wait_in_memory_and_none_is_lost(
    cast: Cast, settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No request waits for the database meanwhile: only the background pass tries again."""
    from django.db import OperationalError

    use_redis(settings, "redis://127.0.0.1:1/0")
    redis_client.breaker.trip(ConnectionError("down"))
    monkeypatch.setattr(outage_batch, "max_age", 0.0)
    store = stream_writer.store_rows
    attempts: list[int] = []
    database_up = False

    def refusing(rows: Any) -> int:
        attempts.append(len(rows))
        if not database_up:
            raise OperationalError("the database is unavailable")
        return store(rows)

    monkeypatch.setattr(stream_writer, "store_rows", refusing)
    try:
        decide_and_record(cast, ["nginx", "someuser/x"])  # refused: held
        assert attempts == [2]
        for _ in range(5):  # requests only add: the held rows wait for the background pass
            decide_and_record(cast, ["nginx", "someuser/x"])
        assert attempts == [2]
        outage_batch._store_held(outage_batch._take())  # a background pass: refused again
        assert attempts == [2, 12]
        assert DecisionEvent.objects.count() == 0
        database_up = True
        decide_and_record(cast, ["bitnami/redis"])
        outage_batch._store_held(outage_batch._take())  # the next pass: the database is back
        assert DecisionEvent.objects.count() == 13
        decide_and_record(cast, ["nginx"])  # requests store their batches again
        assert DecisionEvent.objects.count() == 14
    finally:
        redis_client._client.cache_clear()
        redis_client.breaker.reset()


def test_rows_held_past_the_limit_are_dropped_with_an_error(
    settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(outage_batch, "max_held", 3)
    rows = [{"event_id": str(n)} for n in range(5)]
    outage_batch.keep(rows, ConnectionError("down"))
    assert [row["event_id"] for row in outage_batch._take()] == ["0", "1", "2"]
    assert "lost 2 decision events" in caplog.text


def make_event(
    cast: Cast,
    *,
    when: dt.datetime,
    allowed: bool,
    would_deny: bool = False,
    repository: str = "someuser/x",
) -> DecisionEvent:
    return DecisionEvent(
        event_id=f"{when.timestamp()}-{repository}-{allowed}-{time.monotonic_ns()}",
        org=cast.acme,
        user=cast.mike,
        username="mike",
        image=repository,
        reference=f"docker.io/{repository}:latest",
        repository=repository,
        category="community",
        allowed=allowed,
        would_deny=would_deny,
        reason="r",
        enforcer="api",
        created_at=when,
    )


def test_rollups_count_by_day_and_outcome_and_purge_keeps_every_event_counted(
    cast: Cast,
) -> None:
    today = timezone.now().date()
    noon = dt.datetime.combine(today, dt.time(12), tzinfo=dt.UTC)
    old = noon - dt.timedelta(days=100)
    DecisionEvent.objects.bulk_create(
        [make_event(cast, when=old, allowed=False)] * 0
        + [make_event(cast, when=old, allowed=False) for _ in range(3)]
        + [make_event(cast, when=noon, allowed=True, repository="library/nginx")]
        + [make_event(cast, when=noon, allowed=False) for _ in range(2)]
        + [make_event(cast, when=noon, allowed=True, would_deny=True)]
    )
    report = roll_up_and_purge(retention_days=90, today=today)
    assert report.purged == 3
    counts = {(u.day, u.outcome): u.count for u in DailyUsage.objects.filter(org=cast.acme)}
    assert counts[(old.date(), "denied")] == 3
    assert counts[(today, "denied")] == 2
    assert counts[(today, "allowed")] == 1
    assert counts[(today, "would_deny")] == 1
    assert DecisionEvent.objects.count() == 4
    # Running again changes nothing (idempotent).
    roll_up_and_purge(retention_days=90, today=today)
    assert {(u.day, u.outcome): u.count for u in DailyUsage.objects.all()} == counts
    assert RollupState.objects.get().next_day == today - dt.timedelta(days=1)


def test_rollup_command_reports_and_rejects_bad_retention(cast: Cast) -> None:
    out = io.StringIO()
    call_command("rollup_events", stdout=out)
    assert "rolled up" in out.getvalue()
    with pytest.raises(CommandError, match="at least 1"):
        call_command("rollup_events", "--retention-days", "0")


def test_drain_command_without_redis_does_nothing(settings, db: None) -> None:
    use_redis(settings, None)
    out = io.StringIO()
    call_command("drain_events", stdout=out)
    assert "0 decision events stored" in out.getvalue()


def test_policy_on_denials_are_recorded_with_outcome(cast: Cast, settings) -> None:
    use_redis(settings, None)
    update_policy(org=cast.acme, actor=cast.olivia, changes={"enabled": True})
    decide_and_record(cast, ["someuser/x"])
    event = DecisionEvent.objects.get()
    assert (event.allowed, event.reason) == (
        False,
        "image access denied: community images not allowed",
    )


@pytest.mark.django_db
def test_a_stream_row_with_values_of_another_type_is_stored_as_text() -> None:
    """One odd value (no server of ours writes it) must not fail its batch on every retry."""
    row = {
        "event_id": "odd-types",
        "org_id": None,
        "user_id": None,
        "username": 42,
        "token_id": "7",
        "image": "nginx",
        "reference": "docker.io/library/nginx:latest",
        "repository": "library/nginx",
        "category": "official",
        "allowed": True,
        "would_deny": False,
        "reason": "official images allowed",
        "enforcer": "api",
        "client_address": None,
        "user_agent": "",
        "created_at": timezone.now().isoformat(),
    }
    assert event_rows.store_rows([row]) == 1
    stored = DecisionEvent.objects.get(event_id="odd-types")
    assert (stored.username, stored.token_id, stored.allowed) == ("42", 7, True)


def test_event_ids_are_unique_and_sort_by_time() -> None:
    """The idempotency key's index grows at its right edge, like the table's other indexes."""
    ids = [event_rows.new_event_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    assert all(len(event_id) == 32 for event_id in ids)
    later = event_rows.new_event_id()
    time.sleep(0.002)
    assert event_rows.new_event_id() > later
    assert sorted(ids, key=lambda event_id: event_id[:14]) == ids


@needs_redis
def test_rows_without_a_registry_from_an_older_server_are_stored(
    cast: Cast, stream: redis.Redis, settings
) -> None:
    import orjson

    decide_and_record(cast, ["ghcr.io/someuser/tool"])
    deferred_stream.flush()
    entries: Any = stream.xrange(settings.EVENT_STREAM)
    (entry_id, fields) = entries[0]
    rows = orjson.loads(fields[b"events"])
    assert rows[0]["registry"] == "ghcr.io"
    del rows[0]["registry"]
    stream.xadd(settings.EVENT_STREAM, {"events": orjson.dumps(rows)})
    stream.xdel(settings.EVENT_STREAM, entry_id)
    assert drain_stream() == 1
    assert DecisionEvent.objects.get().registry == ""


def test_an_insert_that_names_no_registry_column_still_stores_the_event(cast: Cast) -> None:
    """What a server that predates the column sends while a rolling upgrade is under way."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO policies_decisionevent (event_id, org_id, username, image, reference, "
            "repository, category, allowed, would_deny, reason, enforcer, user_agent, created_at)"
            " VALUES ('no-registry', %s, 'mike', 'nginx', 'docker.io/library/nginx:latest', "
            "'library/nginx', 'official', true, false, 'official images allowed', 'api', '', %s)",
            [cast.acme.pk, timezone.now()],
        )
    assert DecisionEvent.objects.get(event_id="no-registry").registry == ""
