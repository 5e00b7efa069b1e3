"""The Docker daemon authorization plugin with the real dockerd, docker CLI and containerd.

A private ``dockerd`` (Debian ``docker.io`` 20.10, ``--bridge=none``) loads
``imageaccess authz serve`` (a real process, installed with ``imageaccess authz install``)
as its authorization plugin and uses a plain registry on 127.0.0.1 holding ``library/nginx``
and the community image ``someuser/custom-image`` as its Docker Hub mirror. The plugin asks
the served app with a member's (mike's) or the owner's (olivia's) personal access token.

Nothing reaches beyond loopback: spellings of Docker Hub that dockerd would fetch from a real
Docker Hub host (``registry-1.docker.io``, ``registry.hub.docker.com``, ``docker.io:443``) are
only pulled where the plugin must refuse them before dockerd makes any network call.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import harness
from tests.e2e.conftest import RegistryStack
from tests.e2e.served_app import ServedApp

pytestmark = pytest.mark.e2e

COMMUNITY_DENIAL = "image access denied: community images not allowed"
SPEC_DIR = Path("/etc/docker/plugins")
IMAGEACCESS = str(Path(sys.executable).parent / "imageaccess")
COMMUNITY = "someuser/custom-image"
DIGEST = "sha256:" + "0123456789abcdef" * 4


@dataclass
class Plugin:
    """A running ``imageaccess authz serve`` and how dockerd knows it."""

    name: str
    socket_path: Path
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    def denial(self, message: str) -> str:
        """What the docker CLI prints for a denial by this plugin."""
        return f"Error response from daemon: authorization denied by plugin {self.name}: {message}"

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""


def _activate(socket_path: Path) -> bool:
    request = b"POST /Plugin.Activate HTTP/1.1\r\nHost: plugin\r\nContent-Length: 0\r\n\r\n"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2)
            sock.connect(str(socket_path))
            sock.sendall(request)
            return b'"authz"' in sock.recv(4096)
    except OSError:
        return False


def start_plugin(plugin: Plugin, *, url: str, token: str, docker_socket: Path) -> None:
    """Start ``imageaccess authz serve`` on the plugin's socket; return once it answers."""
    assert plugin.log_path is not None
    stop_plugin(plugin)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IMAGEACCESS_", "DJANGO_"))}
    env.update({"IMAGEACCESS_URL": url, "IMAGEACCESS_TOKEN": token, "PYTHONUNBUFFERED": "1"})
    argv = [IMAGEACCESS, "authz", "serve", "--socket", str(plugin.socket_path)]
    argv += ["--docker-host", f"unix://{docker_socket}", "--cache-seconds", "1", "--verbose"]
    with plugin.log_path.open("ab") as log:
        plugin.process = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    deadline = time.monotonic() + 20
    while not _activate(plugin.socket_path):
        if plugin.process.poll() is not None or time.monotonic() > deadline:
            stop_plugin(plugin)
            raise RuntimeError(f"the plugin did not start:\n{plugin.logs()}")
        time.sleep(0.05)


def stop_plugin(plugin: Plugin) -> None:
    if plugin.process is not None:
        harness.stop_process(plugin.process)
        plugin.process = None


@dataclass
class Machine:
    """A dockerd guarded by the plugin, the app and the registry it pulls from."""

    docker: harness.DockerDaemon
    plugin: Plugin
    app: ServedApp
    stack: RegistryStack
    api_socket: Path
    acting_for: tuple[str, str] = ("", "")

    def plugin_as(self, username: str, url: str | None = None) -> None:
        """(Re)start the plugin with ``username``'s token, asking ``url`` (default: the app)."""
        wanted = (username, url or self.app.base_url)
        running = self.plugin.process is not None and self.plugin.process.poll() is None
        if running and self.acting_for == wanted:
            return
        start_plugin(
            self.plugin,
            url=wanted[1],
            token=self.app.token(username),
            docker_socket=self.api_socket,
        )
        self.acting_for = wanted


