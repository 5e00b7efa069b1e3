"""Faults injected under load on the production server, with a backlog in the event stream.

granian serves the app exactly as ``make serve`` does, against a private PostgreSQL and a
private Redis with AOF (``services.py``); a real Celery worker (with beat) drains the stream.
Threads ask for decisions without pause, each for an image no other request names, so every
answer can be matched to its stored event. Each test first holds the worker back so the stream
holds a backlog, then injects its fault while the load goes on, then heals it.

What must hold, whatever the fault: every request is answered (200, or 503 with
``Retry-After``) within two seconds; every decision answered 200 is stored exactly once; no
event is stored that nobody asked for.
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from tests.e2e import harness
from tests.e2e.served_app import ServedApp, Server, http_request, serve_app, start_server
from tests.faults.services import PrivatePostgres, PrivateRedis, private_postgres, private_redis

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
ANSWER_BOUND = 2.0  # seconds: an answer, whatever the fault, never silence
STREAM = "imageaccess:decision-events"


@dataclass
class Answer:
    image: str
    status: int  # 0: no HTTP answer at all
    seconds: float
    retry_after: str | None


@dataclass
class Load:
    """Client threads asking for one-image decisions back to back over kept-alive connections."""

    server: Server
    token: str
    threads: int = 4
    answers: list[Answer] = field(default_factory=list)
    run: str = field(default_factory=lambda: secrets.token_hex(3))

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._workers = [
            threading.Thread(target=self._ask, args=(n,), daemon=True) for n in range(self.threads)
        ]

    @property
    def prefix(self) -> str:
        return f"faultload{self.run}/"

    def __enter__(self) -> Load:
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=30)

    def _ask(self, number: int) -> None:
        connection = self._connect()
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        for sequence in itertools.count():
            if self._stop.is_set():
                break
            image = f"{self.prefix}t{number}-{sequence}"
            started = time.monotonic()
            try:
                connection.request(
                    "POST", "/api/v1/decisions", json.dumps({"image": image}), headers
                )
                response = connection.getresponse()
                response.read()
                status, retry_after = response.status, response.getheader("Retry-After")
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = self._connect()
                status, retry_after = 0, None
            answer = Answer(image, status, time.monotonic() - started, retry_after)
            with self._lock:
                self.answers.append(answer)
        connection.close()

    def _connect(self) -> http.client.HTTPConnection:
        # Far above the bound: a request that waits this long is reported, not abandoned.
        return http.client.HTTPConnection(harness.LOCALHOST, self.server.port, timeout=15)

    def rate(self, since: int, until: int | None = None) -> int:
        return len(self.answers[since:until])


class Worker:
    """The Celery worker with beat (``make worker`` and ``make beat`` in one process)."""

    def __init__(self, app: ServedApp, env: dict[str, str] | None = None) -> None:
        self.app, self.env = app, env or app.env
        self.process: subprocess.Popen[bytes] | None = None
        self.log = app.workdir / f"worker-{secrets.token_hex(3)}.log"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
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
                    str(self.app.workdir / f"beat-{secrets.token_hex(3)}"),
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self) -> None:
        if self.process is not None:
            harness.stop_process(self.process, timeout=20)
        self.process = None

    def pause(self) -> None:
        """SIGSTOP: the drain stops where it is, the process keeps what it has seen."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGCONT)

    def logs(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Stack:
    app: ServedApp
    postgres: PrivatePostgres
    redis_server: PrivateRedis
    worker: Worker

    def redis_client(self, url: str | None = None) -> redis.Redis:
        return redis.Redis.from_url(url or self.app.env["REDIS_URL"], socket_timeout=5)

    def stored(self, prefix: str) -> Counter[str]:
        assert self.app.database.url
        with psycopg.connect(self.app.database.url, connect_timeout=5) as conn:
            rows = conn.execute(
                "SELECT image, count(*) FROM policies_decisionevent WHERE image LIKE %s "
                "GROUP BY image",
                (prefix + "%",),
            ).fetchall()
        return Counter({image: count for image, count in rows})

    def wait_drained(self, url: str | None = None, timeout: float = 90) -> None:
        """Until the stream is empty: every entry stored, acknowledged and deleted."""
        client = self.redis_client(url)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError):
                if _length(client) == 0:
                    time.sleep(0.5)  # the outage batches' background passes (50 ms)
                    return
            time.sleep(0.25)
        raise AssertionError(f"the stream still holds entries after {timeout}s")


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with (
        private_postgres() as postgres,
        private_redis(appendonly=True, appendfsync="everysec") as redis_server,
    ):
        patch = pytest.MonkeyPatch()
        patch.setenv("DATABASE_URL", postgres.url)
        patch.setenv("REDIS_URL", redis_server.url)
        try:
            with serve_app(workers=2, kind="granian") as app:
                app.patch_policy(enabled=True)
                worker = Worker(app)
                try:
                    yield Stack(app, postgres, redis_server, worker)
                finally:
                    worker.stop()
        finally:
            patch.undo()


