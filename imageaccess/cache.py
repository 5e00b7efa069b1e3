"""A Redis cache that degrades instead of failing when Redis is unreachable.

The cache holds nothing that cannot be recomputed (rate-limit counters, allauth's bookkeeping),
so while Redis is down reads miss and writes are dropped: pages and decisions keep working.
The failure is logged; ``/readyz`` reports it.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from django.core.cache.backends.redis import RedisCache

logger = logging.getLogger(__name__)
_ERRORS = (redis.RedisError, OSError)


class ResilientRedisCache(RedisCache):
    """``RedisCache`` whose operations swallow connection errors (reads miss, writes drop)."""

    def _degraded(self, operation: str, exc: Exception) -> None:
        logger.warning("cache %s failed, continuing without the cache: %s", operation, exc)

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        try:
            return super().get(key, default, version)
        except _ERRORS as exc:
            self._degraded("get", exc)
            return default

    def get_many(self, keys: Any, version: int | None = None) -> dict[Any, Any]:
        try:
            return super().get_many(keys, version)
        except _ERRORS as exc:
            self._degraded("get_many", exc)
            return {}

    def set(self, key: Any, value: Any, timeout: Any = None, version: int | None = None) -> None:
        try:
            super().set(key, value, timeout, version)
        except _ERRORS as exc:
            self._degraded("set", exc)

    def add(self, key: Any, value: Any, timeout: Any = None, version: int | None = None) -> bool:
        try:
            return super().add(key, value, timeout, version)
        except _ERRORS as exc:
            self._degraded("add", exc)
            return False

    def delete(self, key: Any, version: int | None = None) -> bool:
        try:
            return super().delete(key, version)
        except _ERRORS as exc:
            self._degraded("delete", exc)
            return False

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        # A missing key still raises ValueError, as callers expect; a dead Redis too, so
        # counters simply restart (rate limits fail open while Redis is down).
        try:
            return super().incr(key, delta, version)
        except _ERRORS as exc:
            self._degraded("incr", exc)
            raise ValueError("cache unavailable") from exc

    def touch(self, key: Any, timeout: Any = None, version: int | None = None) -> bool:
        try:
            return super().touch(key, timeout, version)
        except _ERRORS as exc:
            self._degraded("touch", exc)
            return False

    def clear(self) -> None:
        try:
            super().clear()
        except _ERRORS as exc:
            self._degraded("clear", exc)
