"""Stop real services under a running app and check it holds (DESIGN.md section 7).

The app runs under granian (the production server) against a private PostgreSQL and a
private Redis (see ``services.py``) so these outages touch nothing else. Order matters within
the module: each test leaves the services running again.
"""

from __future__ import annotations

import base64
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.e2e.served_app import Response, ServedApp, http_request, serve_app
from tests.faults.services import PrivatePostgres, PrivateRedis, private_postgres, private_redis

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


class Stack:
    def __init__(self, app: ServedApp, postgres: PrivatePostgres, redis_server: PrivateRedis):
        self.app, self.postgres, self.redis = app, postgres, redis_server

    def decide(self, image: str, user: str = "mike", server: Any = None) -> Response:
        base = server.base_url if server else self.app.base_url
        return http_request(
            "POST",
            f"{base}/api/v1/decisions",
            body={"image": image},
            headers={"Authorization": f"Bearer {self.app.token(user)}"},
        )

    def stored_events(self) -> int:
        return int(
            self.app.shell_json(
                "import json; from policies.models import DecisionEvent; "
                "print(json.dumps(DecisionEvent.objects.count()))"
            )
        )

    def stream_length(self) -> int:
        client = redis.Redis.from_url(self.app.env["REDIS_URL"])
        stream = "imageaccess:decision-events"
        length: Any = client.xlen(stream)
        return int(length)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with private_postgres() as postgres, private_redis() as redis_server:
        patch = pytest.MonkeyPatch()
        patch.setenv("DATABASE_URL", postgres.url)
        patch.setenv("REDIS_URL", redis_server.url)
        try:
            with serve_app(workers=2, kind="granian") as app:
                app.patch_policy(enabled=True)
                yield Stack(app, postgres, redis_server)
        finally:
            patch.undo()


def test_redis_down_decisions_and_pages_keep_working_and_events_reach_the_database(
    stack: Stack,
) -> None:
    before = stack.stored_events()
    stack.redis.stop()
    try:
        for image in ("nginx", "someuser/custom-image", "bitnami/redis"):
            response = stack.decide(image)
            assert response.status == 200, response.body
        assert stack.decide("someuser/custom-image").json()["decisions"][0]["allowed"] is False
        assert stack.app.request("GET", "/accounts/login/").status == 200
        ready = stack.app.request("GET", "/readyz")
        assert ready.status == 503
        assert "cache" in ready.json()["failing"]
        # A worker learns that Redis is gone when it sends an event or when its background
        # reader finds the connection closed (within half a second): either way the events
        # are written to PostgreSQL.
        deadline = time.monotonic() + 10
        while stack.stored_events() < before + 4 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert stack.stored_events() == before + 4
    finally:
        stack.redis.start()
    # Each worker asks Redis again once its breaker interval (5 s) has passed.
    _wait_ready(stack)


def test_worker_down_events_wait_in_redis_and_arrive_when_it_returns(stack: Stack) -> None:
    time.sleep(5.5)  # the Redis breaker from the previous outage closes in every worker
    before = stack.stored_events()
    for _ in range(20):
        assert stack.decide("nginx").status == 200
    assert stack.stream_length() >= 1
    assert stack.stored_events() == before  # nothing drains them: no worker runs
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "imageaccess",
            "worker",
            "--beat",
            "--pool=solo",
            "--loglevel=WARNING",
            "--schedule",
            str(stack.app.workdir / "beat"),
        ],
        cwd=ROOT,
        env=stack.app.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and stack.stored_events() < before + 20:
            time.sleep(1)
        assert stack.stored_events() == before + 20
    finally:
        worker.terminate()
        worker.wait(timeout=20)


def test_postgres_down_fails_closed_within_a_second_and_recovers(stack: Stack) -> None:
    assert stack.decide("nginx").status == 200  # warm every path once
    for _ in range(4):  # each of the main server's workers sees the token at least once
        stack.decide("nginx")
    with stack.app.another_server(workers=1, IMAGEACCESS_MAX_STALENESS_SECONDS="0") as strict:
        assert stack.decide("nginx", server=strict).status == 200
        stack.postgres.stop()
        try:
            time.sleep(1.6)  # past the token lookup cache (1.5 s)
            started = time.monotonic()
            response = stack.decide("nginx", server=strict)
            elapsed = time.monotonic() - started
            assert response.status == 503, response.body
            assert response.headers.get("Retry-After")
            assert elapsed < 1.0
            credentials = base64.b64encode(f"mike:{stack.app.token('mike')}".encode()).decode()
            token = http_request(
                "GET",
                f"{strict.base_url}/v2/token?service=mirror&scope=repository:library/nginx:pull",
                headers={"Authorization": f"Basic {credentials}"},
            )
            assert token.status == 503
            assert token.headers.get("Retry-After")
            ready = stack.app.request("GET", "/readyz")
            assert ready.status == 503
            assert "database" in ready.json()["failing"]
            # The main server allows 30 s of staleness: warm decisions still answer.
            assert stack.decide("nginx").status == 200
        finally:
            stack.postgres.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and stack.decide("nginx").status != 200:
        time.sleep(0.5)
    assert stack.decide("nginx").status == 200
    _wait_ready(stack)


