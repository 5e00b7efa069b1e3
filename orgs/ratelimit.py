"""Rate limits on failed credentials, shared across processes through the cache (Redis).

Only failures touch the shared cache, so a legitimate caller's request path pays nothing: a
key that has failed too often is also remembered in this process, and every later attempt
with it (right or wrong) is refused with 429 until the window passes.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limit:
    """At most ``attempts`` failures per ``window`` seconds for one key."""

    attempts: int
    window: int


class RateLimited(Exception):
    """Too many failures; ``retry_after`` is in whole seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed attempts: retry in {retry_after} seconds")
        self.retry_after = retry_after


class FailureLimiter:
    """Counts failures per key (client address, username) in fixed windows."""

    def __init__(self, scope: str) -> None:
        self.scope = scope
        self._blocked: dict[str, float] = {}  # key -> monotonic time the block ends
        self._lock = threading.Lock()

    def _limit(self) -> Limit:
        attempts, window = settings.FAILED_AUTH_LIMIT
        return Limit(attempts, window)

    def check(self, *keys: str | None) -> None:
        """Raise ``RateLimited`` if any key is blocked in this process (no I/O)."""
        now = time.monotonic()
        for key in keys:
            if not key:
                continue
            until = self._blocked.get(key)
            if until is None:
                continue
            if until > now:
                raise RateLimited(max(1, int(until - now) + 1))
            with self._lock:
                self._blocked.pop(key, None)

    def fail(self, *keys: str | None) -> None:
        """Count a failure for each key; raise ``RateLimited`` once a key is over its limit."""
        limit = self._limit()
        window_start = int(time.time()) // limit.window * limit.window
        retry_after = window_start + limit.window - int(time.time())
        over = False
        for key in keys:
            if not key:
                continue
            cache_key = f"ratelimit:{self.scope}:{key}:{window_start}"
            try:
                count = _increment(cache_key, limit.window + 1)
            except Exception as exc:  # the cache is down: fail open, but say so
                logger.warning("rate limit cache unavailable: %s", type(exc).__name__)
                continue
            if count > limit.attempts:
                over = True
                with self._lock:
                    self._blocked[key] = time.monotonic() + retry_after
        if over:
            raise RateLimited(max(1, retry_after))

    def clear(self) -> None:
        with self._lock:
            self._blocked.clear()


def _increment(key: str, timeout: int) -> int:
    try:
        return cache.incr(key)
    except ValueError:  # first failure in this window (or the cache is unreachable)
        cache.add(key, 0, timeout=timeout)
        return cache.incr(key)


failed_token_auth = FailureLimiter("token-auth")
