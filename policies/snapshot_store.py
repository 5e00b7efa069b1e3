"""Decision snapshots: read from the database once, kept in memory, refreshed by version.

Every change that can alter a decision bumps ``SnapshotVersion`` in its own transaction and,
once committed, publishes the new number in Redis. Each web process remembers the version its
snapshots were built from and compares it with the published one at most once per
``SNAPSHOT_REFRESH_SECONDS``: a warm decision reads nothing at all, and every process sees a
change within about a second. When the version cannot be read (Redis and the database both
down), snapshots younger than ``SNAPSHOT_MAX_STALENESS_SECONDS`` keep answering; older ones
make decisions fail closed.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import redis
from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import F, Q
from django.utils import timezone

from imageaccess.redis_client import REDIS_ERRORS, breaker, get_redis
from orgs.models import Membership, Namespace, Organization
from policies.engine.registries import RegistryEntryError, parse_registry_entry
from policies.engine.snapshots import (
    CatalogSnapshot,
    ExceptionSnapshot,
    OrgSnapshot,
    PolicySnapshot,
    RegistryAccessSnapshot,
)
from policies.models import (
    ImageAccessPolicy,
    PublisherKind,
    PublisherNamespace,
    RegistryAccessPolicy,
    RepositoryException,
    SnapshotVersion,
)

logger = logging.getLogger(__name__)
VERSION_KEY = "imageaccess:snapshot-version"
VERSION_CHANNEL = "imageaccess:snapshot-version-changed"


class SnapshotsUnavailable(Exception):
    """Neither a fresh version nor a young enough cached snapshot is available."""


# --- versions --------------------------------------------------------------------------------
def bump_snapshot_version() -> None:
    """Count a change; call inside the change's transaction. Publishes after commit."""
    updated = SnapshotVersion.objects.filter(pk=1).update(version=F("version") + 1)
    if not updated:
        SnapshotVersion.objects.get_or_create(pk=1, defaults={"version": 2})
    # The writing process forgets its snapshots at once, so its next decision (often the
    # owner's own check) reflects the change; other processes notice the published version.
    store.clear()
    transaction.on_commit(publish_snapshot_version)


def database_version() -> int:
    row = SnapshotVersion.objects.filter(pk=1).values_list("version", flat=True).first()
    return row or 1


def publish_snapshot_version() -> None:
    """Copy the committed version into Redis, where processes look for it."""
    client = get_redis()
    if client is None:
        return
    try:
        version = database_version()
        pipe = client.pipeline(transaction=False)
        pipe.set(VERSION_KEY, version)
        pipe.publish(VERSION_CHANNEL, version)
        pipe.execute()
    except REDIS_ERRORS as exc:
        breaker.trip(exc)
    except DatabaseError:
        logger.warning("could not read the snapshot version to publish it")


class VersionListener:
    """Hears published versions at once, so a change reaches this process in milliseconds.

    One thread per process subscribes to ``VERSION_CHANNEL``; a message makes the store read
    the version on its next decision instead of waiting out ``SNAPSHOT_REFRESH_SECONDS``,
    which stays the bound when Redis cannot deliver (a lost connection, Redis down: the
    thread reconnects every second). Started by the store's first use; a forked child starts
    its own.
    """

    retry_seconds = 1.0

    def __init__(self) -> None:
        self._started_pid = 0
        self._lock = threading.Lock()

    def ensure_started(self) -> None:
        if self._started_pid == os.getpid() or not settings.REDIS_URL:
            return
        with self._lock:
            if self._started_pid == os.getpid():
                return
            self._started_pid = os.getpid()
            threading.Thread(
                target=self._listen,
                args=(settings.REDIS_URL,),
                name="snapshot-versions",
                daemon=True,
            ).start()

    def _listen(self, url: str) -> None:
        first = True
        while True:
            try:
                client = redis.Redis.from_url(
                    url, socket_connect_timeout=1, socket_timeout=5, health_check_interval=2
                )
                with client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    pubsub.subscribe(VERSION_CHANNEL)
                    if not first:  # a message may have been missed while not subscribed
                        store.expire()
                    first = False
                    while True:
                        if pubsub.get_message(timeout=1.0) is not None:
                            store.expire()
            except REDIS_ERRORS:
                time.sleep(self.retry_seconds)
            except Exception:  # the thread must outlive anything; the interval still holds
                logger.exception("snapshot version listener failed; restarting it")
                time.sleep(self.retry_seconds)


