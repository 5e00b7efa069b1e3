"""Helpers that run real registry programs for end-to-end tests.

Everything listens on 127.0.0.1 only, every wait is bounded, and every process started here is
stopped by its own pid (its own process group) when the context manager exits, even on failure.

Programs used: ``docker-registry`` (CNCF distribution 2.8, Debian package ``docker-registry``),
``skopeo`` and, for :func:`start_dockerd`, ``dockerd``/``docker`` (Debian ``docker.io``).
With ``CI=true`` a missing program fails the test; elsewhere the test is skipped with a reason.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NoReturn

import pytest

LOCALHOST = "127.0.0.1"
DEFAULT_START_TIMEOUT = 30.0
DEFAULT_COMMAND_TIMEOUT = 120.0


# --------------------------------------------------------------------------------------------
# Programs and processes


def in_ci() -> bool:
    """True when running under CI (``CI=true``), where missing programs are failures."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_program(name: str) -> str:
    """Return the path of ``name``; fail (CI) or skip (elsewhere) the test if it is missing."""
    path = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.access(p, os.X_OK)), None
    )
    if path:
        return path
    unavailable(f"{name!r} is not installed (Debian package: {_DEBIAN_PACKAGE.get(name, name)})")
    raise AssertionError("unreachable")  # unavailable() always raises


def unavailable(reason: str) -> NoReturn:
    """Something a test needs from outside is missing: fail under CI, skip elsewhere.

    The one place that decides it, so a CI run can never pass by skipping.
    """
    if in_ci():
        pytest.fail(f"{reason}; CI must provide it", pytrace=False)
    pytest.skip(reason)


_DEBIAN_PACKAGE = {
    "docker-registry": "docker-registry",
    "skopeo": "skopeo",
    "dockerd": "docker.io",
    "docker": "docker.io",
    "ctr": "containerd (a dependency of docker.io)",
}


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago.

    Another process could take it before we bind it again; :func:`run_registry` retries on
    that (rare) race.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class CommandResult:
    """Exit code and combined stdout+stderr of a finished command."""

    argv: tuple[str, ...]
    returncode: int
    output: str

    @property
    def ok(self) -> bool:
        """True if the command exited with status 0."""
        return self.returncode == 0

    def __str__(self) -> str:
        return f"$ {' '.join(self.argv)}\n[exit {self.returncode}]\n{self.output}"


def run_command(
    argv: Sequence[str],
    *,
    timeout: float = DEFAULT_COMMAND_TIMEOUT,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
) -> CommandResult:
    """Run ``argv`` with a hard timeout; on timeout its whole process group is killed.

    Returns the exit code (``-9`` after a timeout kill) and combined output; never raises for
    a non-zero exit so tests can assert on error texts.
    """
    proc = subprocess.Popen(
        list(argv),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        start_new_session=True,  # own process group: a timeout kill reaches its children too
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        text = out.decode(errors="replace") + f"\n[killed after {timeout:.0f}s timeout]"
        return CommandResult(tuple(argv), -9, text)
    return CommandResult(tuple(argv), proc.returncode, out.decode(errors="replace"))


def _kill_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def stop_process(proc: subprocess.Popen[bytes], *, timeout: float = 10.0) -> None:
    """Stop a process started with ``start_new_session=True``: SIGTERM, then SIGKILL.

    Signals go to the process group whose id is the child's own pid, so exactly the processes
    we started (and their children) are affected.
    """
    if proc.poll() is None:
        _kill_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc.pid, signal.SIGKILL)
            proc.wait(timeout=timeout)
    # Reap stragglers in the group (e.g. a shim) that outlived the leader.
    _kill_group(proc.pid, signal.SIGKILL)


def http_get(
    url: str, *, headers: Mapping[str, str] | None = None, timeout: float = 10.0
) -> tuple[int, dict[str, str], bytes]:
    """GET ``url`` and return ``(status, headers, body)`` without raising for HTTP errors."""
    request = urllib.request.Request(url, headers=dict(headers or {}))  # noqa: S310 (loopback)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310
            return resp.status, dict(resp.headers.items()), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), exc.read()