def _length(client: redis.Redis) -> int:
    length: Any = client.xlen(STREAM)
    return int(length)


def _backlog_then(
    stack: Stack,
    fault: Callable[[], None],
    heal: Callable[[], None],
    *,
    server: Server | None = None,
    fault_seconds: float = 5.0,
) -> Load:
    """Load throughout: 3 s with no worker (the backlog), the worker starts, the fault, healing."""
    stack.worker.stop()
    with Load(server or stack.app.server, stack.app.token("mike")) as load:
        time.sleep(3)
        backlog = _length(stack.redis_client())
        assert backlog > 0
        stack.worker.start()
        time.sleep(0.5)
        fault()
        try:
            time.sleep(fault_seconds)
        finally:
            heal()
        time.sleep(3)
    return load


def _decide(server: Server, token: str) -> int:
    return http_request(
        "POST",
        f"{server.base_url}/api/v1/decisions",
        body={"image": "nginx"},
        headers={"Authorization": f"Bearer {token}"},
    ).status


def _ready_with_redis(server: Server) -> dict[str, Any]:
    """``/readyz`` once its worker asks Redis again (its breaker closes 5 s after a failure)."""
    deadline = time.monotonic() + 12
    while True:
        ready: dict[str, Any] = http_request("GET", f"{server.base_url}/readyz").json()
        if "redis" in ready or time.monotonic() > deadline:
            return ready
        time.sleep(0.5)


def _assert_held(stack: Stack, load: Load) -> Counter[str]:
    """Every request answered in time; every 200 stored once; nothing stored unasked."""
    answers = load.answers
    assert len(answers) > 500, "the load did not run"
    silent = [a for a in answers if a.status == 0]
    assert not silent, f"{len(silent)} requests got no HTTP answer: {silent[:3]}"
    slow = [a for a in answers if a.seconds >= ANSWER_BOUND]
    assert not slow, f"{len(slow)} answers took {ANSWER_BOUND}s or more: {slow[:3]}"
    unexpected = [a for a in answers if a.status not in (200, 503)]
    assert not unexpected, unexpected[:3]
    assert all(a.retry_after for a in answers if a.status == 503)
    stack.wait_drained()
    stored = stack.stored(load.prefix)
    asked = {a.image for a in answers}
    answered = {a.image for a in answers if a.status == 200}
    assert answered <= set(stored), f"{len(answered - set(stored))} answered, never stored"
    assert set(stored) <= asked
    assert max(stored.values()) == 1, "an event was stored twice"
    return stored


def _report(name: str, load: Load, stored: Counter[str]) -> None:
    statuses = Counter(a.status for a in load.answers)
    slowest = max(a.seconds for a in load.answers)
    print(
        f"\n{name}: {len(load.answers)} requests {dict(statuses)}, slowest {slowest:.2f}s, "
        f"{len(stored)} events stored"
    )


def test_postgres_frozen_under_load(stack: Stack) -> None:
    """SIGSTOP of the cluster: warm decisions answer from snapshots, the drain waits."""
    load = _backlog_then(stack, stack.postgres.freeze, stack.postgres.thaw)
    stored = _assert_held(stack, load)
    assert all(a.status == 200 for a in load.answers)  # within the staleness bound (30 s)
    _report("PostgreSQL frozen", load, stored)


def test_postgres_refused_under_load(stack: Stack) -> None:
    load = _backlog_then(stack, stack.postgres.stop, stack.postgres.start)
    stored = _assert_held(stack, load)
    assert all(a.status == 200 for a in load.answers)
    _report("PostgreSQL refused", load, stored)


