"""Deterministic performance facts of the decision path (DESIGN.md section 6).

A warm decision runs zero SQL queries and sends one Redis command, the event's XADD, whose
reply it does not wait for (so at most one round trip, and not even that one is awaited); a
cold one runs a small fixed number of queries. Timing is measured by ``bench/``, not here.
"""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
import redis
from django.db import connection
from django.test.utils import CaptureQueriesContext
from redis.connection import Connection
from rest_framework.test import APIClient

from imageaccess import redis_client
from policies.services import update_policy
from policies.snapshot_store import store
from tests.conftest import Cast, bearer

REDIS_URL = os.environ.get("REDIS_URL", "")
pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        not REDIS_URL and os.environ.get("CI") != "true",
        reason="needs a real Redis: set REDIS_URL (CI does)",
    ),
]


class RedisCounter:
    """Counts the commands the request's thread sends on any connection (a pipeline once).

    The event XADD's reply is not awaited (``stream_writer.DeferredStream``); every other
    command is a full round trip. Background threads (the snapshot version listener's
    subscription and health checks) serve no request and are not counted.
    """

    def __init__(self) -> None:
        self.commands: list[str] = []

    def __enter__(self) -> RedisCounter:
        self._original = Connection.send_packed_command
        counter = self

        thread = threading.get_ident()

        def counted(connection: Connection, command: Any, *args: Any, **kwargs: Any) -> Any:
            if threading.get_ident() != thread:
                return counter._original(connection, command, *args, **kwargs)
            chunks = [command] if isinstance(command, (bytes, str)) else command
            packed = b"".join(c.encode() if isinstance(c, str) else bytes(c) for c in chunks)
            counter.commands.append(packed.split(b"\r\n")[2].decode())
            return counter._original(connection, command, *args, **kwargs)

        self._patch = mock.patch.object(Connection, "send_packed_command", counted)
        self._patch.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._patch.stop()


@pytest.fixture
def real_redis(settings) -> Iterator[None]:
    settings.REDIS_URL = REDIS_URL
    settings.SNAPSHOT_REFRESH_SECONDS = 60  # "warm" = inside the refresh window
    redis_client._client.cache_clear()
    redis_client.breaker.reset()
    yield
    redis.Redis.from_url(REDIS_URL).delete(settings.EVENT_STREAM)
    redis_client._client.cache_clear()


def ask(api: APIClient, images: list[str]):
    return api.post("/api/v1/decisions", {"images": images}, format="json")


def test_warm_decision_runs_no_sql_and_sends_one_redis_command(
    cast: Cast, tokens: dict[str, str], real_redis: None
) -> None:
    update_policy(org=cast.acme, actor=cast.olivia, changes={"enabled": True})
    api = bearer(APIClient(), tokens["mike"])
    assert ask(api, ["nginx"]).status_code == 200  # cold: loads token and snapshots
    with CaptureQueriesContext(connection) as queries, RedisCounter() as calls:
        response = ask(api, ["nginx", "someuser/x", "bitnami/redis", "ghcr.io/a/b"])
    assert response.status_code == 200
    assert len(response.json()["decisions"]) == 4
    assert [q["sql"] for q in queries.captured_queries] == []
    assert calls.commands == ["XADD"]


def test_warm_basic_auth_decision_is_as_lean(
    cast: Cast, tokens: dict[str, str], real_redis: None
) -> None:
    raw = base64.b64encode(f"mike:{tokens['mike']}".encode()).decode()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Basic {raw}")
    ask(api, ["nginx"])
    with CaptureQueriesContext(connection) as queries, RedisCounter() as calls:
        ask(api, ["nginx"])
    assert len(queries) == 0
    assert calls.commands == ["XADD"]


def test_cold_decision_runs_a_small_fixed_number_of_queries(
    cast: Cast, tokens: dict[str, str], real_redis: None
) -> None:
    api = bearer(APIClient(), tokens["mike"])
    ask(api, ["nginx"])  # warm the token and last_used, then drop the snapshots only
    store.clear()
    with CaptureQueriesContext(connection) as queries:
        ask(api, ["nginx", "someuser/x"])
    # catalog, the user's orgs, their image and registry access policies, namespaces,
    # exceptions, memberships
    assert len(queries) == 7, [q["sql"] for q in queries.captured_queries]


def test_warm_registry_token_runs_no_sql(
    cast: Cast, tokens: dict[str, str], real_redis: None, client, tmp_path, settings
) -> None:
    from policies.enforcers.token_service.signing import signing_key

    settings.REGISTRY_KEY_FILE = tmp_path / "key.pem"
    signing_key.cache_clear()
    raw = base64.b64encode(f"mike:{tokens['mike']}".encode()).decode()
    params = {"service": "mirror", "scope": "repository:library/nginx:pull"}
    client.get("/v2/token", params, HTTP_AUTHORIZATION=f"Basic {raw}")
    with CaptureQueriesContext(connection) as queries, RedisCounter() as calls:
        response = client.get("/v2/token", params, HTTP_AUTHORIZATION=f"Basic {raw}")
    assert response.status_code == 200
    assert len(queries) == 0
    assert calls.commands == ["XADD"]


def test_policy_change_reaches_another_process_through_the_published_version(
    cast: Cast, tokens: dict[str, str], real_redis: None, settings
) -> None:
    from policies.snapshot_store import VERSION_KEY, current_version, publish_snapshot_version

    settings.SNAPSHOT_REFRESH_SECONDS = 0
    api = bearer(APIClient(), tokens["mike"])
    assert ask(api, ["someuser/x"]).json()["decisions"][0]["allowed"] is True
    update_policy(org=cast.acme, actor=cast.olivia, changes={"enabled": True})
    publish_snapshot_version()  # what on_commit does once the change is committed
    published: Any = redis.Redis.from_url(REDIS_URL).get(VERSION_KEY)
    assert int(published) == current_version()
    assert ask(api, ["someuser/x"]).json()["decisions"][0]["allowed"] is False
