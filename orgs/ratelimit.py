"""Limits on failed credentials, shared across processes through the cache (Redis).

Failures are counted per client address (an IPv6 client per /64, which one host can fill),
per username and per credential, in fixed windows. A valid credential is never refused
because of other credentials' failures: every credential is checked first, and only a failed
one is answered 429 once its address, its username or the credential itself is over the
limit. So one client's guesses behind a shared address (a NAT, a proxy) do not lock out
everyone else's valid tokens, and guessing at someone's username does not lock them out.

A blocked address still has its guesses looked up (a correct token from there must work),
but every failure from it gets the same 429, whatever was wrong, so the block tells nothing
but "not valid"; tokens carry at least 190 random bits, so that answer is worth nothing to a
guesser. A credential that itself keeps failing (a revoked token left in a CI job) is refused
without a lookup for the rest of the window in every process that has seen it over the limit.

Only failures touch the shared cache, so a legitimate caller's request path pays nothing.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from django.conf import settings
from django.core.cache import cache

from orgs.tokens import hash_token, peppers

logger = logging.getLogger(__name__)
_T = TypeVar("_T")
IPV6_PREFIX = 64
_MAX_REMEMBERED_BLOCKS = 10_000


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
    """Counts failures per key in fixed windows; remembers over-limit keys in this process."""

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
                self._remember(key, time.monotonic() + retry_after)
        if over:
            raise RateLimited(max(1, retry_after))

    def _remember(self, key: str, until: float) -> None:
        with self._lock:
            if len(self._blocked) >= _MAX_REMEMBERED_BLOCKS:
                # Bounded memory under a flood of distinct keys: drop the blocks that ended,
                # and if that is not enough, forget them all (the shared counts still hold).
                now = time.monotonic()
                self._blocked = {k: v for k, v in self._blocked.items() if v > now}
                if len(self._blocked) >= _MAX_REMEMBERED_BLOCKS:
                    self._blocked.clear()
            self._blocked[key] = until

    def has_blocks(self) -> bool:
        """Whether any key is remembered as blocked (lets callers skip work; no I/O)."""
        return bool(self._blocked)

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


def address_key(address: str | None) -> str:
    """The limiter key of a client address: the address, or its /64 for IPv6.

    Clients whose address cannot be told (a Unix socket with no trusted proxy) share one key,
    so their guesses are limited too; a valid credential is not refused because of it.
    """
    if not address:
        return "addr:unknown"
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return f"addr:{address}"
    if isinstance(parsed, ipaddress.IPv6Address):
        network = ipaddress.IPv6Network(f"{parsed}/{IPV6_PREFIX}", strict=False)
        return f"addr:{network}"
    return f"addr:{parsed}"


def username_key(username: str | None) -> str | None:
    """The limiter key of a username as typed (case does not make another user)."""
    if not username:
        return None
    return "user:" + hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]


def credential_key(secret: str) -> str:
    """The limiter key of a secret: a keyed hash, so the cache never holds what was typed."""
    return "cred:" + hash_token(secret, peppers()[0][1])[:32]


def limit_failures(
    verify: Callable[[], _T],
    *,
    address: Callable[[], str | None],
    username: str | None,
    secret: str,
    failures: tuple[type[Exception], ...],
) -> _T:
    """Run ``verify`` (which checks one credential) under the failure limit.

    The credential is checked first, so a valid one is returned even when its address or
    username is over the limit. A failure (one of ``failures``) is counted for the client
    address (``address()``, asked only then), the username and the credential; it is
    re-raised, or replaced by ``RateLimited`` when any of them is over the limit. A
    credential that is itself over the limit is refused without being checked. Other
    exceptions (the database is down) count nothing.
    """
    if secret and failed_token_auth.has_blocks():
        failed_token_auth.check(credential_key(secret))
    try:
        return verify()
    except failures:
        credential = credential_key(secret) if secret else None
        failed_token_auth.fail(address_key(address()), username_key(username), credential)
        raise


def count_failure(*, address: str | None, username: str | None = None) -> None:
    """Count a failure that carried no checkable secret (a malformed header)."""
    failed_token_auth.fail(address_key(address), username_key(username))
