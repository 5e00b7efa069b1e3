"""A Redis cache that degrades instead of failing when Redis is unreachable.

The cache holds nothing that cannot be recomputed (rate-limit counters, allauth's bookkeeping),
so while Redis is down reads miss and writes are dropped: pages and decisions keep working.
A failure trips the process's Redis breaker (``imageaccess.redis_client``), shared with the
event stream: while it is open the cache does not wait on Redis at all, so a frozen Redis costs
one socket timeout per breaker interval, not one per call. The failure is logged; ``/readyz``
reports it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from django.core.cache.backends.redis import RedisCache

from imageaccess.redis_client import breaker

logger = logging.getLogger(__name__)
_ERRORS = (redis.RedisError, OSError)
T = TypeVar("T")
_UNAVAILABLE = object()


class ResilientRedisCache(RedisCache):
    """``RedisCache`` that misses and drops instead of failing when Redis is unreachable."""

    def _guarded(self, operation: str, call: Callable[[], T], fallback: T) -> T:
        if not breaker.allows():
            return fallback
        try:
            return call()
        except _ERRORS as exc:
            logger.warning("cache %s failed, continuing without the cache: %s", operation, exc)
            breaker.trip(exc)
            return fallback

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        return self._guarded(
            "get", lambda: super(ResilientRedisCache, self).get(key, default, version), default
        )

    def get_many(self, keys: Any, version: int | None = None) -> dict[Any, Any]:
        return self._guarded(
            "get_many", lambda: super(ResilientRedisCache, self).get_many(keys, version), {}
        )

    def set(self, key: Any, value: Any, timeout: Any = None, version: int | None = None) -> None:
        self._guarded(
            "set", lambda: super(ResilientRedisCache, self).set(key, value, timeout, version), None
        )

    def add(self, key: Any, value: Any, timeout: Any = None, version: int | None = None) -> bool:
        return self._guarded(
            "add", lambda: super(ResilientRedisCache, self).add(key, value, timeout, version), False
        )

    def delete(self, key: Any, version: int | None = None) -> bool:
        return self._guarded(
            "delete", lambda: super(ResilientRedisCache, self).delete(key, version), False
        )

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        # A missing key still raises ValueError, as callers expect; an unreachable Redis too,
        # so counters simply restart (rate limits fail open while Redis is down).
        value: Any = self._guarded(
            "incr", lambda: super(ResilientRedisCache, self).incr(key, delta, version), _UNAVAILABLE
        )
        if value is _UNAVAILABLE:
            raise ValueError("cache unavailable")
        return int(value)

    def touch(self, key: Any, timeout: Any = None, version: int | None = None) -> bool:
        return self._guarded(
            "touch", lambda: super(ResilientRedisCache, self).touch(key, timeout, version), False
        )

    def clear(self) -> None:
        self._guarded("clear", lambda: super(ResilientRedisCache, self).clear(), None)
