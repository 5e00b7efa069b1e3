"""Personal access tokens: the one place that mints, hashes and authenticates them.

A token is a typed prefix plus a high-entropy secret. The database keeps an HMAC-SHA256 of
the whole token under a pepper from the environment (not ``SECRET_KEY``, so peppers can rotate
independently: the newest mints, every listed pepper verifies).
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import User
from django.db import DatabaseError, transaction
from django.db.models import Q
from django.utils import timezone

from imageaccess.postgresql.base import breaker as database_breaker
from orgs.models import PersonalAccessToken, RegistryRefreshToken, TokenScope

logger = logging.getLogger(__name__)
_SECRET_BYTES = 24  # 32 url-safe characters, above Docker's 27
MAX_EXPIRY_DAYS = 366


class TokenPrefix(enum.StrEnum):
    """Token prefixes we recognise, so scanners and authenticators can tell kinds apart."""

    PERSONAL = "dckr_pat_"
    ORGANIZATION = "dckr_oat_"
    REGISTRY_REFRESH = "dckr_rt_"


class TokenError(Exception):
    """A credential was refused; ``code`` is machine-readable, the message is for people."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


GENERIC_FAILURE = "invalid username or access token"
OAT_REFUSED = "organization access tokens are not supported: use a personal access token"
REFRESH_INVALID = "invalid or expired refresh token"
REFRESH_ORPHANED = "the access token behind this refresh token is no longer valid"
_REFRESH_SECRET_BYTES = 32
# A client that logs in again and again (CI) keeps this many refresh tokens per access token;
# older ones are dropped, so the table cannot grow without bound.
MAX_REFRESH_TOKENS_PER_ACCESS_TOKEN = 20


def peppers() -> list[tuple[str, bytes]]:
    """Configured peppers, newest first (``IMAGEACCESS_TOKEN_PEPPERS``)."""
    configured: list[tuple[str, bytes]] = settings.TOKEN_PEPPERS
    return configured


