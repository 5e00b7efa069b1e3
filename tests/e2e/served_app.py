"""Run imageaccess as a real server process (gunicorn, or granian as ``make serve``) for tests.

The served app is independent of pytest-django's test database and settings: it runs in child
processes with its own environment, and nothing here imports ``django.db``.

- Database: with ``DATABASE_URL`` naming PostgreSQL in the environment (CI), a fresh database
  ``imageaccess_e2e_<random>`` is created on that server (psycopg) and dropped afterwards
  (``WITH (FORCE)``); otherwise a SQLite file in the temporary data directory.
- ``IMAGEACCESS_DATA_DIR`` is a temporary directory, so the registry signing key is private to
  the run.
- ``REDIS_URL``, when set, is passed on with the next database number (``n + 1`` modulo 16),
  so the server never shares keys with the test session's cache; the app's ``imageaccess*``
  keys in that database are deleted before and after the run.
- Production settings: ``DJANGO_DEBUG=0`` with a throw-away secret key and token pepper, and
  ``IMAGEACCESS_SSL_REDIRECT=0`` because everything is plain HTTP on 127.0.0.1.
- ``manage.py migrate`` and ``seed_demo --json`` run first (the JSON, users with passwords and
  fresh personal access tokens, is :attr:`ServedApp.seed`); then gunicorn with 2 workers (or
  granian, the production server, with ``server="granian"``), ready when ``/healthz`` answers
  200. Every process is started in its own process group and stopped
  by its pid.

Helpers: :meth:`ServedApp.manage` runs ``manage.py`` against the same database and
environment; :meth:`ServedApp.patch_policy` changes an organization's image access settings
through the REST API and waits until every worker decides with them (snapshots refresh within
``IMAGEACCESS_SNAPSHOT_REFRESH_MS``); :meth:`ServedApp.registry_events` reads the decision
events (draining the Redis stream first); :meth:`ServedApp.another_server` starts a second
gunicorn on the same database with other settings.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.e2e import harness

BASE_DIR = Path(__file__).resolve().parents[2]
LOCALHOST = harness.LOCALHOST
START_TIMEOUT = 30.0
MANAGE_TIMEOUT = 120.0
# Variables of the developer's shell or CI that must not leak into the served app.
_DROPPED_PREFIXES = ("IMAGEACCESS_", "DJANGO_", "DATABASE_", "REDIS_URL", "WEB_CONCURRENCY")


def server_program(name: str = "gunicorn") -> str:
    """A server program from the virtualenv running the tests, else from ``PATH``."""
    beside = Path(sys.executable).parent / name
    if os.access(beside, os.X_OK):
        return str(beside)
    return harness.require_program(name)


def _server_argv(kind: str, port: int, workers: int) -> list[str]:
    """gunicorn for most tests; granian exactly as ``make serve`` runs it."""
    if kind == "granian":
        return [
            server_program("granian"),
            "--interface",
            "wsgi",
            "--host",
            LOCALHOST,
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--blocking-threads",
            "1",
            "imageaccess.wsgi:application",
        ]
    return [
        server_program("gunicorn"),
        "imageaccess.wsgi:application",
        "--bind",
        f"{LOCALHOST}:{port}",
        "--workers",
        str(workers),
        "--timeout",
        "30",
        "--graceful-timeout",
        "5",
        "--access-logfile",
        "-",
        "--error-logfile",
        "-",
    ]


# --------------------------------------------------------------------------------------------
# Databases


@dataclass
class Database:
    """Where the served app keeps its data; ``url`` is None for SQLite in the data dir."""

    url: str | None
    admin_url: str | None = None
    name: str | None = None

    @classmethod
    def create(cls, source_url: str | None) -> Database:
        """A fresh PostgreSQL database on ``source_url``'s server, or SQLite when not PG."""
        if not source_url or urllib.parse.urlsplit(source_url).scheme not in (
            "postgres",
            "postgresql",
        ):
            return cls(url=None)
        import psycopg  # the app's own driver; imported here so SQLite runs never need it

        name = f"imageaccess_e2e_{secrets.token_hex(6)}"
        parts = urllib.parse.urlsplit(source_url)
        with psycopg.connect(_libpq_url(source_url), autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))
        return cls(url=url, admin_url=source_url, name=name)

    def drop(self) -> None:
        """Drop the PostgreSQL database (connections still open are terminated)."""
        if self.admin_url is None or self.name is None:
            return
        import psycopg

        with psycopg.connect(
            _libpq_url(self.admin_url), autocommit=True, connect_timeout=5
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    @property
    def description(self) -> str:
        return f"PostgreSQL database {self.name}" if self.name else "SQLite in the data directory"


def _libpq_url(url: str) -> str:
    # libpq accepts postgres:// and postgresql:// but not dj-database-url's extra schemes.
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(scheme="postgresql"))


