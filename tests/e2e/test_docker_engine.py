"""The real Docker Engine pulling through the token-protected mirror of the served app.

A private ``dockerd`` (Debian ``docker.io`` 20.10: own data root, exec root and socket, vfs,
``--bridge=none --iptables=false``) uses the mirror of ``registry_stack`` as its
``--registry-mirror`` and as an insecure registry; the CLI is ``/usr/bin/docker`` (the client
matching the daemon) with a private ``DOCKER_CONFIG`` holding mike's personal access token.

What the engine does (docs/registry.md, "Docker Engine"):

- ``docker pull nginx`` goes through the mirror with the credentials stored for Docker Hub.
- When the mirror refuses a ``--registry-mirror`` pull, dockerd falls back to Docker Hub itself
  (``registry-1.docker.io``): the denial reaches only the daemon's log, and on a machine that can
  reach Docker Hub the image would simply come from there.
- Pulling by the mirror's own address has no fallback, and the denial reason reaches the user:
  ``Error response from daemon: Head "...": denied: image access denied: ...``. Same for a
  classic build's ``FROM``.
- BuildKit uses the mirror (with the credentials stored for the mirror's host) but hides the
  reason behind ``401 Unauthorized``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e import harness
from tests.e2e.conftest import MIRROR_SERVICE, RegistryStack
from tests.e2e.served_app import ServedApp, run_mirror

pytestmark = pytest.mark.e2e

COMMUNITY_DENIAL = "image access denied: community images not allowed"
GENERIC_FAILURE = "invalid username or access token"
DOCKER_HUB = "https://index.docker.io/v1/"


@pytest.fixture(scope="module")
def dockerd(registry_stack: RegistryStack) -> Iterator[harness.DockerDaemon]:
    """A private dockerd whose Docker Hub mirror is the token-protected mirror."""
    harness.require_program("dockerd")
    if os.geteuid() != 0:
        harness.unavailable("dockerd needs root")
    mirror = registry_stack.mirror
    with harness.start_dockerd(
        registry_mirror=mirror.url, insecure_registries=[mirror.host]
    ) as daemon:
        yield daemon


@pytest.fixture
def docker(dockerd: harness.DockerDaemon, served_app: ServedApp) -> harness.DockerDaemon:
    """The daemon with no images and no stored credentials; acme's policy on."""
    served_app.patch_policy(
        enabled=True,
        allow_official=True,
        allow_verified_publisher=True,
        allow_community=False,
        audit_mode=False,
    )
    dockerd.docker("image", "prune", "--all", "--force", timeout=60)
    (dockerd.config_dir / "config.json").unlink(missing_ok=True)
    return dockerd


def mike(app: ServedApp) -> tuple[str, str]:
    return ("mike", app.token("mike"))


def build(
    docker: harness.DockerDaemon, context: Path, dockerfile: str, *, buildkit: bool, tag: str
) -> harness.CommandResult:
    """``docker build --network=none`` of ``dockerfile`` (text) in ``context``."""
    path = context / f"{tag}.Dockerfile"
    path.write_text(dockerfile)
    return docker.docker(
        "build",
        "--network=none",
        "-f",
        str(path),
        "-t",
        tag,
        str(context),
        timeout=120,
        DOCKER_BUILDKIT="1" if buildkit else "0",
    )


# --------------------------------------------------------------------------------------------
# docker pull


def test_docker_pull_nginx_through_the_registry_mirror(
    docker: harness.DockerDaemon, served_app: ServedApp
) -> None:
    # Credentials stored for Docker Hub, as `docker login` would store them: the daemon hands
    # them to the mirror's realm for `docker pull nginx`.
    docker.write_docker_config({DOCKER_HUB: mike(served_app)})
    before = served_app.last_event_id()
    result = docker.docker("pull", "nginx")
    assert result.returncode == 0, f"{result}\n{docker.logs()[-3000:]}"
    assert "docker.io/library/nginx:latest" in result.output, str(result)
    events = served_app.registry_events(before)
    assert {(e["username"], e["repository"], e["allowed"]) for e in events} == {
        ("mike", "library/nginx", True)
    }, events
    assert all(str(e["user_agent"]).startswith("docker/") for e in events), events


