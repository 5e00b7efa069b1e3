"""What the Docker daemon plugin adds to each docker call.

Starts ``imageaccess authz serve`` (a real process, on a unix socket) against a stand-in
decision API on 127.0.0.1 that answers at once, then measures (median and p99 of N calls,
one connection kept alive, as dockerd does):

* ``AuthZReq`` + ``AuthZRes`` for a call that involves no image (``GET /containers/json``):
  answered locally, what every ``docker ps`` pays;
* the same pair for a pull whose decision is cached (``POST /images/create``);
* the same for a pull that misses the cache (one request to the stand-in API; a real server
  adds its own decision time, about 0.2 ms warm: docs/benchmarks.md).

With root and dockerd (``--dockerd``), it also times ``GET /version`` through a private dockerd
with and without the plugin: the whole cost seen by a client.

Run: ``.venv/bin/python bench/bench_authz.py [--calls N] [--dockerd]``
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
IMAGEACCESS = str(Path(sys.executable).parent / "imageaccess")


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=10)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self._path)


def fake_api() -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            decisions = [
                {"image": i, "allowed": True, "reason": "ok", "org": "acme", "policy_version": 1}
                for i in body["images"]
            ]
            data = json.dumps({"decisions": decisions}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def authz_pair(connection: http.client.HTTPConnection, method: str, uri: str) -> None:
    request = {"RequestMethod": method, "RequestUri": uri, "RequestBody": None}
    for path in ("/AuthZPlugin.AuthZReq", "/AuthZPlugin.AuthZRes"):
        connection.request("POST", path, body=json.dumps(request).encode())
        answer = json.loads(connection.getresponse().read())
        if not answer.get("Allow"):
            raise RuntimeError(f"denied: {answer}")


def timed(calls: int, action: Callable[[int], None]) -> tuple[float, float]:
    samples = []
    for i in range(calls):
        started = time.perf_counter()
        action(i)
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def report(label: str, figures: tuple[float, float]) -> None:
    print(f"{label:<58} median {figures[0]:7.3f} ms   p99 {figures[1]:7.3f} ms")


def plugin_figures(calls: int, socket_path: str) -> None:
    connection = _UnixConnection(socket_path)
    authz_pair(connection, "GET", "/v1.41/version")  # warm up the connection
    pull = "/v1.41/images/create?fromImage=docker.io%2Flibrary%2Fnginx&tag=latest"
    authz_pair(connection, "POST", pull)
    report(
        "plugin: a call without an image (AuthZReq + AuthZRes)",
        timed(calls, lambda _i: authz_pair(connection, "POST", "/v1.41/containers/json")),
    )
    report(
        "plugin: a pull, decision cached (AuthZReq + AuthZRes)",
        timed(calls, lambda _i: authz_pair(connection, "POST", pull)),
    )
    report(
        "plugin: a pull, cache missed (one request to the API)",
        timed(
            calls,
            lambda i: authz_pair(
                connection, "POST", f"/v1.41/images/create?fromImage=bench{i}&tag=latest"
            ),
        ),
    )


def dockerd_figures(calls: int, socket_path: Path, plugin_name: str) -> None:
    from tests.e2e import harness

    def version_calls(daemon: harness.DockerDaemon) -> tuple[float, float]:
        connection = _UnixConnection(str(daemon.socket_path))

        def call(_i: int) -> None:
            connection.request("GET", "/v1.41/version")
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"GET /version: {response.status}")

        call(0)
        return timed(calls, call)

    with harness.start_dockerd() as plain:
        report("dockerd: GET /version without the plugin", version_calls(plain))
    with harness.start_dockerd(extra_args=[f"--authorization-plugin={plugin_name}"]) as guarded:
        report("dockerd: GET /version with the plugin", version_calls(guarded))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--dockerd", action="store_true", help="also time a private dockerd")
    args = parser.parse_args()
    api, url = fake_api()
    workdir = Path(tempfile.mkdtemp(prefix="iab-"))
    socket_path = workdir / "plugin.sock"
    env = {**os.environ, "IMAGEACCESS_URL": url, "IMAGEACCESS_TOKEN": "dckr_pat_" + "b" * 27}
    plugin = subprocess.Popen(
        [IMAGEACCESS, "authz", "serve", "--socket", str(socket_path), "--docker-host", "none"],
        env=env,
        start_new_session=True,
    )
    spec = Path("/etc/docker/plugins") / f"imageaccess-bench-{os.getpid()}.spec"
    try:
        deadline = time.monotonic() + 20
        while not socket_path.exists():
            if time.monotonic() > deadline or plugin.poll() is not None:
                raise RuntimeError("the plugin did not start")
            time.sleep(0.05)
        plugin_figures(args.calls, str(socket_path))
        if args.dockerd:
            spec.parent.mkdir(parents=True, exist_ok=True)
            spec.write_text(f"unix://{socket_path}\n")
            dockerd_figures(args.calls, socket_path, spec.stem)
    finally:
        spec.unlink(missing_ok=True)
        plugin.terminate()
        plugin.wait(timeout=10)
        api.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
