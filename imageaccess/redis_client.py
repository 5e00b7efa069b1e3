"""The shared Redis connection for the event stream and snapshot versions.

One client per process, with short timeouts: Redis is an accelerator here, never a single
point of failure. After a failure the breaker keeps callers off Redis for a few seconds, so a
dead Redis costs one failed attempt per interval instead of one per request.
"""

from __future__ import annotations

import logging
import threading
import time
from functools import lru_cache

import redis
from django.conf import settings

logger = logging.getLogger(__name__)
_BREAKER_SECONDS = 5.0


@lru_cache(maxsize=1)
def _client() -> redis.Redis:
    url: str = settings.REDIS_URL or ""
    return redis.Redis.from_url(
        url,
        socket_timeout=0.5,
        socket_connect_timeout=0.5,
        health_check_interval=30,
    )


class _Breaker:
    def __init__(self) -> None:
        self._open_until = 0.0
        self._lock = threading.Lock()

    def allows(self) -> bool:
        return time.monotonic() >= self._open_until

    def trip(self, exc: Exception) -> None:
        with self._lock:
            if self.allows():
                logger.warning(
                    "Redis unavailable (%s); using fallbacks for %ss", exc, _BREAKER_SECONDS
                )
            self._open_until = time.monotonic() + _BREAKER_SECONDS

    def reset(self) -> None:
        self._open_until = 0.0


breaker = _Breaker()


def get_redis() -> redis.Redis | None:
    """The Redis client, or None when Redis is not configured or recently failed."""
    if not settings.REDIS_URL or not breaker.allows():
        return None
    return _client()


REDIS_ERRORS = (redis.RedisError, OSError)