def hash_token(plaintext: str, pepper: bytes) -> str:
    """Keyed hash of a whole token, hex encoded."""
    return hmac.new(pepper, plaintext.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class MintedToken:
    """A freshly minted token: the row and the plaintext, which is never stored."""

    token: PersonalAccessToken
    plaintext: str


def validate_expiry(expires_at: dt.datetime | None, now: dt.datetime | None = None) -> None:
    """Refuse an expiry in the past or more than a year ahead."""
    if expires_at is None:
        return
    now = now or timezone.now()
    if expires_at <= now:
        raise ValueError("the expiry date must be in the future")
    if expires_at > now + dt.timedelta(days=MAX_EXPIRY_DAYS):
        raise ValueError("the expiry date can be at most one year ahead")


def mint_token(
    *,
    user: User,
    name: str,
    scope: str = TokenScope.READ,
    expires_at: dt.datetime | None = None,
    actor: User | None = None,
) -> MintedToken:
    """Create a token for ``user``; the plaintext is returned once and never stored."""
    from orgs.activity import log_action

    if scope not in TokenScope.values:
        raise ValueError(f"unknown scope {scope!r}")
    if not name.strip():
        raise ValueError("a token needs a name")
    validate_expiry(expires_at)
    plaintext = TokenPrefix.PERSONAL + secrets.token_urlsafe(_SECRET_BYTES)
    pepper_id, pepper = peppers()[0]
    with transaction.atomic():
        token = PersonalAccessToken.objects.create(
            user=user,
            name=name.strip(),
            scope=scope,
            token_hash=hash_token(plaintext, pepper),
            pepper_id=pepper_id,
            last_chars=plaintext[-4:],
            expires_at=expires_at,
        )
        log_action(
            actor=actor or user,
            org=None,
            action="token.created",
            target=str(token),
            after={"name": token.name, "scope": scope, "expires_at": _iso(expires_at)},
        )
    return MintedToken(token=token, plaintext=plaintext)


def revoke_token(*, token: PersonalAccessToken, actor: User) -> None:
    """Revoke ``token`` now (idempotent) and log it."""
    from orgs.activity import log_action

    if token.revoked_at is not None:
        return
    with transaction.atomic():
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        RegistryRefreshToken.objects.filter(access_token=token, revoked_at__isnull=True).update(
            revoked_at=token.revoked_at
        )
        token_cache.drop(token.pk)
        log_action(
            actor=actor,
            org=None,
            action="token.revoked",
            target=str(token),
            before={"revoked": False},
            after={"revoked": True},
        )


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


class _TokenCache:
    """Recently looked-up tokens (with their users), for ``TOKEN_CACHE_SECONDS``.

    Enforcers call with the same token many times a second; the cache keeps those calls off
    the database. A revocation in this process drops the entry at once; in another process it
    takes effect when the entry ages out (well under 2 seconds).
    """

    def __init__(self) -> None:
        self._entries: dict[str, tuple[PersonalAccessToken, float]] = {}

    def get(self, key: str, max_age: float | None = None) -> PersonalAccessToken | None:
        """The cached token if younger than ``max_age`` (default: the cache lifetime)."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        token, fetched_at = entry
        limit = settings.TOKEN_CACHE_SECONDS if max_age is None else max_age
        if time.monotonic() - fetched_at > limit:
            return None
        return token

    def put(self, key: str, token: PersonalAccessToken) -> None:
        if len(self._entries) > 10_000:
            self._entries.clear()  # bounded memory; a burst of distinct tokens just reloads
        self._entries[key] = (token, time.monotonic())

    def drop(self, token_id: int) -> None:
        for key, (token, _) in list(self._entries.items()):
            if token.pk == token_id:
                self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()


token_cache = _TokenCache()


def find_token(plaintext: str) -> PersonalAccessToken | None:
    """The stored token whose hash matches ``plaintext`` under any configured pepper."""
    hashes = [hash_token(plaintext, pepper) for _, pepper in peppers()]
    cached = token_cache.get(hashes[0])
    if cached is not None:
        return cached
    if database_breaker.is_open:
        # The database failed moments ago and is not asked again yet: a token checked
        # recently enough answers at once, without building a query only to see it refused.
        stale = token_cache.get(hashes[0], max_age=settings.SNAPSHOT_MAX_STALENESS_SECONDS)
        if stale is not None:
            return stale
    try:
        token = (
            PersonalAccessToken.objects.select_related("user").filter(token_hash__in=hashes).first()
        )
    except DatabaseError:
        # The database is unreachable: a token checked recently enough may still pass
        # (IMAGEACCESS_MAX_STALENESS_SECONDS); anything else fails closed.
        stale = token_cache.get(hashes[0], max_age=settings.SNAPSHOT_MAX_STALENESS_SECONDS)
        if stale is None:
            raise
        return stale
    if token is None:
        return None
    # The lookup is by index; compare again in constant time so no path depends on timing.
    if not any(hmac.compare_digest(token.token_hash, candidate) for candidate in hashes):
        return None
    token_cache.put(hashes[0], token)
    return token


def authenticate_token(plaintext: str, *, username: str | None = None) -> PersonalAccessToken:
    """Return the active token for ``plaintext`` or raise ``TokenError`` saying why not.

    Unknown tokens, wrong usernames and inactive users share one message so that a caller
    cannot learn which usernames or tokens exist.
    """
    if plaintext.startswith(TokenPrefix.ORGANIZATION):
        raise TokenError(OAT_REFUSED, code="organization_token")
    if not plaintext.startswith(TokenPrefix.PERSONAL) or len(plaintext) > 200:
        raise TokenError(GENERIC_FAILURE, code="invalid_credentials")
    token = find_token(plaintext)
    if token is None or not token.user.is_active:
        raise TokenError(GENERIC_FAILURE, code="invalid_credentials")
    if username is not None and not names_user(username, token.user):
        raise TokenError(GENERIC_FAILURE, code="invalid_credentials")
    if token.revoked_at is not None:
        raise TokenError("this access token was revoked", code="token_revoked")
    now = timezone.now()
    if token.is_expired(now):
        assert token.expires_at is not None
        raise TokenError(
            f"this access token expired on {token.expires_at:%Y-%m-%d}", code="token_expired"
        )
    touch_last_used(token, now)
    return token


def names_user(name: str, user: User) -> bool:
    """Whether ``name`` is ``user``'s username or email address (case does not matter)."""
    return name.lower() in _names_of(user)


def _names_of(user: User) -> set[str]:
    names = {user.get_username().lower()}
    email = getattr(user, "email", "")
    if email:
        names.add(email.lower())
    return names


def touch_last_used(token: PersonalAccessToken, now: dt.datetime) -> None:
    """Record use at most once per interval, with a single conditional UPDATE."""
    interval = dt.timedelta(seconds=settings.TOKEN_LAST_USED_INTERVAL)
    if token.last_used_at is not None and now - token.last_used_at < interval:
        return
    token.last_used_at = now
    try:
        PersonalAccessToken.objects.filter(pk=token.pk).filter(
            _unused_since(now - interval)
        ).update(last_used_at=now)
    except DatabaseError:
        # Bookkeeping only: a decision must not fail because last_used could not be written.
        logger.warning("could not record last use of token %s", token.pk)


def _unused_since(cutoff: dt.datetime) -> Q:
    """Rows never used, or last used before ``cutoff``."""
    return Q(last_used_at__isnull=True) | Q(last_used_at__lt=cutoff)


def mint_refresh_token(*, access_token: PersonalAccessToken) -> str:
    """Issue a registry refresh token standing for ``access_token``; returns the plaintext.

    It expires after ``REGISTRY_REFRESH_TTL`` seconds, never after the access token itself.
    Expired refresh tokens of the same access token are removed, and only the newest
    ``MAX_REFRESH_TOKENS_PER_ACCESS_TOKEN`` are kept.
    """
    plaintext = TokenPrefix.REGISTRY_REFRESH + secrets.token_urlsafe(_REFRESH_SECRET_BYTES)
    pepper_id, pepper = peppers()[0]
    now = timezone.now()
    expires_at = now + dt.timedelta(seconds=settings.REGISTRY_REFRESH_TTL)
    if access_token.expires_at is not None:
        expires_at = min(expires_at, access_token.expires_at)
    siblings = RegistryRefreshToken.objects.filter(access_token=access_token)
    with transaction.atomic():
        siblings.filter(Q(expires_at__lte=now) | Q(revoked_at__isnull=False)).delete()
        RegistryRefreshToken.objects.create(
            user_id=access_token.user_id,
            access_token=access_token,
            token_hash=hash_token(plaintext, pepper),
            pepper_id=pepper_id,
            created_at=now,
            expires_at=expires_at,
        )
        surplus = siblings.order_by("-created_at", "-id").values_list("pk", flat=True)[
            MAX_REFRESH_TOKENS_PER_ACCESS_TOKEN:
        ]
        RegistryRefreshToken.objects.filter(pk__in=list(surplus)).delete()
    return plaintext


def authenticate_refresh_token(plaintext: str) -> PersonalAccessToken:
    """The active access token a refresh token stands for, or ``TokenError`` saying why not.

    Anything that is not one of our refresh tokens (a signed value, another kind of token)
    gets the same answer as an unknown or expired one.
    """
    if not plaintext.startswith(TokenPrefix.REGISTRY_REFRESH) or len(plaintext) > 200:
        raise TokenError(REFRESH_INVALID, code="invalid_refresh_token")
    hashes = [hash_token(plaintext, pepper) for _, pepper in peppers()]
    row = (
        RegistryRefreshToken.objects.select_related("access_token__user")
        .filter(token_hash__in=hashes)
        .first()
    )
    if row is None or not any(hmac.compare_digest(row.token_hash, h) for h in hashes):
        raise TokenError(REFRESH_INVALID, code="invalid_refresh_token")
    now = timezone.now()
    if row.revoked_at is not None or row.expires_at <= now:
        raise TokenError(REFRESH_INVALID, code="invalid_refresh_token")
    token = row.access_token
    if (
        token.user_id != row.user_id
        or not token.user.is_active
        or token.revoked_at is not None
        or token.is_expired(now)
    ):
        raise TokenError(REFRESH_ORPHANED, code="invalid_refresh_token")
    touch_last_used(token, now)
    return token
