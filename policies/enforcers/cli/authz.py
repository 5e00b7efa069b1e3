"""``imageaccess authz``: the Docker Engine authorization plugin of one machine.

Usage::

    IMAGEACCESS_URL=https://ia.example.com IMAGEACCESS_TOKEN=dckr_pat_... \\
        imageaccess authz serve [--socket PATH | --listen HOST:PORT]
    imageaccess authz install [--socket PATH | --listen HOST:PORT] [--spec-dir DIR]

``serve`` answers dockerd's authorization requests: pulls, container creation, plugin pulls
(and ``docker load``/``import``, which an organization may block) are decided by the server for the
person whose personal access token the machine holds (``IMAGEACCESS_TOKEN``, or a file named
by ``IMAGEACCESS_TOKEN_FILE``); ``IMAGEACCESS_ORGS`` (comma-separated) names the
organizations that decide, like Docker's ``allowedOrgs``. Every other call is allowed at once.

``install`` writes the spec file dockerd finds the plugin by and prints the ``daemon.json``
line that turns it on. See docs/daemon.md. No Django.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from policies.enforcers.daemon_plugin.daemon_decisions import DaemonDecisions
from policies.enforcers.daemon_plugin.plugin_server import (
    AuthorizationPlugin,
    PluginHTTPServer,
    PluginSettings,
    UnixPluginHTTPServer,
)

PLUGIN_NAME = "imageaccess"
DEFAULT_SOCKET = "/run/docker/plugins/imageaccess.sock"
DEFAULT_SPEC_DIR = "/etc/docker/plugins"
DEFAULT_DOCKER_SOCKET = "/var/run/docker.sock"
URL_ENV = "IMAGEACCESS_URL"
TOKEN_ENV = "IMAGEACCESS_TOKEN"
TOKEN_FILE_ENV = "IMAGEACCESS_TOKEN_FILE"
ORGS_ENV = "IMAGEACCESS_ORGS"
_SLUG = re.compile(r"[-a-zA-Z0-9_]{1,64}")
_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")

log = logging.getLogger("imageaccess.authz")


class ConfigError(Exception):
    """A setting that stops the plugin from starting (exit status 2)."""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``authz serve`` and ``authz install`` on the top-level dispatcher."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "authz",
        help="the Docker Engine authorization plugin (serve, install)",
        description="Ask the imageaccess server before dockerd pulls or runs an image.",
    )
    commands = parser.add_subparsers(dest="authz_command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="serve the plugin to dockerd",
        description=f"Serve the authorization plugin. Server from {URL_ENV}, personal access "
        f"token from {TOKEN_ENV} (or the file named by {TOKEN_FILE_ENV}), organizations from "
        f"{ORGS_ENV} (comma-separated, optional).",
    )
    _add_address(serve)
    serve.add_argument("--url", help=f"the imageaccess server (default: ${URL_ENV})")
    serve.add_argument(
        "--timeout",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="bound of every call to the server; past it the image is refused (default: 5)",
    )
    serve.add_argument(
        "--cache-seconds",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="how long a decision is kept for the same image (default: 10; 0: never)",
    )
    serve.add_argument(
        "--docker-host",
        default=DEFAULT_DOCKER_SOCKET,
        metavar="PATH",
        help="dockerd's socket, to look images run by ID up (default: %(default)s; "
        "'none': images run by ID are refused)",
    )
    serve.add_argument("--verbose", "-v", action="store_true", help="log every decision")
    serve.set_defaults(func=run_serve)

    install = commands.add_parser(
        "install",
        help="write the plugin's spec file and print the daemon.json line",
        description="Write NAME.spec so dockerd finds the plugin, then print what to add to "
        "/etc/docker/daemon.json.",
    )
    _add_address(install)
    install.add_argument("--spec-dir", default=DEFAULT_SPEC_DIR, help="default: %(default)s")
    install.add_argument("--name", default=PLUGIN_NAME, help="plugin name (default: %(default)s)")
    install.set_defaults(func=run_install)
    return parser


def _add_address(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--socket", metavar="PATH", help=f"unix socket (default: {DEFAULT_SOCKET})")
    where.add_argument("--listen", metavar="HOST:PORT", help="TCP address instead of a socket")


def _listen_address(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"invalid --listen {value!r}: expected HOST:PORT")
    return host.strip("[]") or "127.0.0.1", int(port)


def _token(environ: Mapping[str, str]) -> str:
    token = environ.get(TOKEN_ENV, "").strip()
    token_file = environ.get(TOKEN_FILE_ENV, "").strip()
    if not token and token_file:
        try:
            token = Path(token_file).read_text().strip()
        except OSError as exc:
            raise ConfigError(
                f"{TOKEN_FILE_ENV}: cannot read {token_file}: {exc.strerror}"
            ) from None
    if not token:
        raise ConfigError(
            f"{TOKEN_ENV} is not set: put the personal access token of this "
            f"machine's user in it (or in a file named by {TOKEN_FILE_ENV})"
        )
    if not token.isascii() or any(ch.isspace() or not ch.isprintable() for ch in token):
        raise ConfigError(f"{TOKEN_ENV} contains spaces or control characters")
    return token


def _orgs(environ: Mapping[str, str]) -> list[str]:
    orgs = [org.strip() for org in environ.get(ORGS_ENV, "").split(",") if org.strip()]
    for org in orgs:
        if not _SLUG.fullmatch(org):
            raise ConfigError(f"{ORGS_ENV}: {org!r} is not an organization slug")
    return list(dict.fromkeys(orgs))


def build_plugin(args: argparse.Namespace, environ: Mapping[str, str]) -> AuthorizationPlugin:
    """The plugin as ``serve`` configures it from ``args`` and the environment."""
    url = (args.url or environ.get(URL_ENV, "")).strip()
    if not url:
        raise ConfigError(f"{URL_ENV} is not set: the imageaccess server, https://HOST")
    if not (args.timeout > 0 and args.cache_seconds >= 0):
        raise ConfigError("--timeout must be above 0 and --cache-seconds 0 or more")
    from policies.enforcers.cli.check import tool_version

    try:
        decisions = DaemonDecisions(
            url,
            _token(environ),
            orgs=_orgs(environ),
            host=_host_name(),
            timeout=args.timeout,
            cache_seconds=args.cache_seconds,
            user_agent=f"imageaccess-authz/{tool_version()}",
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    docker_socket = None if args.docker_host == "none" else args.docker_host
    if docker_socket and docker_socket.startswith("unix://"):
        docker_socket = docker_socket[len("unix://") :]
    return AuthorizationPlugin(decisions, PluginSettings(docker_socket=docker_socket))


def _host_name() -> str:
    """This machine's name as the events record it (a host name, else nothing)."""
    name = socket.gethostname()[:253]
    return name if _NAME.fullmatch(name) else ""