version_listener = VersionListener()


def current_version() -> int:
    """The latest committed version: from Redis when it has it, else from the database."""
    client = get_redis()
    if client is not None:
        try:
            value: Any = client.get(VERSION_KEY)
            if value is not None:
                return int(value)
            version = database_version()
            client.set(VERSION_KEY, version, nx=True)
            return version
        except REDIS_ERRORS as exc:
            breaker.trip(exc)
    return database_version()


# --- loading -----------------------------------------------------------------------------------
def load_catalog() -> CatalogSnapshot:
    """The whole publisher catalog."""
    verified: set[str] = set()
    sponsored: set[str] = set()
    for namespace, kind in PublisherNamespace.objects.values_list("namespace", "kind"):
        (verified if kind == PublisherKind.VERIFIED_PUBLISHER else sponsored).add(namespace)
    return CatalogSnapshot(
        verified_publishers=frozenset(verified), sponsored_oss=frozenset(sponsored)
    )


def policy_snapshot(policy: ImageAccessPolicy | None) -> PolicySnapshot:
    """Engine view of a policy row (defaults when the organization has none yet)."""
    if policy is None:
        return PolicySnapshot()
    return PolicySnapshot(
        enabled=policy.enabled,
        allow_official=policy.allow_official,
        allow_verified_publisher=policy.allow_verified_publisher,
        allow_community=policy.allow_community,
        audit_mode=policy.audit_mode,
        block_image_load=policy.block_image_load,
        version=policy.version,
    )


def registry_access_snapshot(policy: RegistryAccessPolicy | None) -> RegistryAccessSnapshot:
    """The engine's view of a row (defaults when the organization has none yet)."""
    if policy is None:
        return RegistryAccessSnapshot()
    rules = []
    for entry in policy.registries:
        try:
            rules.append(parse_registry_entry(entry["host"]))
        except (RegistryEntryError, KeyError, TypeError):
            continue  # written by hand in the admin: an entry that names no host allows nothing
    return RegistryAccessSnapshot(enabled=policy.enabled, rules=tuple(rules))


def load_orgs(orgs: Iterable[Organization]) -> list[OrgSnapshot]:
    """Snapshots of ``orgs``: policies, namespaces, live exceptions and member roles.

    Five queries whatever the number of organizations.
    """
    orgs = list(orgs)
    ids = [org.id for org in orgs]
    if not ids:
        return []
    policies = {p.org_id: p for p in ImageAccessPolicy.objects.filter(org_id__in=ids)}
    registry_access = {p.org_id: p for p in RegistryAccessPolicy.objects.filter(org_id__in=ids)}
    namespaces: dict[int, set[str]] = {org_id: set() for org_id in ids}
    for org_id, name in Namespace.objects.filter(org_id__in=ids).values_list("org_id", "name"):
        namespaces[org_id].add(name)
    exceptions: dict[int, list[ExceptionSnapshot]] = {org_id: [] for org_id in ids}
    live = Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
    for exc in RepositoryException.objects.filter(live, org_id__in=ids):
        exceptions[exc.org_id].append(
            ExceptionSnapshot(exc.id, exc.namespace, exc.name, exc.expires_at)
        )
    roles: dict[int, dict[int, str]] = {org_id: {} for org_id in ids}
    for org_id, user_id, role in Membership.objects.filter(org_id__in=ids).values_list(
        "org_id", "user_id", "role"
    ):
        roles[org_id][user_id] = role
    return [
        OrgSnapshot(
            id=org.id,
            slug=org.slug,
            business=org.is_business,
            enforce_sign_in=org.enforce_sign_in,
            policy=policy_snapshot(policies.get(org.id)),
            namespaces=frozenset(namespaces[org.id]),
            exceptions=tuple(exceptions[org.id]),
            roles=roles[org.id],
            registry_access=registry_access_snapshot(registry_access.get(org.id)),
        )
        for org in orgs
    ]


