"""`imageaccess check` end to end: the real command in a child process against gunicorn.

The served app (``served_app`` in ``conftest.py``) is seeded with the demo data: acme with
olivia (owner) and mike (member), the sample catalog (bitnami is a verified publisher). Each
test here turns acme's image access on (official and verified publisher images allowed,
community images not) and restores the settings it found afterwards, because the served app
is shared with the other end-to-end tests of the session.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.e2e.served_app import ServedApp

pytestmark = pytest.mark.e2e

BASE_DIR = Path(__file__).resolve().parents[2]
SCHEMA_PATH = BASE_DIR / "tests" / "enforcers" / "cli" / "schemas" / "sarif-2.1.0.json"
COMMUNITY_DENIAL = "image access denied: community images not allowed"
POLICY_SETTINGS = ("enabled", "allow_official", "allow_verified_publisher", "allow_community")
# Run the dispatcher exactly as the console script does, without needing it installed.
CLI = "import sys; from policies.enforcers.cli import main; sys.exit(main())"

DOCKERFILE = """\
# syntax=docker/dockerfile:1
FROM nginx
FROM someuser/custom-image AS build
RUN make
FROM build
COPY --from=acme/app:1.0 /app /app
"""
COMPOSE = """\
services:
  web:
    image: nginx:1.27
  cache:
    image: bitnami/redis:7
  tool:
    image: someuser/custom-image