def test_docker_pull_by_hub_name_falls_back_to_docker_hub_and_loses_the_reason(
    docker: harness.DockerDaemon, served_app: ServedApp
) -> None:
    docker.write_docker_config({DOCKER_HUB: mike(served_app)})
    log_before = len(docker.logs())
    result = docker.docker("pull", "someuser/custom-image", timeout=90)
    assert result.returncode != 0, str(result)
    # The mirror refused with our reason, but the daemon then tried Docker Hub itself and
    # reports that attempt's error instead (here: no route to Docker Hub).
    assert COMMUNITY_DENIAL not in result.output, str(result)
    log = docker.logs()[log_before:]
    assert "Attempting next endpoint for pull after error" in log, log[-3000:]
    assert f"denied: {COMMUNITY_DENIAL}" in log, log[-3000:]


def test_docker_login_to_the_mirror_then_pull_by_its_address(
    docker: harness.DockerDaemon, served_app: ServedApp, registry_stack: RegistryStack
) -> None:
    host = registry_stack.mirror.host
    wrong = docker.docker("login", "-u", "mike", "-p", "dckr_pat_wrong-token-wrong-token", host)
    assert wrong.returncode != 0, str(wrong)
    assert GENERIC_FAILURE in wrong.output, str(wrong)

    login = docker.docker("login", "-u", "mike", "-p", served_app.token("mike"), host)
    assert login.returncode == 0, str(login)
    assert "Login Succeeded" in login.output, str(login)

    denied = docker.docker("pull", f"{host}/someuser/custom-image")
    assert denied.returncode != 0, str(denied)
    expected = (
        f'Error response from daemon: Head "http://{host}/v2/someuser/custom-image/manifests/'
        f'latest": denied: {COMMUNITY_DENIAL}'
    )
    assert expected in denied.output, str(denied)

    allowed = docker.docker("pull", f"{host}/library/nginx")
    assert allowed.returncode == 0, str(allowed)
    assert f"{host}/library/nginx:latest" in allowed.output, str(allowed)


# --------------------------------------------------------------------------------------------
# docker build


def test_classic_build_from(
    docker: harness.DockerDaemon,
    served_app: ServedApp,
    registry_stack: RegistryStack,
    tmp_path: Path,
) -> None:
    host = registry_stack.mirror.host
    docker.write_docker_config({DOCKER_HUB: mike(served_app), host: mike(served_app)})

    denied = build(
        docker, tmp_path, f"FROM {host}/someuser/custom-image\n", buildkit=False, tag="ia-denied"
    )
    assert denied.returncode != 0, str(denied)
    # The classic builder prints the daemon's error alone (no "Error response from daemon").
    expected = (
        f'Head "http://{host}/v2/someuser/custom-image/manifests/latest": '
        f"denied: {COMMUNITY_DENIAL}"
    )
    assert expected in denied.output, str(denied)

    by_address = build(
        docker,
        tmp_path,
        f"FROM {host}/library/nginx\nLABEL org.example.test=classic-address\n",
        buildkit=False,
        tag="ia-classic-address",
    )
    assert by_address.returncode == 0, str(by_address)
    assert "Successfully tagged ia-classic-address:latest" in by_address.output

    via_mirror = build(
        docker,
        tmp_path,
        "FROM nginx\nLABEL org.example.test=classic-mirror\n",
        buildkit=False,
        tag="ia-classic-mirror",
    )
    assert via_mirror.returncode == 0, str(via_mirror)
    assert "Successfully tagged ia-classic-mirror:latest" in via_mirror.output


