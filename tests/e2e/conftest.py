"""Fixtures for end-to-end tests that need the app served by a real server process.

``served_app`` (session): gunicorn serving imageaccess on 127.0.0.1 with its own database and
data directory, seeded with the demo data (see :mod:`tests.e2e.served_app`).
``registry_stack`` (session): an upstream registry playing Docker Hub, holding one small image
under ``library/nginx``, ``someuser/custom-image`` and ``acme/app``, and a pull-through mirror
of it whose token auth is the served app's ``/v2/token``, configured with ``registry_config``.

None of these use pytest-django's database: the tests talk to the server over HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e import harness
from tests.e2e.oci import OciImage, build_oci_layout
from tests.e2e.served_app import MirrorAuth, ServedApp, run_mirror, serve_app

MIRROR_SERVICE = "imageaccess-e2e-mirror"
UPSTREAM_REPOSITORIES = ("library/nginx", "someuser/custom-image", "acme/app")


@dataclass(frozen=True)
class RegistryStack:
    """The upstream ("Docker Hub"), the token-protected mirror, and how it was wired."""

    upstream: harness.Registry
    mirror: harness.Registry
    auth: MirrorAuth
    image: OciImage
    workdir: Path


@pytest.fixture(scope="session")
def served_app() -> Iterator[ServedApp]:
    """The app served by gunicorn (2 workers) with the demo data; stopped and dropped after."""
    with serve_app(workers=2) as app:
        yield app


@pytest.fixture(scope="session")
def registry_stack(
    served_app: ServedApp, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RegistryStack]:
    """Upstream registry with the test image; mirror with token auth from registry_config."""
    harness.require_program("docker-registry")
    harness.require_program("skopeo")
    workdir = tmp_path_factory.mktemp("registry-stack")
    image = build_oci_layout(workdir / "layout")
    with harness.run_registry(workdir / "upstream") as upstream:
        for repository in UPSTREAM_REPOSITORIES:
            pushed = harness.push_oci_layout(
                image.layout_dir, upstream.host, f"{repository}:latest"
            )
            assert pushed.ok, str(pushed)
        with run_mirror(
            served_app,
            upstream,
            workdir / "mirror",
            realm=served_app.token_url,
            service=MIRROR_SERVICE,
        ) as (mirror, auth):
            yield RegistryStack(upstream, mirror, auth, image, workdir)