"""


@dataclass(frozen=True)
class Run:
    """A finished ``imageaccess check`` process."""

    code: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


def run_check(project: Path, token: str, *args: str) -> Run:
    """``imageaccess check ARGS`` in ``project`` with ``token`` in ``IMAGEACCESS_TOKEN``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("IMAGEACCESS_", "DJANGO_", "DATABASE_", "REDIS_URL"))
    }
    env.update({"IMAGEACCESS_TOKEN": token, "PYTHONPATH": str(BASE_DIR)})
    completed = subprocess.run(
        [sys.executable, "-c", CLI, "check", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=project,
        timeout=120,
        check=False,
    )
    run = Run(completed.returncode, completed.stdout, completed.stderr)
    assert token not in completed.stdout + completed.stderr, "the token must never be printed"
    return run


@pytest.fixture
def acme_policy_on(served_app: ServedApp) -> Iterator[None]:
    """acme's image access on, community images denied; the previous settings restored."""
    response = served_app.request(
        "GET", "/api/v1/orgs/acme/image-access", token=served_app.token("olivia")
    )
    assert response.status == 200, response.body
    before = {name: response.json()[name] for name in (*POLICY_SETTINGS, "audit_mode")}
    served_app.patch_policy(
        enabled=True,
        allow_official=True,
        allow_verified_publisher=True,
        allow_community=False,
        audit_mode=False,
    )
    yield
    served_app.patch_policy(**before)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A build context with a denied community image in the Dockerfile and in Compose."""
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    (tmp_path / "compose.yaml").write_text(COMPOSE)
    return tmp_path


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.usefixtures("acme_policy_on")
def test_member_is_denied_community_images(served_app: ServedApp, project: Path) -> None:
    result = run_check(project, served_app.token("mike"), "--url", served_app.base_url, ".")
    assert result.code == 1, str(result)
    assert result.stdout.splitlines() == [
        f"Dockerfile:3: {COMMUNITY_DENIAL} (someuser/custom-image)",
        f"compose.yaml:7: {COMMUNITY_DENIAL} (someuser/custom-image)",
        "6 images checked in 2 files: 5 allowed, 1 denied",
    ]


@pytest.mark.usefixtures("acme_policy_on")
def test_owner_is_not_restricted(served_app: ServedApp, project: Path) -> None:
    result = run_check(
        project, served_app.token("olivia"), "--url", served_app.base_url, "--org", "acme", "."
    )
    assert result.code == 0, str(result)
    assert result.stdout == "6 images checked in 2 files: 6 allowed, 0 denied\n"


@pytest.mark.usefixtures("acme_policy_on")
def test_only_allowed_images_pass(served_app: ServedApp, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(
        "ARG BASE=nginx:1.27\nFROM ${BASE}\nCOPY --from=acme/app:1.0 /app /app\n"
        "RUN --mount=type=cache,target=/c,from=bitnami/redis:7 true\n"
    )
    result = run_check(tmp_path, served_app.token("mike"), "--url", served_app.base_url, ".")
    assert result.code == 0, str(result)
    assert result.stdout == "3 images checked in 1 file: 3 allowed, 0 denied\n"


@pytest.mark.usefixtures("acme_policy_on")
def test_audit_mode_warns_and_passes(served_app: ServedApp, project: Path) -> None:
    served_app.patch_policy(audit_mode=True)
    result = run_check(project, served_app.token("mike"), "--url", served_app.base_url, ".")
    assert result.code == 0, str(result)
    assert result.stdout.splitlines()[0] == (
        f"Dockerfile:3: warning: audit mode: {COMMUNITY_DENIAL} (someuser/custom-image)"
    )


def test_unreachable_server_exits_2(served_app: ServedApp, project: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    result = run_check(project, served_app.token("mike"), "--url", url, ".")
    assert result.code == 2, str(result)
    assert "connection refused" in result.stderr
    assert result.stdout == ""


def test_bad_token_exits_2_with_the_servers_message(served_app: ServedApp, project: Path) -> None:
    result = run_check(project, "iat_not-a-real-token", "--url", served_app.base_url, ".")
    assert result.code == 2, str(result)
    assert "authentication failed (HTTP 401): " in result.stderr


@pytest.mark.usefixtures("acme_policy_on")
def test_json_report(served_app: ServedApp, project: Path) -> None:
    result = run_check(
        project,
        served_app.token("mike"),
        "--url",
        served_app.base_url,
        "--org",
        "acme",
        "--format",
        "json",
        ".",
    )
    assert result.code == 1, str(result)
    report = json.loads(result.stdout)
    by_place = {(item["file"], item["line"]): item for item in report["images"]}
    denied = by_place[("Dockerfile", 3)]
    assert denied["image"] == "someuser/custom-image"
    assert denied["reference"] == "docker.io/someuser/custom-image:latest"
    assert denied["kind"] == "from"
    assert denied["allowed"] is False
    assert denied["category"] == "community"
    assert denied["reason"] == COMMUNITY_DENIAL
    assert denied["org"] == "acme"
    copied = by_place[("Dockerfile", 6)]
    assert (copied["kind"], copied["category"], copied["allowed"]) == (
        "copy-from",
        "organization",
        True,
    )
    assert by_place[("compose.yaml", 5)]["category"] == "verified_publisher"
    assert by_place[("Dockerfile", 2)]["category"] == "official"
    assert report["errors"] == []
    assert report["summary"]["denied"] == 1
    assert report["summary"]["exit_code"] == 1


@pytest.mark.usefixtures("acme_policy_on")
def test_sarif_report_is_valid(served_app: ServedApp, project: Path) -> None:
    result = run_check(
        project,
        served_app.token("mike"),
        "--url",
        served_app.base_url,
        "--format",
        "sarif",
        "--output",
        "results.sarif",
        ".",
    )
    assert result.code == 1, str(result)
    assert result.stdout == ""
    log: dict[str, Any] = json.loads((project / "results.sarif").read_text())
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.validators.validator_for(schema)(schema).validate(log)
    [sarif_run] = log["runs"]
    assert sarif_run["tool"]["driver"]["name"] == "imageaccess"
    places = [
        (
            r["ruleId"],
            r["level"],
            r["locations"][0]["physicalLocation"]["artifactLocation"],
            r["locations"][0]["physicalLocation"]["region"]["startLine"],
        )
        for r in sarif_run["results"]
    ]
    assert places == [
        (
            "image-access/community",
            "error",
            {"uri": "Dockerfile", "uriBaseId": "%SRCROOT%"},
            3,
        ),
        (
            "image-access/community",
            "error",
            {"uri": "compose.yaml", "uriBaseId": "%SRCROOT%"},
            7,
        ),
    ]
    assert sarif_run["results"][0]["message"]["text"] == (
        f"{COMMUNITY_DENIAL} (someuser/custom-image)"
    )
    # The CI log still shows the denial while the report goes to the file.
    assert f"Dockerfile:3: {COMMUNITY_DENIAL} (someuser/custom-image)" in result.stderr


# Every spelling under which a daemon fetches from Docker Hub: host names compared without
# regard to case and with the default port removed. The scanner prints each as Docker parses
# it; the server classifies each as Docker Hub, so the community image is denied every time.
DOCKER_HUB_SPELLINGS = [
    "REGISTRY-1.DOCKER.IO/someuser/custom-image",
    "registry-1.docker.io:443/someuser/custom-image",
    "Registry-1.Docker.Io:443/someuser/custom-image",
    "Index.Docker.IO/someuser/custom-image",
    "index.docker.io:443/someuser/custom-image",
    "registry.hub.docker.com/someuser/custom-image",
    "REGISTRY.HUB.DOCKER.COM:443/someuser/custom-image",
    "docker.io:443/someuser/custom-image",
    "DOCKER.IO/someuser/custom-image",
]


@pytest.mark.usefixtures("acme_policy_on")
@pytest.mark.parametrize("image", DOCKER_HUB_SPELLINGS)
def test_docker_hub_under_another_spelling_is_denied(
    served_app: ServedApp, tmp_path: Path, image: str
) -> None:
    (tmp_path / "Dockerfile").write_text(f"FROM {image}\n")
    (tmp_path / "compose.yaml").write_text(f"services:\n  tool:\n    image: {image}\n")
    result = run_check(
        tmp_path, served_app.token("mike"), "--url", served_app.base_url, "--org", "acme", "."
    )
    assert result.code == 1, str(result)
    assert result.stdout.splitlines() == [
        f"Dockerfile:1: {COMMUNITY_DENIAL} ({image})",
        f"compose.yaml:3: {COMMUNITY_DENIAL} ({image})",
        "1 image checked in 2 files: 0 allowed, 1 denied",
    ]


@pytest.mark.usefixtures("acme_policy_on")
def test_docker_hub_spellings_are_denied_without_naming_an_org(
    served_app: ServedApp, tmp_path: Path
) -> None:
    (tmp_path / "Dockerfile").write_text(
        "".join(f"FROM {image} AS s{i}\n" for i, image in enumerate(DOCKER_HUB_SPELLINGS))
    )
    result = run_check(tmp_path, served_app.token("mike"), "--url", served_app.base_url, ".")
    assert result.code == 1, str(result)
    n = len(DOCKER_HUB_SPELLINGS)
    assert result.stdout.splitlines()[-1] == (
        f"{n} images checked in 1 file: 0 allowed, {n} denied"
    )


def test_unknown_organization_exits_2_with_its_name(served_app: ServedApp, project: Path) -> None:
    result = run_check(
        project, served_app.token("mike"), "--url", served_app.base_url, "--org", "no-such-org", "."
    )
    assert result.code == 2, str(result)
    assert result.stdout == ""
    assert "imageaccess check: error: unknown organization: no-such-org" in result.stderr


@pytest.mark.usefixtures("acme_policy_on")
def test_org_slug_in_another_case_decides_like_the_org(
    served_app: ServedApp, project: Path
) -> None:
    result = run_check(
        project, served_app.token("mike"), "--url", served_app.base_url, "--org", "ACME", "."
    )
    assert result.code == 1, str(result)
    assert f"Dockerfile:3: {COMMUNITY_DENIAL} (someuser/custom-image)" in result.stdout


@pytest.mark.usefixtures("acme_policy_on")
def test_files_compose_merges_on_its_own_are_checked(served_app: ServedApp, tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: nginx:1.27\n")
    (tmp_path / "compose.override.yaml").write_text(
        "services:\n  web:\n    image: acme/app:1.0\n    build:\n"
        "      dockerfile_inline: FROM someuser/custom-image\n"
    )
    (tmp_path / ".env").write_text("COMPOSE_FILE=compose.yaml:ops/extra.yml\n")
    (tmp_path / "ops").mkdir()
    (tmp_path / "ops" / "extra.yml").write_text(
        "services:\n  web:\n    build:\n      context: .\n      cache_from: [someuser/cache:1]\n"
    )
    (tmp_path / "Dockerfile").write_text("FROM nginx:1.27\n")
    result = run_check(tmp_path, served_app.token("mike"), "--url", served_app.base_url, ".")
    assert result.code == 1, str(result)
    assert result.stdout.splitlines() == [
        f"compose.override.yaml:5: {COMMUNITY_DENIAL} (someuser/custom-image)",
        f"ops/extra.yml:5: {COMMUNITY_DENIAL} (someuser/cache:1)",
        "4 images checked in 4 files: 2 allowed, 2 denied",
    ]


@pytest.mark.usefixtures("acme_policy_on")
def test_a_registry_outside_the_allowlist_fails_at_its_line(
    served_app: ServedApp, tmp_path: Path
) -> None:
    (tmp_path / "Dockerfile").write_text(
        "FROM nginx:1.27\nFROM ghcr.io/someuser/tool:1 AS tool\nFROM Quay.io:443/x/y\n"
    )
    owner = served_app.token("olivia")
    url = "/api/v1/orgs/acme/registry-access"
    changed = served_app.request(
        "PATCH", url, token=owner, body={"enabled": True, "registries": ["docker.io", "quay.io"]}
    )
    assert changed.status == 200, changed.body
    served_app.wait_for_propagation()
    try:
        for token in (served_app.token("mike"), owner):  # owners are restricted too
            result = run_check(tmp_path, token, "--url", served_app.base_url, ".")
            assert result.code == 1, str(result)
            assert result.stdout.splitlines() == [
                "Dockerfile:2: registry access to ghcr.io is not allowed (ghcr.io/someuser/tool:1)",
                "3 images checked in 1 file: 2 allowed, 1 denied",
            ]
    finally:
        served_app.request("PATCH", url, token=owner, body={"enabled": False})
        served_app.wait_for_propagation()
