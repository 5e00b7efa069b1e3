"""Answered decisions survive a Redis restart with AOF; a Redis that forgets is noticed."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
import redis
from django.test import Client

from imageaccess import redis_client
from policies.events import stream_drain
from policies.events.stream_drain import drain_stream
from policies.events.stream_writer import DeferredStream, deferred_stream
from policies.models import DecisionEvent
from tests.conftest import Cast
from tests.events.test_events import decide_and_record, use_redis
from tests.faults.services import PrivateRedis, private_redis

pytestmark = pytest.mark.django_db


@pytest.fixture
def fresh_watch() -> Iterator[None]:
    stream_drain._group_watch.seen = False
    yield
    stream_drain._group_watch.seen = False
    redis_client._client.cache_clear()
    redis_client.breaker.reset()


def _restart(server: PrivateRedis) -> None:
    server.stop()
    server.start()
    redis_client._client.cache_clear()  # drop connections to the old process
    redis_client.breaker.reset()
    # A connection unused for a second is probed before its next send: the stream writer
    # then reconnects to the new process by itself.
    time.sleep(DeferredStream.idle_probe_seconds + 0.1)


def test_a_redis_with_aof_keeps_answered_decisions_across_a_restart(
    cast: Cast, settings, fresh_watch: None
) -> None:
    with private_redis(appendonly=True) as server:
        use_redis(settings, server.url)
        drain_stream()  # the group exists, as under a running worker
        for _ in range(5):
            decide_and_record(cast, ["nginx", "someuser/x"])
        deferred_stream.flush()
        assert DecisionEvent.objects.count() == 0  # all of them wait in the stream
        _restart(server)
        assert drain_stream() == 10
    assert DecisionEvent.objects.count() == 10


def test_a_redis_that_restarts_empty_is_detected_logged_and_counted(
    cast: Cast, settings, fresh_watch: None, caplog: pytest.LogCaptureFixture
) -> None:
    with private_redis() as server:
        use_redis(settings, server.url)
        drain_stream()
        decide_and_record(cast, ["nginx"])
        deferred_stream.flush()
        _restart(server)  # the entry and the group are gone
        decide_and_record(cast, ["nginx"])
        deferred_stream.flush()
        with caplog.at_level(logging.ERROR, logger="policies.events"):
            assert drain_stream() == 1  # only what was sent after the restart
        assert "consumer group was gone" in caplog.text
        ready = Client().get("/readyz").json()
    assert ready["redis"]["stream_resets"] == 1
    assert ready["redis"]["persistence"] == "none"


def _consumers(client, settings) -> dict[str, int]:
    return {
        info["name"].decode(): int(info["pending"])
        for info in client.xinfo_consumers(settings.EVENT_STREAM, settings.EVENT_GROUP)
    }


def test_a_dead_consumer_is_forgotten_once_its_entries_are_claimed(
    cast: Cast, settings, fresh_watch: None
) -> None:
    settings.EVENT_CLAIM_IDLE_SECONDS = 1
    with private_redis() as server:
        use_redis(settings, server.url)
        client = redis.Redis.from_url(server.url)
        drain_stream(consumer="dead", max_batches=0)  # creates the group
        decide_and_record(cast, ["nginx"])
        deferred_stream.flush()
        client.xreadgroup(settings.EVENT_GROUP, "dead", {settings.EVENT_STREAM: ">"}, count=10)
        drain_stream(consumer="alive")
        assert _consumers(client, settings)["dead"] == 1  # it holds an entry: kept
        time.sleep(1.1)
        assert drain_stream(consumer="alive") == 1
        assert _consumers(client, settings) == {"alive": 0}
    assert DecisionEvent.objects.count() == 1