def wait_for_http(
    url: str,
    *,
    timeout: float = DEFAULT_START_TIMEOUT,
    proc: subprocess.Popen[bytes] | None = None,
    log_path: Path | None = None,
) -> int:
    """Poll ``url`` until it answers any HTTP status; return that status.

    Fails fast if ``proc`` exits meanwhile, quoting the end of ``log_path``.
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(
                f"process exited with {proc.returncode} before {url} answered:\n{_tail(log_path)}"
            )
        try:
            return http_get(url, timeout=2.0)[0]
        except (OSError, urllib.error.URLError) as exc:
            last_error = exc
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout}s ({last_error}):\n{_tail(log_path)}")


def _tail(path: Path | None, limit: int = 4000) -> str:
    if path is None or not path.exists():
        return ""
    return path.read_text(errors="replace")[-limit:]


def _clean_env(**extra: str) -> dict[str, str]:
    # REGISTRY_* variables override docker-registry's config file; a developer's shell or CI
    # must not change what the tests configure.
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env.update(extra)
    return env


# --------------------------------------------------------------------------------------------
# docker-registry


@dataclass(frozen=True)
class TokenAuth:
    """The registry's ``auth.token`` block (all four keys are required by registry 2.8)."""

    realm: str
    service: str
    issuer: str
    rootcertbundle: Path


@dataclass
class Registry:
    """A running ``docker-registry serve`` process."""

    port: int
    workdir: Path
    config_path: Path
    log_path: Path
    process: subprocess.Popen[bytes]

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``, as used in image references."""
        return f"{LOCALHOST}:{self.port}"

    @property
    def url(self) -> str:
        """Base URL, ``http://127.0.0.1:PORT``."""
        return f"http://{self.host}"

    def logs(self) -> str:
        """Everything the registry has logged so far."""
        return self.log_path.read_text(errors="replace")


def _yaml_str(value: str) -> str:
    # A JSON string is a valid YAML double-quoted scalar: no escaping rules to get wrong.
    return json.dumps(value)


def registry_config_yaml(
    *,
    port: int,
    storage_dir: Path,
    proxy_remoteurl: str | None = None,
    token_auth: TokenAuth | None = None,
    auth_yaml: str | None = None,
) -> str:
    """Return a docker-registry ``config.yml`` listening on 127.0.0.1:``port``.

    ``auth_yaml`` is a top-level ``auth:`` block used verbatim (e.g. what ``manage.py
    registry_config`` prints); it replaces ``token_auth``.
    """
    lines = [
        "version: 0.1",
        "log:",
        "  level: info",
        "  formatter: text",
        "storage:",
        "  filesystem:",
        f"    rootdirectory: {_yaml_str(str(storage_dir))}",
        "  delete:",
        "    enabled: true",
        "http:",
        f"  addr: {_yaml_str(f'{LOCALHOST}:{port}')}",
        f"  secret: {_yaml_str(base64.b64encode(os.urandom(24)).decode())}",
    ]
    if proxy_remoteurl:
        lines += ["proxy:", f"  remoteurl: {_yaml_str(proxy_remoteurl)}"]
    if auth_yaml:
        lines += auth_yaml.strip("\n").splitlines()
    elif token_auth:
        lines += [
            "auth:",
            "  token:",
            f"    realm: {_yaml_str(token_auth.realm)}",
            f"    service: {_yaml_str(token_auth.service)}",
            f"    issuer: {_yaml_str(token_auth.issuer)}",
            f"    rootcertbundle: {_yaml_str(str(token_auth.rootcertbundle))}",
        ]
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def run_registry(
    workdir: str | Path,
    *,
    proxy_remoteurl: str | None = None,
    token_auth: TokenAuth | None = None,
    port: int | None = None,
    timeout: float = DEFAULT_START_TIMEOUT,
    auth_yaml: str | None = None,
) -> Iterator[Registry]:
    """Start ``docker-registry serve`` with storage under ``workdir``; stop it on exit.

    ``proxy_remoteurl`` makes it a pull-through mirror; ``token_auth`` enables ``auth: token``
    (or ``auth_yaml``, an ``auth:`` block put in the config verbatim).
    Waits until ``/v2/`` answers (200 without auth, 401 with token auth).
    """
    binary = require_program("docker-registry")
    root = Path(workdir)
    root.mkdir(parents=True, exist_ok=True)
    attempts = 1 if port is not None else 3  # a chosen free port may be taken meanwhile
    last_error: Exception | None = None
    for attempt in range(attempts):
        chosen = port if port is not None else free_port()
        config_path = root / "config.yml"
        config_path.write_text(
            registry_config_yaml(
                port=chosen,
                storage_dir=root / "storage",
                proxy_remoteurl=proxy_remoteurl,
                token_auth=token_auth,
                auth_yaml=auth_yaml,
            )
        )
        log_path = root / f"registry-{attempt}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [binary, "serve", str(config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=_clean_env(),
                cwd=root,
                start_new_session=True,
            )
        try:
            wait_for_http(
                f"http://{LOCALHOST}:{chosen}/v2/", timeout=timeout, proc=proc, log_path=log_path
            )
        except (RuntimeError, TimeoutError) as exc:
            stop_process(proc)
            last_error = exc
            if "address already in use" in _tail(log_path):
                continue
            raise
        try:
            yield Registry(chosen, root, config_path, log_path, proc)
        finally:
            stop_process(proc)
        return
    raise RuntimeError(f"docker-registry did not start: {last_error}")