def _wait_ready(stack: Stack) -> None:
    """Each worker probes the database again once its breaker interval has passed."""

    not_ready: list[bytes] = []

    def every_worker_ready() -> bool:
        # Readiness probes the database itself; a read through the API shows the worker's
        # breaker has closed too (a worker that saw the outage fails fast for its interval).
        answers = [stack.app.request("GET", "/readyz") for _ in range(6)] + [
            stack.app.request(
                "GET", "/api/v1/orgs/acme/image-access", token=stack.app.token("olivia")
            )
            for _ in range(6)
        ]
        not_ready[:] = [a.body for a in answers if a.status != 200]
        return not not_ready

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not every_worker_ready():
        time.sleep(0.5)
    assert every_worker_ready(), not_ready


def _timed(call: Any) -> tuple[Response, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def _all_answer(stack: Stack) -> bool:
    """Decisions answer 200 on every worker (asked more often than there are workers)."""
    return all(stack.decide("nginx").status == 200 for _ in range(6))


def _session_cookie(stack: Stack, username: str) -> dict[str, str]:
    """A signed-in browser session for ``username``, made in the app's own database."""
    key = stack.app.shell_json(
        "import json\n"
        "from django.conf import settings\n"
        "from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY\n"
        "from django.contrib.auth.models import User\n"
        "from django.contrib.sessions.backends.db import SessionStore\n"
        f"user = User.objects.get(username={username!r})\n"
        "session = SessionStore()\n"
        "session[SESSION_KEY] = str(user.pk)\n"
        "session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]\n"
        "session[HASH_SESSION_KEY] = user.get_session_auth_hash()\n"
        "session.create()\n"
        "print(json.dumps(session.session_key))\n"
    )
    return {"Cookie": f"sessionid={key}"}


def test_postgres_frozen_answers_within_two_seconds_never_silence(stack: Stack) -> None:
    """SIGSTOP of the whole cluster: the server answers, from snapshots or with a 503."""
    _wait_ready(stack)
    assert stack.decide("nginx").status == 200
    signed_in = _session_cookie(stack, "olivia")
    with stack.app.another_server(workers=1, IMAGEACCESS_MAX_STALENESS_SECONDS="0") as strict:
        assert stack.decide("nginx", server=strict).status == 200
        assert stack.app.request("GET", "/orgs/acme/", headers=signed_in).status == 200
        stack.postgres.freeze()
        try:
            time.sleep(1.6)  # past the token lookup cache (1.5 s)
            for _ in range(3):  # the first pays the bound, the rest meet the open breaker
                response, elapsed = _timed(lambda: stack.decide("nginx", server=strict))
                assert response.status == 503, response.body
                assert response.headers.get("Retry-After")
                assert elapsed < 2.0
            credentials = base64.b64encode(f"mike:{stack.app.token('mike')}".encode()).decode()
            token, elapsed = _timed(
                lambda: http_request(
                    "GET",
                    f"{strict.base_url}/v2/token?service=mirror&scope=repository:library/nginx:pull",
                    headers={"Authorization": f"Basic {credentials}"},
                )
            )
            assert token.status == 503
            assert token.headers.get("Retry-After")
            assert elapsed < 2.0
            for _ in range(4):  # both workers of the main server, each one bound then fast
                page, elapsed = _timed(
                    lambda: stack.app.request("GET", "/orgs/acme/", headers=signed_in)
                )
                assert page.status == 503, page.body[:300]
                assert page.headers.get("Retry-After")
                assert b"Temporarily unavailable" in page.body
                assert elapsed < 2.0
                api, elapsed = _timed(
                    lambda: stack.app.request(
                        "GET", "/api/v1/orgs/acme/image-access", token=stack.app.token("olivia")
                    )
                )
                assert api.status == 503, api.body[:300]
                assert api.json()["error"]["code"] in {"unavailable", "policy_unavailable"}
                assert elapsed < 2.0
                ready, elapsed = _timed(lambda: stack.app.request("GET", "/readyz"))
                assert ready.status == 503
                assert elapsed < 2.0
        finally:
            stack.postgres.thaw()
    # Every worker probes again once its breaker interval has passed.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not _all_answer(stack):
        time.sleep(0.5)
    assert _all_answer(stack)
    _wait_ready(stack)
    assert stack.app.request("GET", "/orgs/acme/", headers=signed_in).status == 200


def test_a_policy_change_reaches_every_worker_by_publish_subscribe(stack: Stack) -> None:
    """With the polling interval at a minute, only the published change can arrive so soon."""
    _wait_ready(stack)
    stack.app.patch_policy(enabled=True, allow_community=False)
    with stack.app.another_server(workers=2, IMAGEACCESS_SNAPSHOT_REFRESH_MS="60000") as node:

        def allowed_everywhere() -> bool:
            answers = [stack.decide("someuser/custom-image", server=node) for _ in range(6)]
            return all(a.json()["decisions"][0]["allowed"] for a in answers)

        for _ in range(6):  # every worker warm, deciding with the current version
            assert not stack.decide("someuser/custom-image", server=node).json()["decisions"][0][
                "allowed"
            ]
        written = time.monotonic()
        patched = stack.app.request(
            "PATCH",
            "/api/v1/orgs/acme/image-access",
            token=stack.app.token("olivia"),
            body={"allow_community": True},
        )
        assert patched.status == 200
        while not allowed_everywhere():
            assert time.monotonic() - written < 1.0, "the change did not arrive within a second"
            time.sleep(0.02)
    stack.app.patch_policy(allow_community=False)
