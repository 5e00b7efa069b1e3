"""containerd (what Kubernetes nodes run) pulling Docker Hub images through the guarded mirror.

The containerd that ships with Debian's ``docker.io`` (1.6, the one a private ``dockerd``
starts) pulls with ``ctr images pull --hosts-dir DIR``, where ``DIR/docker.io/hosts.toml``
sends every ``docker.io`` pull to the token-guarded mirror, as a node's ``config_path`` would
(docs/daemon.md, "containerd and Kubernetes nodes"). ``server`` is the mirror too: with Docker
Hub there, containerd would try Docker Hub after the mirror's denial. Loopback only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e import harness
from tests.e2e.conftest import RegistryStack
from tests.e2e.served_app import ServedApp

pytestmark = pytest.mark.e2e

COMMUNITY_DENIAL = "image access denied: community images not allowed"


def hosts_toml(mirror: harness.Registry) -> str:
    """What a node puts in ``/etc/containerd/certs.d/docker.io/hosts.toml``.

    containerd tries every ``[host]`` and then ``server`` ("trying next host" after a denial),
    so Docker Hub must be in neither: the mirror is both. containerd 1.6 rejects a file
    without a ``[host]`` table (``invalid `host` tree``) and then pulls from Docker Hub itself.
    """
    return (
        f'server = "{mirror.url}"\n\n[host."{mirror.url}"]\n  capabilities = ["pull", "resolve"]\n'
    )


@pytest.fixture(scope="module")
def containerd_socket() -> Iterator[Path]:
    """The socket of the containerd a private dockerd starts and manages."""
    harness.require_program("dockerd")
    harness.require_program("ctr")
    if os.geteuid() != 0:
        harness.unavailable("containerd needs root")
    with harness.start_dockerd() as daemon:
        sockets = sorted((daemon.base_dir / "exec").glob("**/containerd.sock"))
        if not sockets:
            raise AssertionError(f"no containerd socket under {daemon.base_dir}")
        yield sockets[0]


def ctr_pull(socket: Path, hosts_dir: Path, image: str, creds: str) -> harness.CommandResult:
    return harness.run_command(
        [
            harness.require_program("ctr"),
            "--address",
            str(socket),
            "--namespace",
            "imageaccess-e2e",
            "images",
            "pull",
            "--snapshotter",
            "native",
            "--hosts-dir",
            str(hosts_dir),
            "--user",
            creds,
            image,
        ],
        timeout=120,
    )


def test_ctr_pulls_through_hosts_toml_and_the_guarded_mirror(
    containerd_socket: Path,
    served_app: ServedApp,
    registry_stack: RegistryStack,
    tmp_path: Path,
) -> None:
    served_app.patch_policy(
        enabled=True,
        allow_official=True,
        allow_verified_publisher=True,
        allow_community=False,
        audit_mode=False,
    )
    hosts_dir = tmp_path / "certs.d"
    (hosts_dir / "docker.io").mkdir(parents=True)
    (hosts_dir / "docker.io" / "hosts.toml").write_text(hosts_toml(registry_stack.mirror))
    creds = served_app.creds("mike")

    before = served_app.last_event_id()
    denied = ctr_pull(containerd_socket, hosts_dir, "docker.io/someuser/custom-image:latest", creds)
    assert denied.returncode != 0, str(denied)
    # containerd, like BuildKit (the same resolver), hides the reason behind the 401 ...
    assert "failed to fetch oauth token: unexpected status: 401 Unauthorized" in denied.output
    # ... which the token service gave for the policy's reason.
    events = served_app.registry_events(before)
    assert {(e["username"], e["repository"], e["allowed"], e["reason"]) for e in events} == {
        ("mike", "someuser/custom-image", False, COMMUNITY_DENIAL)
    }, events
    assert all(str(e["user_agent"]).startswith("containerd/") for e in events), events

    allowed = ctr_pull(containerd_socket, hosts_dir, "docker.io/library/nginx:latest", creds)
    assert allowed.returncode == 0, str(allowed)
    assert "docker.io/library/nginx:latest" in allowed.output, str(allowed)

    owner = ctr_pull(
        containerd_socket,
        hosts_dir,
        "docker.io/someuser/custom-image:latest",
        served_app.creds("olivia"),
    )
    assert owner.returncode == 0, str(owner)