def _separate_redis_db(url: str) -> str:
    """The same Redis server, another database number than ``url``'s."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "unix":
        query = dict(urllib.parse.parse_qsl(parts.query))
        current = int(query.get("db", "0") or 0)
        query["db"] = str((current + 1) % 16)
        return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))
    match = re.fullmatch(r"/?(\d*)", parts.path or "")
    current = int(match.group(1)) if match and match.group(1) else 0
    return urllib.parse.urlunsplit(parts._replace(path=f"/{(current + 1) % 16}"))


def reset_redis_keys(url: str) -> int:
    """Delete the app's keys (``imageaccess*``: cache, snapshot version, event stream) in the
    served app's Redis database, so nothing from an earlier run (say, undrained events or a
    snapshot version of another database) leaks into this one. Returns how many were deleted.
    """
    import redis  # the app's own client library

    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        keys = list(client.scan_iter(match="imageaccess*", count=1000))
        deleted: Any = client.delete(*keys) if keys else 0
        return int(deleted)
    finally:
        client.close()


# --------------------------------------------------------------------------------------------
# HTTP


class Headers(dict[str, str]):
    """Response headers looked up without regard to case (granian sends them in lower case)."""

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        super().__init__((name.lower(), value) for name, value in items)

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name.lower(), default)


@dataclass(frozen=True)
class Response:
    """An HTTP answer from the served app."""

    status: int
    headers: Headers
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http_request(
    method: str,
    url: str,
    *,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> Response:
    """One request; JSON-encodes ``body``; never raises for HTTP error statuses."""
    data = None
    all_headers = {"Accept": "application/json", **(headers or {})}
    if body is not None:
        data = json.dumps(body).encode()
        all_headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, method=method, headers=all_headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 (loopback)
            return Response(resp.status, Headers(resp.headers.items()), resp.read())
    except urllib.error.HTTPError as exc:
        return Response(exc.code, Headers(exc.headers.items()), exc.read())


# --------------------------------------------------------------------------------------------
# gunicorn


@dataclass
class Server:
    """One running server (gunicorn or granian) serving the app."""

    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://{LOCALHOST}:{self.port}"

    @property
    def token_url(self) -> str:
        """The registry realm: ``/v2/token`` on this server."""
        return f"{self.base_url}/v2/token"

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(
    env: Mapping[str, str], workdir: Path, *, workers: int, label: str, kind: str = "gunicorn"
) -> Server:
    """Start ``kind`` on a free port and wait until ``/healthz`` answers."""
    last_error = ""
    for attempt in range(3):  # a port that was free a moment ago may be taken meanwhile
        port = harness.free_port()
        log_path = workdir / f"{kind}-{label}-{attempt}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                _server_argv(kind, port, workers),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(env),
                cwd=BASE_DIR,
                start_new_session=True,  # its own process group, stopped by pid
            )
        server = Server(port, proc, log_path)
        try:
            _wait_healthy(server, START_TIMEOUT)
            return server
        except (RuntimeError, TimeoutError) as exc:
            harness.stop_process(proc)
            last_error = str(exc)
            if "Address already in use" in server.logs():
                continue
            raise
    raise RuntimeError(f"{kind} did not start: {last_error}")


def _wait_healthy(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"the server exited with {server.process.returncode}:\n{server.logs()[-4000:]}"
            )
        try:
            response = http_request("GET", f"{server.base_url}/healthz", timeout=2.0)
            if response.status == 200:
                return
            last = f"status {response.status}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.1)
    raise TimeoutError(f"/healthz not ready after {timeout}s ({last}):\n{server.logs()[-4000:]}")


# --------------------------------------------------------------------------------------------
# The served app


@dataclass
class ServedApp:
    """The served app, its environment, and the demo data it was seeded with."""

    workdir: Path
    env: dict[str, str]
    database: Database
    server: Server
    seed: dict[str, Any]
    extra_servers: list[Server] = field(default_factory=list)
    kind: str = "gunicorn"

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def token_url(self) -> str:
        return self.server.token_url

    def token(self, username: str) -> str:
        """The demo personal access token ``seed_demo`` minted for ``username``."""
        return str(self.seed["users"][username]["token"])

    def password(self, username: str) -> str:
        return str(self.seed["users"][username]["password"])

    def creds(self, username: str) -> str:
        """``username:PAT`` as skopeo's ``--src-creds`` wants it."""
        return f"{username}:{self.token(username)}"

    # -- manage.py -----------------------------------------------------------------------------

    def manage(
        self,
        *args: str,
        timeout: float = MANAGE_TIMEOUT,
        env: Mapping[str, str] | None = None,
    ) -> harness.CommandResult:
        """Run ``manage.py ARGS`` against the served app's database and environment."""
        return run_manage({**self.env, **(env or {})}, *args, timeout=timeout)

    def manage_ok(self, *args: str, **kwargs: Any) -> str:
        """:meth:`manage`, failing loudly on a non-zero exit; returns stdout+stderr."""
        return _checked(self.manage(*args, **kwargs))

    def shell_json(self, code: str) -> Any:
        """Run ``code`` in ``manage.py shell``; it must ``print(json.dumps(...))`` last."""
        output = self.manage_ok("shell", "-c", code)
        return json.loads(output.strip().splitlines()[-1])

    # -- HTTP ------------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """``METHOD base_url + path``, with ``Authorization: Bearer TOKEN`` if given."""
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        return http_request(method, f"{self.base_url}{path}", body=body, headers=all_headers)

    @property
    def snapshot_refresh_seconds(self) -> float:
        """How long a server process may decide with the snapshot it had before a change."""
        return float(self.env.get("IMAGEACCESS_SNAPSHOT_REFRESH_MS", "1000")) / 1000

    def wait_for_propagation(self) -> None:
        """Sleep until every server process has noticed the last committed change.

        Each process compares its snapshot version with the published one at most once per
        ``IMAGEACCESS_SNAPSHOT_REFRESH_MS`` (DESIGN: every process sees a change within about
        a second), so the next request after this sleep decides with the new policy.
        """
        time.sleep(self.snapshot_refresh_seconds + 0.3)

    def patch_policy(self, org: str = "acme", *, as_user: str = "olivia", **changes: Any) -> Any:
        """``PATCH /api/v1/orgs/ORG/image-access`` with ``as_user``'s token; returns the policy.

        Nothing is sent when the policy already has these values; after a change this waits
        until every server process decides with it (:meth:`wait_for_propagation`).
        """
        path = f"/api/v1/orgs/{org}/image-access"
        current = self.request("GET", path, token=self.token(as_user))
        if current.status != 200:
            raise AssertionError(f"GET {path} -> {current.status}: {current.body!r}")
        if all(current.json().get(name) == value for name, value in changes.items()):
            return current.json()
        response = self.request("PATCH", path, token=self.token(as_user), body=changes)
        if response.status != 200:
            raise AssertionError(f"PATCH {path} {changes} -> {response.status}: {response.body!r}")
        self.wait_for_propagation()
        return response.json()

    def registry_events(self, after_id: int = 0) -> list[dict[str, Any]]:
        """Decision events of the registry enforcer with an id above ``after_id``, oldest first.

        Drains the Redis event stream into the database first (``manage.py drain_events``,
        what the Celery beat task does every few seconds); without Redis events are written
        directly.
        """
        code = (
            "import io, json\n"
            "from django.core.management import call_command\n"
            "from policies.models import DecisionEvent\n"
            "call_command('drain_events', stdout=io.StringIO())\n"
            f"rows = DecisionEvent.objects.filter(enforcer='registry', id__gt={int(after_id)})\n"
            "rows = rows.order_by('id').values('id', 'username', 'image', 'repository', "
            "'allowed', 'reason', 'user_agent', 'org__slug')\n"
            "print(json.dumps(list(rows)))\n"
        )
        return list(self.shell_json(code))

    def last_event_id(self) -> int:
        """The id of the newest decision event stored (after draining the stream)."""
        code = (
            "import io, json\n"
            "from django.core.management import call_command\n"
            "from django.db.models import Max\n"
            "from policies.models import DecisionEvent\n"
            "call_command('drain_events', stdout=io.StringIO())\n"
            "print(json.dumps(DecisionEvent.objects.aggregate(m=Max('id'))['m'] or 0))\n"
        )
        return int(self.shell_json(code))

    # -- more servers ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def another_server(self, workers: int = 1, **env: str) -> Iterator[Server]:
        """Another server of the same kind on the same database and data dir, ``env`` changed.

        For settings read at start-up (e.g. ``IMAGEACCESS_REGISTRY_ORGS``). Stopped on exit.
        """
        server = start_server(
            {**self.env, **env},
            self.workdir,
            workers=workers,
            label=f"extra{len(self.extra_servers)}",
            kind=self.kind,
        )
        self.extra_servers.append(server)
        try:
            yield server
        finally:
            harness.stop_process(server.process)