def run_serve(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> int:
    """Serve until SIGTERM or SIGINT; 2 when the configuration is unusable."""
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="imageaccess-authz: %(message)s",
        stream=sys.stderr,
    )
    try:
        plugin = build_plugin(args, os.environ if environ is None else environ)
        server: PluginHTTPServer
        if args.listen:
            server = PluginHTTPServer(_listen_address(args.listen), plugin)
            where = "tcp://{}:{}".format(*server.server_address[:2])
        else:
            path = args.socket or DEFAULT_SOCKET
            server = UnixPluginHTTPServer(path, plugin)
            where = f"unix://{path}"
    except (ConfigError, OSError) as exc:
        print(f"imageaccess authz: {exc}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: _stop(server))
    print(
        f"imageaccess authz: serving on {where}, deciding with {plugin.decisions.server}",
        file=sys.stderr,
        flush=True,
    )
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        plugin.decisions.close()
    return 0


def _stop(server: PluginHTTPServer) -> None:
    # shutdown() waits for serve_forever, which runs in this (the main) thread: raise instead.
    raise KeyboardInterrupt


def spec_address(args: argparse.Namespace) -> str:
    """What the spec file holds: ``unix:///PATH`` or ``tcp://HOST:PORT``."""
    if args.listen:
        host, port = _listen_address(args.listen)
        return f"tcp://{host}:{port}"
    return f"unix://{os.path.abspath(args.socket or DEFAULT_SOCKET)}"


def run_install(args: argparse.Namespace) -> int:
    """Write ``SPEC_DIR/NAME.spec`` and print the ``daemon.json`` line."""
    try:
        if not _NAME.fullmatch(args.name):
            raise ConfigError(f"invalid --name {args.name!r}")
        address = spec_address(args)
        spec = Path(args.spec_dir) / f"{args.name}.spec"
        spec.parent.mkdir(parents=True, exist_ok=True)
        spec.write_text(address + "\n")
    except (ConfigError, OSError) as exc:
        print(f"imageaccess authz install: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {spec} ({address})")
    print("add to /etc/docker/daemon.json, then restart dockerd:")
    print(f'  "authorization-plugins": ["{args.name}"]')
    return 0
