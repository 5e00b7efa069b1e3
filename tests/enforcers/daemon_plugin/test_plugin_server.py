"""The plugin over its unix socket against a stand-in decision API: answers, batches, cache,
failing closed, and what it costs (no Django, no database, no dockerd)."""

from __future__ import annotations

import base64
import http.client
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from policies.enforcers.daemon_plugin import daemon_decisions
from policies.enforcers.daemon_plugin.daemon_decisions import DaemonDecisions
from policies.enforcers.daemon_plugin.plugin_server import (
    AuthorizationPlugin,
    PluginSettings,
    UnixPluginHTTPServer,
)

TOKEN = "dckr_pat_" + "x" * 27
DENIAL = "image access denied: community images not allowed"
LOAD_DENIAL = "image access denied: docker load and docker import are not allowed by acme"
BASE_DIR = Path(__file__).resolve().parents[3]


def community(image: str) -> bool:
    return image.startswith("someuser/") or "/someuser/" in image


@dataclass
class FakeAPI:
    url: str
    calls: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    version: int = 2
    delay: float = 0.0
    block_load: bool = False


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    state: dict[str, FakeAPI] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            fake = state["api"]
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            fake.calls.append({"body": body, "headers": dict(self.headers)})
            time.sleep(fake.delay)
            payload: dict[str, Any]
            if fake.status != 200:
                payload = {"error": {"code": "x", "message": "invalid username or access token"}}
            elif body.get("action") == "load":
                payload = {
                    "decisions": [],
                    "image_load": {
                        "allowed": not fake.block_load,
                        "would_deny": False,
                        "reason": LOAD_DENIAL if fake.block_load else "not restricted",
                        "org": "acme",
                        "policy_version": fake.version,
                    },
                }
            else:
                payload = {
                    "decisions": [
                        {
                            "image": image,
                            "allowed": not community(image),
                            "reason": DENIAL if community(image) else "allowed",
                            "org": "acme",
                            "policy_version": fake.version,
                        }
                        for image in body["images"]
                    ]
                }
            data = json.dumps(payload).encode()
            self.send_response(fake.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state["api"] = FakeAPI(f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state["api"]
    server.shutdown()
    server.server_close()


@dataclass
class Served:
    socket_path: Path
    plugin: AuthorizationPlugin

    def call(self, path: str, body: Any) -> dict[str, Any]:
        connection = http.client.HTTPConnection("plugin", timeout=10)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(str(self.socket_path))
        connection.sock = sock
        connection.request("POST", path, body=json.dumps(body).encode())
        response = connection.getresponse()
        answer: dict[str, Any] = json.loads(response.read())
        connection.close()
        return answer

    def authz(self, method: str, uri: str, body: Any = None) -> dict[str, Any]:
        request: dict[str, Any] = {"RequestMethod": method, "RequestUri": uri}
        if body is not None:
            request["RequestBody"] = base64.b64encode(json.dumps(body).encode()).decode()
        return self.call("/AuthZPlugin.AuthZReq", request)


def serve(tmp_path: Path, url: str, **settings: Any) -> Iterator[Served]:
    decisions = DaemonDecisions(url, TOKEN, host="build-01", timeout=1.0, cache_seconds=5.0)
    plugin = AuthorizationPlugin(
        decisions, PluginSettings(**settings), image_names=lambda _socket, _image: None
    )
    path = tmp_path / "plugin.sock"
    server = UnixPluginHTTPServer(str(path), plugin)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(path, plugin)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def plugin(tmp_path: Path, api: FakeAPI) -> Iterator[Served]:
    yield from serve(tmp_path, api.url)


def pull(image: str) -> str:
    return f"/v1.41/images/create?fromImage={image}&tag=latest"


def test_activation_and_responses(plugin: Served, api: FakeAPI) -> None:
    assert plugin.call("/Plugin.Activate", {}) == {"Implements": ["authz"]}
    assert plugin.call("/AuthZPlugin.AuthZRes", {"RequestMethod": "GET"}) == {"Allow": True}
    assert plugin.socket_path.stat().st_mode & 0o777 == 0o600
    assert api.calls == []


def test_calls_without_an_image_are_allowed_without_asking(plugin: Served, api: FakeAPI) -> None:
    for method, uri in (
        ("GET", "/v1.41/containers/json"),
        ("GET", "/_ping"),
        ("POST", "/v1.41/build"),
    ):
        assert plugin.authz(method, uri) == {"Allow": True}
    assert api.calls == []


def test_denied_pull_carries_the_reason_and_the_request_names_the_daemon(
    plugin: Served, api: FakeAPI
) -> None:
    assert plugin.authz("POST", pull("someuser/x")) == {"Allow": False, "Msg": DENIAL}
    assert plugin.authz("POST", pull("nginx")) == {"Allow": True}
    body = api.calls[0]["body"]
    assert body == {
        "images": ["docker.io/someuser/x:latest"],
        "enforcer": "daemon",
        "host": "build-01",
    }
    assert api.calls[0]["headers"]["Authorization"] == f"Bearer {TOKEN}"


def test_answers_are_kept_per_image(plugin: Served, api: FakeAPI) -> None:
    for _ in range(5):
        assert plugin.authz("POST", pull("nginx")) == {"Allow": True}
        run = plugin.authz(
            "POST", "/v1.41/containers/create", {"Image": "docker.io/library/nginx:latest"}
        )
        assert run == {"Allow": True}
    assert len(api.calls) == 1


def test_a_newer_policy_version_drops_what_was_kept(plugin: Served, api: FakeAPI) -> None:
    plugin.authz("POST", pull("nginx"))
    api.version = 3
    plugin.authz("POST", pull("redis"))  # a miss that brings the new version
    plugin.authz("POST", pull("nginx"))
    assert [call["body"]["images"] for call in api.calls] == [
        ["docker.io/library/nginx:latest"],
        ["docker.io/library/redis:latest"],
        ["docker.io/library/nginx:latest"],
    ]


def test_concurrent_pulls_are_one_request(plugin: Served, api: FakeAPI) -> None:
    api.delay = 0.05
    images = [f"svc{i}" for i in range(30)]
    answers: dict[str, Any] = {}
    threads = [
        threading.Thread(target=lambda i=i: answers.__setitem__(i, plugin.authz("POST", pull(i))))
        for i in images
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(answer == {"Allow": True} for answer in answers.values())
    assert len(answers) == 30
    assert len(api.calls) <= 3, [len(call["body"]["images"]) for call in api.calls]


def test_unreachable_server_fails_closed_for_images_only(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for served in serve(tmp_path, f"http://127.0.0.1:{port}"):
        assert served.authz("GET", "/v1.41/containers/json") == {"Allow": True}
        answer = served.authz("POST", pull("nginx"))
        assert answer == {
            "Allow": False,
            "Msg": f"image access could not be checked: cannot reach http://127.0.0.1:{port}: "
            "connection refused",
        }


def test_refused_token_fails_closed_and_says_so(plugin: Served, api: FakeAPI) -> None:
    api.status = 401
    answer = plugin.authz("POST", pull("nginx"))
    assert answer["Allow"] is False
    assert answer["Msg"] == (
        f"image access could not be checked: {api.url} refused the token "
        "(invalid username or access token): check IMAGEACCESS_TOKEN on this machine"
    )
    api.status = 200
    assert plugin.authz("POST", pull("nginx")) == {"Allow": True}  # failures are not kept


def test_a_server_that_hangs_is_bounded(plugin: Served, api: FakeAPI) -> None:
    api.delay = 3
    started = time.monotonic()
    answer = plugin.authz("POST", pull("nginx"))
    assert time.monotonic() - started < 2.5
    assert answer["Allow"] is False
    assert "no answer within 1 s" in answer["Msg"]


def test_load_and_import_follow_the_organization(tmp_path: Path, api: FakeAPI) -> None:
    for served in serve(tmp_path, api.url):
        assert served.authz("POST", "/v1.41/images/load") == {"Allow": True}
    assert api.calls[-1]["body"] == {"action": "load", "enforcer": "daemon", "host": "build-01"}
    api.block_load = True
    for served in serve(tmp_path, api.url):
        load = served.authz("POST", "/v1.41/images/load")
        assert load == {"Allow": False, "Msg": LOAD_DENIAL}
        imported = served.authz("POST", "/v1.41/images/create?fromSrc=-")
        assert imported == {"Allow": False, "Msg": LOAD_DENIAL}


def test_an_image_run_by_id_is_refused_when_it_cannot_be_looked_up(plugin: Served) -> None:
    answer = plugin.authz("POST", "/v1.41/containers/create", {"Image": "sha256:" + "a" * 64})
    assert answer["Allow"] is False
    assert "cannot tell which image" in answer["Msg"]


def test_django_is_not_imported() -> None:
    code = (
        "import json, sys\n"
        "from policies.enforcers.cli import main\n"
        "import policies.enforcers.daemon_plugin.plugin_server\n"
        "try:\n"
        "    main(['authz', 'serve', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('django', 'rest_framework'))))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(BASE_DIR), "PATH": "/usr/bin:/bin"},
        timeout=60,
        check=False,
    )
    assert json.loads(completed.stdout.strip().splitlines()[-1]) == [], completed.stderr


def test_expired_answers_are_dropped_when_many_are_kept(api: FakeAPI) -> None:
    now = [0.0]
    decisions = DaemonDecisions(
        api.url, TOKEN, cache_seconds=1.0, batch_window=0, clock=lambda: now[0]
    )
    with mock.patch.object(daemon_decisions, "MAX_CACHED", 3):
        decisions.decide([f"img{i}" for i in range(5)])
        now[0] = 2.0
        decisions.decide(["fresh"])
    assert set(decisions._cache) == {"fresh"}
