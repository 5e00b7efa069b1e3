"""The shared Redis connection for the event stream and snapshot versions.

One client per process, with short timeouts: Redis is an accelerator here, never a single
point of failure. After a failure the breaker keeps callers off Redis for a few seconds, so a
dead Redis costs one failed attempt per interval instead of one per request.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

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


# How many times the event stream's consumer group was found gone (Redis lost its data).
STREAM_RESETS_KEY = "imageaccess:event-stream-resets"

# Eviction policies that may remove a key without a TTL, such as the event stream.
_EVICTING_POLICIES = frozenset({"allkeys-lru", "allkeys-lfu", "allkeys-random"})


@dataclass(frozen=True)
class Durability:
    """What a Redis server keeps across a restart, as far as the event stream is concerned."""

    aof: bool
    eviction_policy: str
    stream_resets: int = 0

    @property
    def problems(self) -> list[str]:
        """Why answered decisions held in the stream could be lost (empty when they cannot)."""
        problems = []
        if not self.aof:
            problems.append("append-only file persistence is off (appendonly no)")
        if self.eviction_policy in _EVICTING_POLICIES:
            problems.append(f"maxmemory-policy {self.eviction_policy} may evict the stream")
        return problems

    def as_dict(self) -> dict[str, object]:
        return {
            "persistence": "aof" if self.aof else "none",
            "eviction_policy": self.eviction_policy,
            "events_survive_restart": not self.problems,
            "stream_resets": self.stream_resets,
        }


def durability(client: redis.Redis) -> Durability:
    """Read persistence and eviction settings through ``INFO`` (allowed where CONFIG is not)."""
    persistence: Any = client.info("persistence")
    memory: Any = client.info("memory")
    resets: Any = client.get(STREAM_RESETS_KEY)
    return Durability(
        aof=str(persistence.get("aof_enabled", 0)) == "1",
        eviction_policy=str(memory.get("maxmemory_policy", "noeviction")),
        stream_resets=int(resets or 0),
    )