@pytest.fixture(scope="module")
def machine(
    served_app: ServedApp, registry_stack: RegistryStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Machine]:
    harness.require_program("dockerd")
    if os.geteuid() != 0:
        harness.unavailable("dockerd needs root (and /etc/docker/plugins for the plugin's spec)")
    # Short: unix socket paths end at 108 characters.
    workdir = Path(tempfile.mkdtemp(prefix="iaz-"))
    name = f"imageaccess-e2e-{secrets.token_hex(4)}"
    plugin = Plugin(name, workdir / "plugin.sock", log_path=workdir / "plugin.log")
    api_socket = workdir / "docker.sock"
    install = harness.run_command(
        [
            IMAGEACCESS,
            "authz",
            "install",
            "--name",
            name,
            "--socket",
            str(plugin.socket_path),
            "--spec-dir",
            str(SPEC_DIR),
        ]
    )
    spec = SPEC_DIR / f"{name}.spec"
    try:
        assert install.ok, str(install)
        assert f'"authorization-plugins": ["{name}"]' in install.output, str(install)
        assert spec.read_text() == f"unix://{plugin.socket_path}\n"
        upstream = registry_stack.upstream
        start_plugin(
            plugin,
            url=served_app.base_url,
            token=served_app.token("mike"),
            docker_socket=api_socket,
        )
        with harness.start_dockerd(
            registry_mirror=upstream.url,
            insecure_registries=[upstream.host],
            # A second API socket at a path known before dockerd starts, for the plugin.
            extra_args=[f"--authorization-plugin={name}", f"--host=unix://{api_socket}"],
        ) as docker:
            machine = Machine(docker, plugin, served_app, registry_stack, api_socket)
            machine.acting_for = ("mike", served_app.base_url)
            yield machine
    finally:
        stop_plugin(plugin)
        spec.unlink(missing_ok=True)
        subprocess.run(["rm", "-rf", str(workdir)], check=False, timeout=60)


@pytest.fixture
def host(machine: Machine) -> Machine:
    """The machine with no images, the plugin acting for mike, acme's community images off."""
    machine.app.patch_policy(
        enabled=True,
        allow_official=True,
        allow_verified_publisher=True,
        allow_community=False,
        audit_mode=False,
    )
    machine.plugin_as("mike")
    machine.docker.docker("container", "prune", "--force", timeout=60)
    machine.docker.docker("image", "prune", "--all", "--force", timeout=60)
    return machine


def daemon_events(app: ServedApp, after_id: int) -> list[dict[str, Any]]:
    code = (
        "import io, json\n"
        "from django.core.management import call_command\n"
        "from policies.models import DecisionEvent\n"
        "call_command('drain_events', stdout=io.StringIO())\n"
        f"rows = DecisionEvent.objects.filter(enforcer='daemon', id__gt={int(after_id)})\n"
        "print(json.dumps(list(rows.order_by('id').values("
        "'username', 'image', 'repository', 'allowed', 'reason', 'client_host', 'user_agent'))))\n"
    )
    return list(app.shell_json(code))


# --------------------------------------------------------------------------------------------
# docker pull


COMMUNITY_SPELLINGS = [
    COMMUNITY,
    f"{COMMUNITY}:latest",
    f"{COMMUNITY}@{DIGEST}",
    f"docker.io/{COMMUNITY}",
    f"docker.io/{COMMUNITY}:latest",
    f"index.docker.io/{COMMUNITY}",
    f"index.docker.io/{COMMUNITY}@{DIGEST}",
    # Each of these would make dockerd fetch from that host itself, past any mirror: the
    # plugin refuses them before dockerd makes a network call.
    f"registry-1.docker.io/{COMMUNITY}",
    f"registry.hub.docker.com/{COMMUNITY}:latest",
    f"Registry-1.Docker.IO/{COMMUNITY}",
    f"INDEX.DOCKER.IO/{COMMUNITY}",
    f"docker.io:443/{COMMUNITY}",
    f"REGISTRY.HUB.DOCKER.COM:443/{COMMUNITY}@{DIGEST}",
]


def test_denied_pull_for_every_docker_hub_spelling(host: Machine) -> None:
    before = host.app.last_event_id()
    for spelling in COMMUNITY_SPELLINGS:
        result = host.docker.docker("pull", spelling, timeout=60)
        assert result.returncode != 0, str(result)
        assert host.plugin.denial(COMMUNITY_DENIAL) in result.output, str(result)
    images = host.docker.docker("images", "--format", "{{.Repository}}")
    assert COMMUNITY not in images.output, str(images)
    events = daemon_events(host.app, before)
    assert {(e["username"], e["repository"], e["allowed"]) for e in events} == {
        ("mike", COMMUNITY, False)
    }, events
    assert {e["client_host"] for e in events} == {socket.gethostname()}
    assert all(e["user_agent"].startswith("imageaccess-authz/") for e in events), events


def test_allowed_pull_and_the_owner_pulls_everything(host: Machine) -> None:
    pulled = host.docker.docker("pull", "nginx")
    assert pulled.returncode == 0, f"{pulled}\n{host.plugin.logs()[-2000:]}"
    assert "docker.io/library/nginx:latest" in pulled.output, str(pulled)

    host.plugin_as("olivia")
    for spelling in (COMMUNITY, f"docker.io/{COMMUNITY}:latest", f"index.docker.io/{COMMUNITY}"):
        owner = host.docker.docker("pull", spelling)
        assert owner.returncode == 0, str(owner)
    host.plugin_as("mike")
    denied = host.docker.docker("pull", COMMUNITY)
    assert host.plugin.denial(COMMUNITY_DENIAL) in denied.output, str(denied)


# --------------------------------------------------------------------------------------------
# docker run