# --------------------------------------------------------------------------------------------
# skopeo


def _skopeo_env(workdir: Path) -> dict[str, str]:
    # A private auth file and no inherited credentials: tests pass credentials explicitly.
    return _clean_env(REGISTRY_AUTH_FILE=str(workdir / "skopeo-auth.json"))


def _skopeo_base(workdir: Path) -> list[str]:
    # An explicit accept-anything policy: the host's /etc/containers/policy.json is not ours.
    policy = workdir / "skopeo-policy.json"
    if not policy.exists():
        policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    return [require_program("skopeo"), "--policy", str(policy)]


def push_oci_layout(
    layout_dir: str | Path,
    registry_host: str,
    reference: str = "library/nginx:latest",
    *,
    tag: str = "latest",
    timeout: float = DEFAULT_COMMAND_TIMEOUT,
) -> CommandResult:
    """``skopeo copy oci:DIR:TAG docker://HOST/REFERENCE`` into a plain-HTTP registry."""
    workdir = Path(tempfile.mkdtemp(prefix="skopeo-"))
    try:
        argv = [
            *_skopeo_base(workdir),
            "copy",
            "--dest-tls-verify=false",
            f"oci:{layout_dir}:{tag}",
            f"docker://{registry_host}/{reference}",
        ]
        return run_command(argv, timeout=timeout, env=_skopeo_env(workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def skopeo_copy_to_dir(
    source: str,
    dest_dir: str | Path,
    *,
    src_creds: str | None = None,
    timeout: float = DEFAULT_COMMAND_TIMEOUT,
) -> CommandResult:
    """``skopeo copy docker://SOURCE dir:DEST`` from a plain-HTTP registry.

    ``source`` is ``HOST:PORT/name:tag``; ``src_creds`` is ``user:password`` (sent by skopeo
    to the token realm as Basic auth) or None for an anonymous pull.
    """
    workdir = Path(tempfile.mkdtemp(prefix="skopeo-"))
    try:
        argv = [*_skopeo_base(workdir), "copy", "--src-tls-verify=false"]
        if src_creds is not None:
            argv.append(f"--src-creds={src_creds}")
        argv += [f"docker://{source}", f"dir:{dest_dir}"]
        return run_command(argv, timeout=timeout, env=_skopeo_env(workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Token realm test double


@dataclass(frozen=True)
class RealmRequest:
    """One request received by the realm test double, recorded as it arrived."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    form: dict[str, list[str]]

    @property
    def basic_auth(self) -> tuple[str, str] | None:
        """``(username, password)`` from a Basic ``Authorization`` header, if any."""
        value = next((v for k, v in self.headers.items() if k.lower() == "authorization"), "")
        if not value.lower().startswith("basic "):
            return None
        user, _, password = base64.b64decode(value[6:]).decode().partition(":")
        return user, password

    def values(self, name: str) -> list[str]:
        """A parameter from the query string and (for POST) the form, in that order."""
        return self.query.get(name, []) + self.form.get(name, [])


RealmHandler = Callable[[RealmRequest], tuple[int, Mapping[str, Any]]]


@dataclass
class Realm:
    """A running realm test double; ``requests`` lists everything it received."""

    port: int
    requests: list[RealmRequest] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The realm URL to put in the registry's ``auth.token.realm``."""
        return f"http://{LOCALHOST}:{self.port}/v2/token"


@contextlib.contextmanager
def run_token_realm(handler: RealmHandler) -> Iterator[Realm]:
    """Serve ``/v2/token`` on 127.0.0.1 from a thread, answering with ``handler(request)``.

    A stand-in for the Django token view: ``handler`` returns ``(status, json_body)``. Any
    other path answers 404. The server is shut down and its thread joined on exit.
    """
    realm = Realm(port=0)
    lock = threading.Lock()

    class _Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            parsed = urllib.parse.urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            form = urllib.parse.parse_qs(body.decode(errors="replace")) if body else {}
            request = RealmRequest(
                method=self.command,
                path=parsed.path,
                query=urllib.parse.parse_qs(parsed.query),
                headers=dict(self.headers.items()),
                form=form,
            )
            with lock:
                realm.requests.append(request)
            status: int
            payload: Mapping[str, Any]
            if parsed.path != "/v2/token":
                status, payload = 404, {"errors": [{"code": "NOT_FOUND", "message": "no"}]}
            else:
                try:
                    status, payload = handler(request)
                except Exception as exc:  # a broken test double must not hang the client
                    status, payload = 500, {"errors": [{"code": "ERROR", "message": str(exc)}]}
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status == 401:
                self.send_header("WWW-Authenticate", 'Basic realm="imageaccess"')
            self.end_headers()
            self.wfile.write(data)

        do_GET = _serve
        do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: requests are recorded in realm.requests instead

    server = ThreadingHTTPServer((LOCALHOST, 0), _Handler)
    server.daemon_threads = True
    realm.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, name="token-realm", daemon=True)
    thread.start()
    try:
        yield realm
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# --------------------------------------------------------------------------------------------
# dockerd


@dataclass
class DockerDaemon:
    """A private ``dockerd`` and what a ``docker`` CLI needs to talk to it."""

    base_dir: Path
    socket_path: Path
    config_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def host(self) -> str:
        """The ``DOCKER_HOST`` value, ``unix:///.../docker.sock``."""
        return f"unix://{self.socket_path}"

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for the docker CLI: this daemon, a private ``DOCKER_CONFIG``."""
        env = _clean_env(DOCKER_HOST=self.host, DOCKER_CONFIG=str(self.config_dir))
        env.pop("DOCKER_CONTEXT", None)
        env.update(extra)
        return env

    def docker(
        self, *args: str, timeout: float = DEFAULT_COMMAND_TIMEOUT, **env: str
    ) -> CommandResult:
        """Run the docker CLI against this daemon."""
        return run_command(
            [docker_cli(), *args], timeout=timeout, env=self.env(**env), cwd=self.base_dir
        )

    def logs(self) -> str:
        """Everything dockerd (and its managed containerd) logged so far."""
        return self.log_path.read_text(errors="replace")

    def write_docker_config(self, auths: Mapping[str, tuple[str, str]]) -> Path:
        """Write ``config.json`` with Basic credentials per registry key (e.g. Docker Hub's
        ``https://index.docker.io/v1/``), as ``docker login`` would."""
        path = self.config_dir / "config.json"
        entries = {
            key: {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
            for key, (user, password) in auths.items()
        }
        path.write_text(json.dumps({"auths": entries}))
        path.chmod(0o600)
        return path


def docker_cli() -> str:
    """The docker client to use: the Debian one matching dockerd 20.10 if present."""
    # /usr/local/bin/docker may be a newer static client earlier on PATH; the Debian client
    # has the same API version as the daemon and ships the classic builder's behaviour.
    for candidate in ("/usr/bin/docker",):
        if os.access(candidate, os.X_OK):
            return candidate
    return require_program("docker")


@contextlib.contextmanager
def start_dockerd(
    *,
    registry_mirror: str | None = None,
    insecure_registries: Sequence[str] = (),
    extra_args: Sequence[str] = (),
    timeout: float = 60.0,
) -> Iterator[DockerDaemon]:
    """Start a private root ``dockerd`` (own data/exec root, socket, pidfile); stop and clean up.

    No networking side effects on the host: ``--bridge=none``, no iptables, no userland proxy.
    The vfs storage driver works on any filesystem (no overlay mounts needed). The daemon
    starts its own containerd under the exec root because no system containerd socket is used.
    On exit it gets SIGTERM (then SIGKILL), leftover mounts under its dirs are unmounted and the
    dirs removed.
    """
    dockerd = require_program("dockerd")
    # Short base path: unix socket paths (incl. containerd's under exec-root) max out at 108.
    base = Path(tempfile.mkdtemp(prefix="iad-", dir="/tmp"))
    data_root, exec_root = base / "data", base / "exec"
    socket_path, pidfile = base / "docker.sock", base / "docker.pid"
    config_dir = base / "cli"
    for d in (data_root, exec_root, config_dir):
        d.mkdir(mode=0o700)
    daemon_json = base / "daemon.json"
    # An explicit (empty) config file so /etc/docker/daemon.json on the host cannot interfere.
    daemon_json.write_text("{}")
    argv = [
        dockerd,
        f"--config-file={daemon_json}",
        f"--data-root={data_root}",
        f"--exec-root={exec_root}",
        f"--host=unix://{socket_path}",
        f"--pidfile={pidfile}",
        "--storage-driver=vfs",
        "--bridge=none",
        "--iptables=false",
        "--ip6tables=false",
        "--ip-forward=false",
        "--ip-masq=false",
        "--userland-proxy=false",
    ]
    if registry_mirror:
        argv.append(f"--registry-mirror={registry_mirror}")
    argv += [f"--insecure-registry={r}" for r in insecure_registries]
    argv += list(extra_args)
    log_path = base / "dockerd.log"
    proc: subprocess.Popen[bytes] | None = None
    try:
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=_clean_env(),
                start_new_session=True,
            )
        daemon = DockerDaemon(base, socket_path, config_dir, proc, log_path)
        _wait_for_docker(daemon, timeout)
        yield daemon
    finally:
        if proc is not None:
            # dockerd stops its managed containerd on SIGTERM; give it time before SIGKILL.
            stop_process(proc, timeout=30)
        _unmount_under(base)
        shutil.rmtree(base, ignore_errors=True)
        if base.exists():  # vfs layers can hold read-only or busy files: try harder once
            subprocess.run(["rm", "-rf", str(base)], check=False, timeout=120)


def _wait_for_docker(daemon: DockerDaemon, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if daemon.process.poll() is not None:
            raise RuntimeError(
                f"dockerd exited with {daemon.process.returncode}:\n{_tail(daemon.log_path)}"
            )
        if daemon.socket_path.exists():
            result = daemon.docker("version", "--format", "{{.Server.Version}}", timeout=10)
            if result.ok:
                return
        time.sleep(0.25)
    raise TimeoutError(f"dockerd not ready after {timeout}s:\n{_tail(daemon.log_path)}")


def _unmount_under(base: Path) -> None:
    """Lazily unmount anything dockerd left mounted below ``base`` (deepest first)."""
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return
    prefix = str(base.resolve()) + "/"
    targets = [
        line.split()[1].encode().decode("unicode_escape")
        for line in mounts
        if len(line.split()) > 1 and line.split()[1].startswith(prefix)
    ]
    for target in sorted(targets, key=len, reverse=True):
        subprocess.run(["umount", "-l", target], check=False, timeout=30, capture_output=True)