def run_manage(
    env: Mapping[str, str], *args: str, timeout: float = MANAGE_TIMEOUT
) -> harness.CommandResult:
    """``python manage.py ARGS`` in a child process with exactly ``env``."""
    return harness.run_command(
        [sys.executable, str(BASE_DIR / "manage.py"), *args], timeout=timeout, env=env, cwd=BASE_DIR
    )


def _checked(result: harness.CommandResult) -> str:
    if not result.ok:
        raise AssertionError(f"manage.py failed:\n{result}")
    return result.output


def parse_json_output(output: str) -> Any:
    """The first JSON object in a command's output (warnings may precede it)."""
    return json.JSONDecoder().raw_decode(output[output.index("{") :])[0]


def app_environment(
    data_dir: Path, database: Database, base_env: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The served app's environment: the parent's, minus app settings, plus ours."""
    source = dict(os.environ if base_env is None else base_env)
    env = {k: v for k, v in source.items() if not k.startswith(_DROPPED_PREFIXES)}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "imageaccess.settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(48),
            "DJANGO_ALLOWED_HOSTS": f"{LOCALHOST},localhost",
            "IMAGEACCESS_TOKEN_PEPPERS": f"e2e:{secrets.token_urlsafe(32)}",
            "IMAGEACCESS_SSL_REDIRECT": "0",
            "IMAGEACCESS_HSTS_SECONDS": "0",
            "IMAGEACCESS_DATA_DIR": str(data_dir),
            "IMAGEACCESS_LOG_LEVEL": "WARNING",
            # The machine's Redis keeps nothing on disk; production refuses that by default.
            "IMAGEACCESS_ALLOW_VOLATILE_REDIS": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if database.url:
        env["DATABASE_URL"] = database.url
    redis_url = source.get("REDIS_URL")
    if redis_url:
        env["REDIS_URL"] = _separate_redis_db(redis_url)
    return env


@contextlib.contextmanager
def serve_app(*, workers: int = 2, kind: str = "gunicorn") -> Iterator[ServedApp]:
    """Create a database, migrate, seed the demo data, serve with ``kind``; tear all down."""
    server_program(kind)  # fail (CI) or skip early when the server is missing
    workdir = Path(tempfile.mkdtemp(prefix="ia-served-"))
    data_dir = workdir / "data"
    data_dir.mkdir()
    database: Database | None = None
    app: ServedApp | None = None
    server: Server | None = None
    env: dict[str, str] = {}
    try:
        database = Database.create(os.environ.get("DATABASE_URL"))
        env = app_environment(data_dir, database)
        if env.get("REDIS_URL"):
            reset_redis_keys(env["REDIS_URL"])
        _checked(run_manage(env, "migrate", "--noinput", "-v0"))
        seed = parse_json_output(_checked(run_manage(env, "seed_demo", "--json")))
        server = start_server(env, workdir, workers=workers, label="main", kind=kind)
        app = ServedApp(workdir, env, database, server, seed, kind=kind)
        yield app
    finally:
        if server is not None:
            harness.stop_process(server.process)
        for extra in app.extra_servers if app else []:
            harness.stop_process(extra.process)
        try:
            if env.get("REDIS_URL"):
                with contextlib.suppress(Exception):
                    reset_redis_keys(env["REDIS_URL"])
            if database is not None:
                database.drop()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# A registry mirror wired to the served app with `manage.py registry_config`


@dataclass(frozen=True)
class MirrorAuth:
    """What ``registry_config`` printed, and its values."""

    yaml_block: str
    realm: str
    service: str
    issuer: str
    rootcertbundle: Path


def registry_config(app: ServedApp, *, realm: str, service: str, cert_out: Path) -> MirrorAuth:
    """Run ``manage.py registry_config`` and parse the ``auth:`` block it prints."""
    import yaml

    output = app.manage_ok(
        "registry_config", "--realm", realm, "--service", service, "--cert-out", str(cert_out)
    )
    block = output[output.index("auth:") :]
    token = yaml.safe_load(block)["auth"]["token"]
    return MirrorAuth(
        yaml_block=block,
        realm=token["realm"],
        service=token["service"],
        issuer=token["issuer"],
        rootcertbundle=Path(token["rootcertbundle"]),
    )


@contextlib.contextmanager
def run_mirror(
    app: ServedApp, upstream: harness.Registry, workdir: Path, *, realm: str, service: str
) -> Iterator[tuple[harness.Registry, MirrorAuth]]:
    """A pull-through mirror of ``upstream`` whose ``auth:`` block is registry_config's output."""
    workdir.mkdir(parents=True, exist_ok=True)
    auth = registry_config(app, realm=realm, service=service, cert_out=workdir / "bundle.pem")
    with harness.run_registry(
        workdir / "registry", proxy_remoteurl=upstream.url, auth_yaml=auth.yaml_block
    ) as mirror:
        yield mirror, auth