def test_an_image_pulled_before_the_policy_changed_does_not_run_after(host: Machine) -> None:
    host.app.patch_policy(allow_community=True)
    pulled = host.docker.docker("pull", COMMUNITY)
    assert pulled.returncode == 0, str(pulled)
    created = host.docker.docker("create", "--network", "none", COMMUNITY)
    assert created.returncode == 0, str(created)
    image_id = host.docker.docker("images", "-q", COMMUNITY).output.strip()
    assert image_id, "no image id"
    tagged = host.docker.docker("tag", COMMUNITY, "nginx:mine")
    assert tagged.returncode == 0, str(tagged)

    host.app.patch_policy(allow_community=False)
    time.sleep(1.2)  # the plugin keeps an answer --cache-seconds (1 s here)
    for image in (COMMUNITY, f"docker.io/{COMMUNITY}:latest", image_id, "nginx:mine"):
        run = host.docker.docker("run", "--rm", "--network", "none", image, timeout=60)
        assert run.returncode != 0, str(run)
        assert host.plugin.denial(COMMUNITY_DENIAL) in run.output, f"{image}: {run}"


def test_calls_without_an_image_keep_working_and_pulls_fail_closed_when_the_server_is_down(
    host: Machine,
) -> None:
    with host.app.another_server() as server:
        host.plugin_as("mike", url=server.base_url)
        pulled = host.docker.docker("pull", "nginx")
        assert pulled.returncode == 0, str(pulled)
        harness.stop_process(server.process)
        time.sleep(1.2)  # past the plugin's cache
        for args in (("ps",), ("version",), ("images",), ("info",)):
            started = time.monotonic()
            result = host.docker.docker(*args, timeout=30)
            assert result.returncode == 0, str(result)
            assert time.monotonic() - started < 5, str(result)
        for image in ("nginx", COMMUNITY):
            denied = host.docker.docker("pull", image, timeout=60)
            assert denied.returncode != 0, str(denied)
            expected = host.plugin.denial(
                f"image access could not be checked: cannot reach {server.base_url}: "
                "connection refused"
            )
            assert expected in denied.output, str(denied)
        run = host.docker.docker("run", "--rm", "--network", "none", "nginx", timeout=60)
        assert "image access could not be checked" in run.output, str(run)


def test_docker_load_and_import_follow_the_organization_setting(
    host: Machine, tmp_path: Path
) -> None:
    pulled = host.docker.docker("pull", "nginx")
    assert pulled.returncode == 0, str(pulled)
    archive = tmp_path / "nginx.tar"
    saved = host.docker.docker("save", "-o", str(archive), "nginx")
    assert saved.returncode == 0, str(saved)

    loaded = host.docker.docker("load", "-i", str(archive))
    assert loaded.returncode == 0, str(loaded)  # off by default

    host.app.patch_policy(block_image_load=True)
    try:
        time.sleep(1.2)  # past the plugin's cache
        denial = host.plugin.denial(
            "image access denied: docker load and docker import are not allowed by acme"
        )
        refused = host.docker.docker("load", "-i", str(archive))
        assert refused.returncode != 0, str(refused)
        assert denial in refused.output, str(refused)
        imported = host.docker.docker("import", str(archive), "imported:1")
        assert imported.returncode != 0, str(imported)
        assert denial in imported.output, str(imported)
    finally:
        host.app.patch_policy(block_image_load=False)


# --------------------------------------------------------------------------------------------
# registry access


def test_a_registry_outside_the_allowlist_is_refused_for_the_owner_too(host: Machine) -> None:
    """The plugin sees the registry of every pull: a local registry not listed is refused."""
    registry = host.stack.upstream.host  # 127.0.0.1:PORT, an insecure registry of this dockerd
    owner = host.app.token("olivia")
    url = "/api/v1/orgs/acme/registry-access"

    def allow(*hosts: str) -> None:
        answer = host.app.request(
            "PATCH", url, token=owner, body={"enabled": True, "registries": list(hosts)}
        )
        assert answer.status == 200, answer.body
        host.app.wait_for_propagation()

    host.plugin_as("olivia")
    try:
        allow("docker.io")
        refused = host.docker.docker("pull", f"{registry}/library/nginx", timeout=60)
        assert refused.returncode != 0, str(refused)
        denial = f"registry access to {registry} is not allowed"
        assert host.plugin.denial(denial) in refused.output, str(refused)
        assert host.docker.docker("pull", "nginx").returncode == 0  # Docker Hub is listed
        time.sleep(11)  # past the plugin's decision cache
        allow("docker.io", registry)
        pulled = host.docker.docker("pull", f"{registry}/library/nginx", timeout=60)
        assert pulled.returncode == 0, f"{pulled}\n{host.plugin.logs()[-2000:]}"
    finally:
        host.app.request("PATCH", url, token=owner, body={"enabled": False})
        host.app.wait_for_propagation()
        host.plugin_as("mike")
