"""Which Docker API calls the plugin governs, and the images it reads from them (no network)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from policies.enforcers.daemon_plugin.docker_api_calls import (
    GovernedCall,
    governed_call,
    is_image_id,
    pulled_image,
)

DIGEST = "sha256:" + "ab" * 32


def authz(method: str, uri: str, body: Any = None) -> dict[str, Any]:
    request: dict[str, Any] = {"RequestMethod": method, "RequestUri": uri, "User": ""}
    if body is not None:
        request["RequestBody"] = base64.b64encode(json.dumps(body).encode()).decode()
    return request


@pytest.mark.parametrize(
    ("uri", "image"),
    [
        (
            "/v1.41/images/create?fromImage=docker.io%2Fsomeuser%2Fx&tag=latest",
            "docker.io/someuser/x:latest",
        ),
        ("/images/create?fromImage=nginx", "nginx"),
        ("/v1.41/images/create?fromImage=nginx&tag=1.27", "docker.io/library/nginx:1.27"),
        (
            f"/v1.41/images/create?fromImage=someuser%2Fx&tag={DIGEST}",
            f"docker.io/someuser/x@{DIGEST}",
        ),
        (
            "/v1.41/images/create?fromImage=index.docker.io%2Fsomeuser%2Fx&tag=",
            "index.docker.io/someuser/x",
        ),
        (
            "/v1.41/images/create?fromImage=REGISTRY-1.DOCKER.IO%2Fa%2Fb&tag=v1",
            "REGISTRY-1.DOCKER.IO/a/b:v1",
        ),
        ("/v1.41/images/create?fromImage=Bad%2FName&tag=1", "Bad/Name"),
    ],
)
def test_a_pull_names_what_dockerd_pulls(uri: str, image: str) -> None:
    assert governed_call(authz("POST", uri)) == GovernedCall("pull", (image,))


def test_container_creation_names_the_image_of_its_body() -> None:
    call = governed_call(
        authz("POST", "/v1.41/containers/create?name=web", {"Image": "someuser/x"})
    )
    assert call == GovernedCall("run", ("someuser/x",))


def test_container_creation_without_a_readable_body_is_refused() -> None:
    call = governed_call(authz("POST", "/v1.41/containers/create"))
    assert call is not None
    assert call.problem


def test_plugin_pulls_and_upgrades_and_services_are_governed() -> None:
    assert governed_call(authz("POST", "/v1.41/plugins/pull?remote=vieux%2Fsshfs")) == (
        GovernedCall("plugin", ("vieux/sshfs",))
    )
    assert governed_call(authz("POST", "/plugins/sshfs/upgrade?remote=vieux%2Fsshfs:2")) == (
        GovernedCall("plugin", ("vieux/sshfs:2",))
    )
    spec = {"TaskTemplate": {"ContainerSpec": {"Image": "someuser/x"}}}
    assert governed_call(authz("POST", "/v1.41/services/create", spec)) == (
        GovernedCall("service", ("someuser/x",))
    )


def test_load_and_import_are_recognised() -> None:
    assert governed_call(authz("POST", "/v1.41/images/load?quiet=1")) == GovernedCall("load")
    assert governed_call(authz("POST", "/v1.41/images/create?fromSrc=-")) == GovernedCall("import")


@pytest.mark.parametrize(
    ("method", "uri"),
    [
        ("GET", "/v1.41/containers/json"),
        ("GET", "/_ping"),
        ("HEAD", "/_ping"),
        ("GET", "/v1.41/version"),
        ("GET", "/v1.41/images/create?fromImage=someuser%2Fx"),  # not a pull: GET
        ("POST", "/v1.41/containers/abc/start"),
        ("POST", "/v1.41/images/someuser/x/push"),
        ("POST", "/v1.41/build?t=x"),
        ("DELETE", "/v1.41/images/someuser/x"),
        ("POST", "/v1.41/images/create"),
    ],
)
def test_calls_without_an_image_are_not_governed(method: str, uri: str) -> None:
    assert governed_call(authz(method, uri)) is None


def test_image_ids_and_tags() -> None:
    assert is_image_id("sha256:" + "0" * 64)
    assert is_image_id("f" * 64)
    assert not is_image_id("abc123")
    assert not is_image_id("nginx")
    assert pulled_image("nginx", "") == "nginx"
