"""A real Celery worker process drains decision events: exactly once, even when killed.

Needs PostgreSQL and Redis (what CI runs): the worker is another process, so it must reach
the same database as the test, which an in-memory SQLite test database cannot offer.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection

from imageaccess import redis_client
from policies.decision_service import decide_images
from policies.events.event_rows import RequestContext
from policies.events.stream_writer import record_decisions
from policies.models import DecisionEvent
from tests.conftest import Cast

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("REDIS_URL", "")
ON_POSTGRES = str(django_settings.DATABASES["default"]["ENGINE"]).endswith("postgresql")
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not (REDIS_URL and ON_POSTGRES) and os.environ.get("CI") != "true",
        reason="needs PostgreSQL and Redis (DATABASE_URL and REDIS_URL; CI sets both)",
    ),
]


def pending(client: redis.Redis, settings: Any) -> int:
    """Entries read by some consumer of the group but not yet acknowledged."""
    info: Any = client.xpending(settings.EVENT_STREAM, settings.EVENT_GROUP)
    return int(info["pending"])


def database_url() -> str:
    db = connection.settings_dict
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


class Worker:
    """A ``celery worker`` subprocess against the test database."""

    def __init__(self, stream: str, claim_idle: int = 1) -> None:
        env = {
            "IMAGEACCESS_EVENT_STREAM": stream,
            **os.environ,
            "DATABASE_URL": database_url(),
            "REDIS_URL": REDIS_URL,
            "IMAGEACCESS_EVENT_CLAIM_IDLE_SECONDS": str(claim_idle),
            "IMAGEACCESS_EVENT_BATCH_SIZE": "200",
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "imageaccess",
                "worker",
                "--pool=solo",
                "--concurrency=1",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
                "--loglevel=WARNING",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def queue(settings) -> Iterator[redis.Redis]:
    settings.REDIS_URL = REDIS_URL
    redis_client._client.cache_clear()
    redis_client.breaker.reset()
    client = redis.Redis.from_url(REDIS_URL)
    client.delete(settings.EVENT_STREAM)
    yield client
    client.delete(settings.EVENT_STREAM)
    redis_client._client.cache_clear()


def thousand_decisions(cast: Cast) -> None:
    images = ["nginx", "someuser/x", "bitnami/redis", "acme/app"]
    for i in range(250):  # 250 requests x 4 images = 1,000 decisions
        outcomes = decide_images(images, user_id=cast.mike.pk)
        record_decisions(
            outcomes,
            RequestContext(
                enforcer="api", user_id=cast.mike.pk, username="mike", user_agent=f"req-{i}"
            ),
        )


def wait_for(predicate, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def trigger_drain() -> None:
    from policies.events.tasks import drain_decision_events

    drain_decision_events.delay()


def test_worker_stores_1000_decisions_exactly_once(
    cast: Cast, queue: redis.Redis, settings: Any
) -> None:
    thousand_decisions(cast)
    assert DecisionEvent.objects.count() == 0
    worker = Worker(settings.EVENT_STREAM)
    try:
        trigger_drain()
        assert wait_for(lambda: DecisionEvent.objects.count() >= 1000)
        trigger_drain()
        time.sleep(1.5)
    finally:
        worker.stop()
    assert DecisionEvent.objects.count() == 1000
    assert DecisionEvent.objects.values("event_id").distinct().count() == 1000


def test_worker_killed_mid_batch_loses_nothing_and_duplicates_nothing(
    cast: Cast, queue: redis.Redis, settings
) -> None:
    thousand_decisions(cast)
    first = Worker(settings.EVENT_STREAM)
    # Hold a lock on the events table so the worker blocks inside its first batch insert,
    # after reading entries from the stream and before acknowledging them.
    blocker = psycopg.connect(database_url().replace("postgres://", "postgresql://"))
    try:
        blocker.execute("LOCK TABLE policies_decisionevent IN ACCESS EXCLUSIVE MODE")
        trigger_drain()

        def worker_holds_a_batch() -> bool:
            try:
                return pending(queue, settings) > 0
            except redis.ResponseError:  # the worker has not created the group yet
                return False

        assert wait_for(worker_holds_a_batch, timeout=30), "the worker never read a batch"
        first.kill()
    finally:
        blocker.rollback()
        blocker.close()
        first.kill()
    assert DecisionEvent.objects.count() == 0
    second = Worker(settings.EVENT_STREAM, claim_idle=1)
    try:
        time.sleep(1.2)  # the dead consumer's entries become claimable
        trigger_drain()
        assert wait_for(lambda: DecisionEvent.objects.count() >= 1000)
        trigger_drain()
        time.sleep(1.5)
    finally:
        second.stop()
    assert DecisionEvent.objects.count() == 1000
    assert pending(queue, settings) == 0