def test_buildkit_build_from(
    docker: harness.DockerDaemon,
    served_app: ServedApp,
    registry_stack: RegistryStack,
    tmp_path: Path,
) -> None:
    host = registry_stack.mirror.host
    # BuildKit looks credentials up under the mirror's host, not Docker Hub's entry.
    docker.write_docker_config({DOCKER_HUB: mike(served_app), host: mike(served_app)})
    before = served_app.last_event_id()

    allowed = build(
        docker,
        tmp_path,
        "FROM nginx\nLABEL org.example.test=buildkit\n",
        buildkit=True,
        tag="ia-buildkit",
    )
    assert allowed.returncode == 0, str(allowed)

    server_log_before = len(served_app.server.logs())
    denied = build(
        docker, tmp_path, f"FROM {host}/someuser/custom-image\n", buildkit=True, tag="ia-bk-denied"
    )
    assert denied.returncode != 0, str(denied)
    # BuildKit hides the reason behind a generic 401 ...
    assert "401 Unauthorized" in denied.output, str(denied)
    # ... after retrying the denied GET as the OAuth2 password grant POST, which the view
    # decides too.
    # gunicorn writes the access log line just after sending the response: allow a moment.
    deadline = time.monotonic() + 5
    server_log = served_app.server.logs()[server_log_before:]
    while '"POST /v2/token HTTP/1.1" 401' not in server_log and time.monotonic() < deadline:
        time.sleep(0.1)
        server_log = served_app.server.logs()[server_log_before:]
    assert '"POST /v2/token HTTP/1.1" 401' in server_log, server_log[-3000:]

    events = served_app.registry_events(before)
    assert ("mike", "library/nginx", True) in {
        (e["username"], e["repository"], e["allowed"]) for e in events
    }, events
    denials = [e for e in events if not e["allowed"]]
    assert denials, events
    assert {(e["username"], e["repository"], e["reason"]) for e in denials} == {
        ("mike", "someuser/custom-image", COMMUNITY_DENIAL)
    }
    assert all(str(e["user_agent"]).startswith("containerd/") for e in events), events


# --------------------------------------------------------------------------------------------
# IMAGEACCESS_REGISTRY_DENIAL=empty_grant


def test_empty_grant_denial_mode_as_docker_shows_it(
    docker: harness.DockerDaemon,
    served_app: ServedApp,
    registry_stack: RegistryStack,
    tmp_path: Path,
) -> None:
    """With the empty grant, every client shows the registry's generic refusal instead."""
    with (
        served_app.another_server(IMAGEACCESS_REGISTRY_DENIAL="empty_grant") as server,
        run_mirror(
            served_app,
            registry_stack.upstream,
            tmp_path / "empty-grant-mirror",
            realm=server.token_url,
            service=MIRROR_SERVICE,
        ) as (mirror, _),
    ):
        # 127.0.0.0/8 is an insecure registry by default: no daemon restart needed.
        docker.write_docker_config({mirror.host: mike(served_app)})
        generic = "denied: requested access to the resource is denied"

        pulled = docker.docker("pull", f"{mirror.host}/someuser/custom-image")
        assert pulled.returncode != 0, str(pulled)
        assert f"Error response from daemon: pull access denied for {mirror.host}/" in (
            pulled.output
        ), str(pulled)
        assert generic in pulled.output, str(pulled)

        dockerfile = f"FROM {mirror.host}/someuser/custom-image\n"
        classic = build(docker, tmp_path, dockerfile, buildkit=False, tag="ia-eg-classic")
        assert classic.returncode != 0, str(classic)
        assert generic in classic.output, str(classic)

        buildkit = build(docker, tmp_path, dockerfile, buildkit=True, tag="ia-eg-buildkit")
        assert buildkit.returncode != 0, str(buildkit)
        assert "insufficient_scope: authorization failed" in buildkit.output, str(buildkit)
        for result in (pulled, classic, buildkit):
            assert COMMUNITY_DENIAL not in result.output, str(result)
