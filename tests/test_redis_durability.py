"""Production start-up refuses a Redis that would lose answered decisions; /readyz says why."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from imageaccess import redis_client
from imageaccess.startup import run_startup_checks
from tests.faults.services import PrivateRedis, private_redis


@pytest.fixture
def use_redis(settings):
    """Point the app's Redis client at a private server for one test."""

    def point(server: PrivateRedis) -> None:
        settings.REDIS_URL = server.url
        redis_client._client.cache_clear()
        redis_client.breaker.reset()

    yield point
    redis_client._client.cache_clear()


@pytest.fixture
def production(settings) -> None:
    settings.DEBUG = False
    settings.ALLOW_VOLATILE_REDIS = False
    settings.REGISTRY_ORGS = []


def test_a_redis_without_aof_stops_production_start_up_with_the_fix(
    production: None, use_redis
) -> None:
    with private_redis() as server:
        use_redis(server)
        with pytest.raises(ImproperlyConfigured) as refused:
            run_startup_checks()
    message = str(refused.value)
    assert "append-only file persistence is off" in message
    assert "--appendonly yes" in message
    assert "IMAGEACCESS_ALLOW_VOLATILE_REDIS=1" in message


def test_an_evicting_redis_stops_production_start_up(production: None, use_redis) -> None:
    with private_redis(appendonly=True, maxmemory_policy="allkeys-lru") as server:
        use_redis(server)
        with pytest.raises(ImproperlyConfigured, match="allkeys-lru may evict the stream"):
            run_startup_checks()


def test_a_persistent_redis_starts(production: None, use_redis) -> None:
    with private_redis(appendonly=True) as server:
        use_redis(server)
        run_startup_checks()


def test_the_operator_may_accept_a_volatile_redis(production: None, use_redis, settings) -> None:
    settings.ALLOW_VOLATILE_REDIS = True
    with private_redis() as server:
        use_redis(server)
        run_startup_checks()


def test_an_unreachable_redis_does_not_stop_start_up(production: None, settings) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    redis_client._client.cache_clear()
    redis_client.breaker.reset()
    try:
        run_startup_checks()
    finally:
        redis_client._client.cache_clear()
        redis_client.breaker.reset()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("appendonly", "persistence", "survives"), [(True, "aof", True), (False, "none", False)]
)
def test_readyz_reports_persistence_without_failing_readiness(
    use_redis, appendonly: bool, persistence: str, survives: bool
) -> None:
    with private_redis(appendonly=appendonly) as server:
        use_redis(server)
        response = Client().get("/readyz")
    body = response.json()
    assert body["redis"]["persistence"] == persistence
    assert body["redis"]["events_survive_restart"] is survives
    assert body["redis"]["eviction_policy"] == "noeviction"


def test_the_production_stack_runs_redis_as_production_start_up_requires() -> None:
    compose = yaml.safe_load(
        (Path(__file__).resolve().parents[1] / "docker-compose.yml").read_text()
    )
    command = compose["services"]["redis"]["command"]
    options = dict(zip(command[1::2], command[2::2], strict=True))
    assert options["--appendonly"] == "yes"
    assert options["--appendfsync"] == "everysec"
    assert options["--maxmemory-policy"] == "noeviction"
