"""The cache against a Redis that answers nothing: one timeout, then no waiting at all."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator

import pytest

from imageaccess import redis_client
from imageaccess.cache import ResilientRedisCache


@pytest.fixture
def silent_redis() -> Iterator[str]:
    """A port that accepts connections and never replies, as a frozen Redis does."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"


def _cache(location: str) -> ResilientRedisCache:
    return ResilientRedisCache(
        location, {"OPTIONS": {"socket_connect_timeout": 0.3, "socket_timeout": 0.3}}
    )


def _timed(call) -> tuple[object, float]:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def test_a_frozen_redis_costs_one_timeout_then_calls_return_at_once(silent_redis: str) -> None:
    cache = _cache(silent_redis)
    value, first = _timed(lambda: cache.get("key", "default"))
    assert value == "default"
    assert 0.25 < first < 2.0
    assert not redis_client.breaker.allows()
    for call, expected in (
        (lambda: cache.get("key", "miss"), "miss"),
        (lambda: cache.set("key", 1), None),
        (lambda: cache.add("key", 1), False),
        (lambda: cache.get_many(["a", "b"]), {}),
        (lambda: cache.delete("key"), False),
        (lambda: cache.touch("key"), False),
    ):
        value, elapsed = _timed(call)
        assert value == expected
        assert elapsed < 0.05
    with pytest.raises(ValueError, match="cache unavailable"):
        cache.incr("counter")


@pytest.mark.skipif(
    not os.environ.get("REDIS_URL") and os.environ.get("CI") != "true",
    reason="needs a real Redis: set REDIS_URL (CI does)",
)
def test_the_cache_asks_redis_again_once_the_breaker_closes(silent_redis: str) -> None:
    url = os.environ.get("REDIS_URL")
    assert url, "CI must set REDIS_URL"
    _cache(silent_redis).get("key")
    working = _cache(url)
    working.set("breaker-test", "dropped", 5)  # the breaker is open: Redis is not asked
    assert working.get("breaker-test") is None
    redis_client.breaker.reset()  # the interval has passed
    working.set("breaker-test", "stored", 5)
    assert working.get("breaker-test") == "stored"
    working.delete("breaker-test")