def test_postgres_frozen_past_the_staleness_bound_fails_closed_in_time(stack: Stack) -> None:
    """With no staleness allowed, the node answers 503 quickly and recovers by itself."""
    with stack.app.another_server(workers=2, IMAGEACCESS_MAX_STALENESS_SECONDS="0") as strict:
        load = _backlog_then(
            stack, stack.postgres.freeze, stack.postgres.thaw, server=strict, fault_seconds=4
        )
        # Each worker probes once per breaker interval (5 s): the first success closes it.
        deadline = time.monotonic() + 5 + 2
        while not all(_decide(strict, stack.app.token("mike")) == 200 for _ in range(6)):
            assert time.monotonic() < deadline, "not recovered within the breaker interval"
            time.sleep(0.2)
    stored = _assert_held(stack, load)
    statuses = Counter(a.status for a in load.answers)
    assert statuses[503] > 0
    _report("PostgreSQL frozen, no staleness", load, stored)


def test_redis_frozen_under_load(stack: Stack) -> None:
    """SIGSTOP of Redis: events go to the database in batches; late replies add no copies."""
    load = _backlog_then(stack, stack.redis_server.freeze, stack.redis_server.thaw)
    stored = _assert_held(stack, load)
    assert all(a.status == 200 for a in load.answers)
    _report("Redis frozen", load, stored)


def test_redis_crash_with_aof_loses_nothing(stack: Stack) -> None:
    """SIGKILL of Redis with ``appendonly yes``/``appendfsync everysec``: the backlog survives."""
    load = _backlog_then(stack, stack.redis_server.kill, stack.redis_server.start)
    stored = _assert_held(stack, load)
    assert all(a.status == 200 for a in load.answers)
    ready = _ready_with_redis(stack.app.server)
    assert ready["redis"]["stream_resets"] == 0
    assert ready["redis"]["events_survive_restart"] is True
    _report("Redis killed, AOF", load, stored)


def test_a_volatile_redis_is_refused_at_start_up_and_its_loss_is_detected(
    stack: Stack,
) -> None:
    """Without AOF: production start-up refuses it; accepted anyway, a restart is counted."""
    with private_redis(appendonly=False) as volatile:
        env = {**stack.app.env, "REDIS_URL": volatile.url}
        env.pop("IMAGEACCESS_ALLOW_VOLATILE_REDIS", None)
        with pytest.raises(RuntimeError) as refused:
            start_server(env, stack.app.workdir, workers=1, label="volatile", kind="granian")
        assert "appendonly yes" in str(refused.value)
        assert "IMAGEACCESS_ALLOW_VOLATILE_REDIS" in str(refused.value)

        env["IMAGEACCESS_ALLOW_VOLATILE_REDIS"] = "1"
        server = start_server(env, stack.app.workdir, workers=2, label="accepted", kind="granian")
        worker = Worker(stack.app, env)
        try:
            worker.start()
            with Load(server, stack.app.token("mike")) as load:
                # The worker drains as the load goes: once it has stored events, it has seen
                # the consumer group (a worker cannot tell a group gone from a first start).
                deadline = time.monotonic() + 60
                while not stack.stored(load.prefix):
                    assert time.monotonic() < deadline, worker.logs()[-2000:]
                    time.sleep(0.5)
                worker.pause()
                time.sleep(2)  # a backlog builds
                client = stack.redis_client(volatile.url)
                backlog = _length(client)
                volatile.kill()
                volatile.start()  # empty: the backlog is gone
                worker.resume()
                time.sleep(4)
            deadline = time.monotonic() + 60  # the worker reconnects to the new Redis first
            while "consumer group was gone" not in worker.logs():
                assert time.monotonic() < deadline, worker.logs()[-2000:]
                time.sleep(0.5)
            stack.wait_drained(volatile.url)
            ready = _ready_with_redis(server)
            assert ready["redis"]["stream_resets"] >= 1
            assert ready["redis"]["events_survive_restart"] is False
        finally:
            worker.stop()
            harness.stop_process(server.process)
    stored = stack.stored(load.prefix)
    answered = {a.image for a in load.answers if a.status == 200}
    lost = answered - set(stored)
    assert 0 < len(lost) <= backlog + 500  # the backlog, and what was in flight
    assert max(stored.values()) == 1
    print(f"\nvolatile Redis restarted: backlog {backlog}, {len(lost)} answered events lost")