# --- the per-process store ---------------------------------------------------------------------
class SnapshotStore:
    """In-memory snapshots for this process, valid for one snapshot version."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        """Forget everything (tests; and whenever the version moves)."""
        self._version: int | None = None
        self._expired = False  # a published change: read the version before the next decision
        self._checked_at = 0.0  # monotonic time of the last successful version read
        self._catalog: CatalogSnapshot | None = None
        self._orgs_by_slug: dict[str, OrgSnapshot | None] = {}
        self._user_orgs: dict[int, tuple[OrgSnapshot, ...]] = {}

    def expire(self) -> None:
        """Read the version on the next decision (a change was published)."""
        self._expired = True

    def _refresh(self) -> None:
        version_listener.ensure_started()
        now = time.monotonic()
        if (
            self._version is not None
            and not self._expired
            and now - self._checked_at < settings.SNAPSHOT_REFRESH_SECONDS
        ):
            return
        self._expired = False
        try:
            version = current_version()
        except DatabaseError as exc:
            age = now - self._checked_at
            if self._version is not None and age < settings.SNAPSHOT_MAX_STALENESS_SECONDS:
                return  # keep answering from snapshots that are still young enough
            raise SnapshotsUnavailable("the policy store cannot be read") from exc
        with self._lock:
            if version != self._version:
                self.clear()
                self._version = version
            self._checked_at = now

    def catalog(self) -> CatalogSnapshot:
        self._refresh()
        if self._catalog is None:
            self._catalog = _guard(load_catalog)
        return self._catalog

    def user_orgs(self, user_id: int | None) -> tuple[OrgSnapshot, ...]:
        """Snapshots of every organization ``user_id`` belongs to."""
        self._refresh()
        if user_id is None:
            return ()
        cached = self._user_orgs.get(user_id)
        if cached is None:
            cached = tuple(
                _guard(lambda: load_orgs(Organization.objects.filter(memberships__user_id=user_id)))
            )
            self._user_orgs[user_id] = cached
            for org in cached:
                self._orgs_by_slug.setdefault(org.slug, org)
        return cached

    def named_orgs(self, slugs: Sequence[str]) -> list[OrgSnapshot]:
        """Snapshots of the named organizations that exist, in the order given."""
        self._refresh()
        missing = [slug for slug in slugs if slug not in self._orgs_by_slug]
        if missing:
            loaded = {
                org.slug: org
                for org in _guard(lambda: load_orgs(Organization.objects.filter(slug__in=missing)))
            }
            for slug in missing:
                self._orgs_by_slug[slug] = loaded.get(slug)
        return [org for slug in slugs if (org := self._orgs_by_slug.get(slug)) is not None]


_T = TypeVar("_T")


def _guard(load: Callable[[], _T]) -> _T:
    try:
        return load()
    except DatabaseError as exc:
        raise SnapshotsUnavailable("the policy store cannot be read") from exc


store = SnapshotStore()


def wait_for_policy_version(slug: str, version: int, *, timeout: float) -> int:
    """Wait until this process decides with ``slug``'s policy version ``version`` or newer.

    Returns the version in effect when it got there or when ``timeout`` seconds passed.
    Raises ``SnapshotsUnavailable`` when the policy cannot be read.
    """
    deadline = time.monotonic() + timeout
    while True:
        orgs = store.named_orgs([slug])
        in_effect = orgs[0].policy.version if orgs else 0
        if in_effect >= version or time.monotonic() >= deadline:
            return in_effect
        time.sleep(0.05)
        store.expire()
