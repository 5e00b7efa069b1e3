"""The authorization plugin protocol over HTTP on a unix socket (or TCP), one thread per call.

dockerd activates the plugin (``POST /Plugin.Activate`` -> ``{"Implements": ["authz"]}``),
then sends ``POST /AuthZPlugin.AuthZReq`` before and ``POST /AuthZPlugin.AuthZRes`` after every
API call, answered ``{"Allow": bool, "Msg": str}``. A call that involves no image is allowed
at once, here, without a word to the server: dockerd makes every docker command wait for the
plugin, and stalls for about 32 s when it does not answer.

``docker run IMAGE_ID`` and a local ``docker tag`` could otherwise start a denied image under a
name the policy allows: before a container is created, the image is looked up in dockerd
itself (``GET /images/NAME/json``, when the plugin knows dockerd's socket) and every name it
carries is decided too; one denial refuses the container.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import socket
import socketserver
import stat
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from policies.enforcers.daemon_plugin.daemon_decisions import DaemonDecisions, Verdict
from policies.enforcers.daemon_plugin.docker_api_calls import (
    GovernedCall,
    governed_call,
    is_image_id,
)

log = logging.getLogger("imageaccess.authz")

PLUGIN_CONTENT_TYPE = "application/vnd.docker.plugins.v1+json"
MAX_REQUEST_BYTES = 8 * 1024 * 1024  # dockerd passes bodies up to 1 MiB, base64-encoded
LOCAL_LOOKUP_TIMEOUT = 2.0


@dataclass(frozen=True)
class PluginSettings:
    """What the plugin does beyond asking the server."""

    docker_socket: str | None = None  # dockerd's API socket, to look images up by ID


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def local_image_names(docker_socket: str, image: str) -> list[str] | None:
    """The names (``RepoTags``, ``RepoDigests``) dockerd has for ``image``; None if unknown."""
    connection = _UnixConnection(docker_socket, LOCAL_LOOKUP_TIMEOUT)
    try:
        connection.request("GET", f"/images/{urllib.parse.quote(image, safe='')}/json")
        response = connection.getresponse()
        body = response.read(4 * 1024 * 1024)
    except (OSError, http.client.HTTPException) as exc:
        log.warning("cannot look %s up in dockerd at %s: %s", image, docker_socket, exc)
        return None
    finally:
        connection.close()
    if response.status != 200:
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    names: list[str] = []
    for key in ("RepoTags", "RepoDigests"):
        values = data.get(key) if isinstance(data, dict) else None
        names += [v for v in values or [] if isinstance(v, str) and v != "<none>:<none>"]
    return names


class AuthorizationPlugin:
    """Answers the plugin's requests: the protocol without the transport."""

    def __init__(
        self,
        decisions: DaemonDecisions,
        settings: PluginSettings | None = None,
        *,
        image_names: Callable[[str, str], list[str] | None] = local_image_names,
    ) -> None:
        self.decisions = decisions
        self.settings = settings or PluginSettings()
        self._image_names = image_names

    def handle(self, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """``(status, JSON answer)`` for one plugin request."""
        if path == "/Plugin.Activate":
            return 200, {"Implements": ["authz"]}
        if path == "/AuthZPlugin.AuthZRes":
            return 200, {"Allow": True}
        if path != "/AuthZPlugin.AuthZReq":
            return 404, {"Err": f"unknown plugin call {path}"}
        try:
            request = json.loads(body)
        except ValueError:
            request = None
        if not isinstance(request, dict):
            return 200, {"Allow": False, "Msg": "imageaccess: unreadable authorization request"}
        call = governed_call(request)
        if call is None:
            return 200, {"Allow": True}
        allowed, message = self.authorize(call)
        if not allowed:
            log.info("denied %s %s: %s", call.kind, " ".join(call.images), message)
            return 200, {"Allow": False, "Msg": message}
        return 200, {"Allow": True}

    def authorize(self, call: GovernedCall) -> tuple[bool, str]:
        """Whether the call may go ahead, and the message of a denial."""
        if call.problem:
            return False, f"image access could not be checked: {call.problem}"
        if call.kind in ("load", "import"):
            # Whether the organization blocks images loaded from files (off by default).
            verdict = self.decisions.decide_load()
            return verdict.allowed, verdict.message
        images: list[str] | str = list(call.images)
        if call.kind in ("run", "service"):
            images = self._with_local_names(list(call.images))
        if isinstance(images, str):
            return False, images
        if not images:
            return True, ""
        verdicts = self.decisions.decide(images)
        return _combined(images, verdicts)

    def _with_local_names(self, images: list[str]) -> list[str] | str:
        """``images`` and every name dockerd has for them; a message when that cannot be told."""
        socket_path = self.settings.docker_socket
        names: list[str] = []
        for image in images:
            local = self._image_names(socket_path, image) if socket_path else None
            if is_image_id(image):
                if local is None:
                    return f"image access could not be checked: cannot tell which image {image} is"
            else:
                names.append(image)
            names += local or []
        return list(dict.fromkeys(names))


def _combined(images: list[str], verdicts: dict[str, Verdict]) -> tuple[bool, str]:
    for image in images:
        verdict = verdicts[image]
        if not verdict.allowed:
            return False, verdict.message
    return True, ""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # dockerd keeps connections alive
    server: PluginHTTPServer

    def do_POST(self) -> None:
        length = self.headers.get("Content-Length")
        try:
            size = int(length) if length is not None else 0
        except ValueError:
            size = -1
        if not 0 <= size <= MAX_REQUEST_BYTES:
            self._answer(413, {"Err": "request too large"})
            self.close_connection = True
            return
        body = self.rfile.read(size)
        try:
            status, answer = self.server.plugin.handle(self.path, body)
        except Exception:  # a bug must not leave dockerd waiting: refuse this call only
            log.exception("authorization request failed")
            status, answer = 200, {"Allow": False, "Msg": "imageaccess: internal error"}
        self._answer(status, answer)

    def _answer(self, status: int, answer: dict[str, Any]) -> None:
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", PLUGIN_CONTENT_TYPE)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def address_string(self) -> str:
        return "dockerd"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)


class _TCPHandler(_Handler):
    # Headers and body are two writes, which Nagle's algorithm would hold back for the
    # peer's delayed acknowledgement (40 ms). A unix socket has no such thing (nor the option).
    disable_nagle_algorithm = True


class PluginHTTPServer(ThreadingHTTPServer):
    """The plugin on TCP: one thread per connection."""

    daemon_threads = True
    plugin: AuthorizationPlugin

    def __init__(self, address: tuple[str, int], plugin: AuthorizationPlugin) -> None:
        self.plugin = plugin
        super().__init__(address, _TCPHandler)


class UnixPluginHTTPServer(PluginHTTPServer):
    """The plugin on a unix socket (what dockerd finds in ``/run/docker/plugins``)."""

    address_family = socket.AF_UNIX

    def __init__(self, path: str, plugin: AuthorizationPlugin) -> None:
        _remove_stale_socket(path)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.plugin = plugin
        socketserver.TCPServer.__init__(self, path, _Handler)  # type: ignore[arg-type]
        os.chmod(path, 0o600)  # only root (dockerd) may ask

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "localhost", 0

    def server_close(self) -> None:
        super().server_close()
        _remove_stale_socket(str(self.server_address))


def _remove_stale_socket(path: str) -> None:
    try:
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            os.unlink(path)
    except FileNotFoundError:
        pass
