"""Shared fixtures: the standard cast and API clients.

acme (business): olivia owner, erin editor, mike member. globex (business): charlie member,
an outsider to acme.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User as AuthUser
from django.core.cache import cache
from rest_framework.test import APIClient

from orgs.models import Membership, Organization, TokenScope
from orgs.roles import Role
from orgs.services import create_organization
from orgs.tokens import mint_token

if TYPE_CHECKING:
    from tests.pages import World

User = get_user_model()
PASSWORD = "correct-horse-battery-staple"


def pytest_configure(config: pytest.Config) -> None:
    # The machine's Redis keeps nothing on disk; the tests that check the production refusal
    # turn this off for themselves.
    settings.ALLOW_VOLATILE_REDIS = True
    if os.environ.get("CI") == "true":
        engine = str(settings.DATABASES["default"]["ENGINE"])
        backend = str(settings.CACHES["default"]["BACKEND"])
        assert engine == "imageaccess.postgresql", f"CI must use PostgreSQL, not {engine}"
        assert backend.endswith("RedisCache"), f"CI must use Redis for the cache, not {backend}"


@pytest.fixture(autouse=True)
def _private_event_stream(settings: Any) -> Iterator[None]:
    """Each test appends decision events to its own Redis stream (when Redis is configured)."""
    from policies.events.stream_writer import deferred_stream, outage_batch

    settings.EVENT_STREAM = f"test:decision-events:{uuid.uuid4().hex}"
    yield
    outage_batch.clear()  # a test that wanted them stored has flushed them
    from imageaccess.redis_client import REDIS_ERRORS, get_redis

    client = get_redis()
    if client is not None:
        # Settle this test's appends first, or one processed after the DEL recreates the key.
        # The database may already be closed to this fixture: nothing is left to assert here.
        with contextlib.suppress(Exception):
            deferred_stream.flush()
        with contextlib.suppress(*REDIS_ERRORS):
            client.delete(settings.EVENT_STREAM)
    # The next test makes its own client, from its own settings, with the breaker closed: a
    # client of a Redis this test stopped would trip the breaker the cache shares.
    from imageaccess import redis_client

    deferred_stream.forget()
    redis_client._client.cache_clear()
    redis_client.breaker.reset()


@pytest.fixture(autouse=True, scope="session")
def _events_settle_in_the_test_thread() -> None:
    """No background reader in the test process: a test settles its events (``flush``, the
    drain) and no other thread writes to the database behind its transaction. Tests that
    exercise the reader turn it on themselves; servers started by tests run it as deployed."""
    from policies.events.stream_writer import deferred_stream, outage_batch

    deferred_stream.confirm_seconds = 0
    outage_batch.background_seconds = 0


def stored_events() -> Any:
    """Decision events in the database, after draining the stream when Redis is in use."""
    from policies.events.stream_drain import drain_stream
    from policies.models import DecisionEvent

    drain_stream()
    return DecisionEvent.objects.all()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:
    # The real hasher is slow by design; tests create many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _clear_cache() -> Iterator[None]:
    from imageaccess import redis_client
    from orgs.ratelimit import failed_token_auth
    from orgs.tokens import token_cache
    from policies.snapshot_store import store

    redis_client.breaker.reset()  # a Redis failure one test provoked is not the next one's
    cache.clear()
    store.clear()
    token_cache.clear()
    failed_token_auth.clear()
    yield
    cache.clear()
    store.clear()
    token_cache.clear()
    redis_client.breaker.reset()
    # Importing the WSGI module (as a test of the lean handler does) bounds database waits
    # and arms the breaker for a server process; the test process waits as Django does.
    from imageaccess.postgresql import base as bounded_postgresql

    bounded_postgresql.unconfigure()


@dataclass
class Cast:
    acme: Organization
    globex: Organization
    olivia: AuthUser
    erin: AuthUser
    mike: AuthUser
    charlie: AuthUser

    def user(self, name: str) -> AuthUser:
        user: AuthUser = getattr(self, name)
        return user


def make_user(username: str) -> AuthUser:
    from allauth.account.models import EmailAddress

    user: AuthUser = User.objects.create_user(username, f"{username}@example.com", PASSWORD)
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


@pytest.fixture
def cast(db: None) -> Cast:
    olivia, erin, mike, charlie = (make_user(n) for n in ("olivia", "erin", "mike", "charlie"))
    acme = create_organization(creator=olivia, slug="acme", name="Acme Corp")
    globex = create_organization(creator=charlie, slug="globex", name="Globex")
    Membership.objects.create(org=acme, user=erin, role=Role.EDITOR)
    Membership.objects.create(org=acme, user=mike, role=Role.MEMBER)
    Membership.objects.filter(org=globex, user=charlie).update(role=Role.MEMBER)
    # globex needs an owner too; a separate user keeps charlie a plain member.
    gina = make_user("gina")
    Membership.objects.create(org=globex, user=gina, role=Role.OWNER)
    return Cast(acme=acme, globex=globex, olivia=olivia, erin=erin, mike=mike, charlie=charlie)


@pytest.fixture
def tokens(cast: Cast) -> dict[str, str]:
    """A PAT plaintext per cast member (admin scope for olivia, read for the others)."""
    result = {}
    for name in ("olivia", "erin", "mike", "charlie"):
        scope = TokenScope.ADMIN if name == "olivia" else TokenScope.READ
        result[name] = mint_token(user=cast.user(name), name="test", scope=scope).plaintext
    return result


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def bearer(client: APIClient, token: str) -> APIClient:
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def world(cast: Cast) -> World:
    """The cast and one object of each kind a page can point at (``tests.pages.World``)."""
    from tests.pages import make_world

    return make_world(cast)
