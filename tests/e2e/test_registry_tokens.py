"""End-to-end proof that a real CNCF distribution registry accepts our bearer tokens.

Setup (module scope, all on 127.0.0.1): an upstream registry without auth holding a tiny OCI
image as ``library/nginx:latest`` and ``someuser/custom-image:latest`` (pushed with skopeo from
a layout built in Python); a second registry that is a pull-through mirror of the upstream with
``auth: token`` trusting our certificate bundle (an ES256 and an RS256 key, as during a key
rotation); and a realm test double that issues tokens with ``issue_registry_token``.

The token tests call the mirror directly with ``Authorization: Bearer``; no realm is involved,
so a 200 proves the registry verified our signature, kid, issuer, audience and access claims.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from policies.enforcers.token_service.jwt_tokens import (
    error_body,
    issue_registry_token,
    parse_scopes,
    scopes_to_access,
)
from policies.enforcers.token_service.keys import (
    SigningKey,
    build_cert_bundle,
    certificate_path_for,
    load_signing_key,
)
from tests.e2e import harness
from tests.e2e.oci import OciImage, build_oci_layout

pytestmark = pytest.mark.e2e

ISSUER = "imageaccess-test-issuer"
SERVICE = "imageaccess-test-registry"
COMMUNITY_DENIAL = "image access denied: community images not allowed"
# Every manifest type: registry 2.8 only serves an OCI manifest to clients that accept it.
MANIFEST_ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)


@dataclass
class RealmPolicy:
    """What the realm test double does; tests change it and restore it."""

    signing_key: SigningKey
    credentials: tuple[str, str] = ("u", "p")
    denied: dict[str, str] = field(default_factory=dict)  # repository -> message
    deny_status: int = 401


@dataclass
class Stack:
    """Everything the module's tests share."""

    ec_key: SigningKey
    rsa_key: SigningKey
    foreign_key: SigningKey
    image: OciImage
    upstream: harness.Registry
    mirror: harness.Registry
    realm: harness.Realm
    policy: RealmPolicy
    tmp: Path


def realm_handler(policy: RealmPolicy) -> harness.RealmHandler:
    """Build the realm double's handler: a stand-in for the Django ``/v2/token`` view."""

    def handle(request: harness.RealmRequest) -> tuple[int, Mapping[str, Any]]:
        creds = request.basic_auth
        if creds is not None and creds != policy.credentials:
            return 401, error_body("UNAUTHORIZED", "invalid username or access token")
        scopes = parse_scopes(request.values("scope"))
        for scope in scopes:
            if scope.name in policy.denied:
                return policy.deny_status, error_body("DENIED", policy.denied[scope.name])
        # A pull-through mirror is read-only: grant pull, never push/delete.
        granted = [dataclasses.replace(s, actions=("pull",)) for s in scopes if "pull" in s.actions]
        service = (request.values("service") or [SERVICE])[0]
        return 200, issue_registry_token(
            key=policy.signing_key,
            issuer=ISSUER,
            service=service,
            subject=creds[0] if creds else "",
            access=scopes_to_access(granted),
        )

    return handle


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Upstream registry with the test image, token-protected mirror, realm double."""
    harness.require_program("docker-registry")
    harness.require_program("skopeo")
    tmp = tmp_path_factory.mktemp("registry-e2e")
    ec_key = load_signing_key(tmp / "keys" / "ec.key", common_name="e2e ES256")
    rsa_key = load_signing_key(tmp / "keys" / "rsa.key", key_type="rsa", common_name="e2e RS256")
    foreign_key = load_signing_key(tmp / "keys" / "foreign.key", common_name="not trusted")
    bundle = tmp / "keys" / "bundle.pem"
    # The RSA certificate as an "extra" file: what a rotation's previous/next key looks like.
    rsa_cert = certificate_path_for(tmp / "keys" / "rsa.key")
    bundle.write_bytes(build_cert_bundle(ec_key.cert_pem, [rsa_cert]))
    image = build_oci_layout(tmp / "layout")
    policy = RealmPolicy(signing_key=ec_key)

    with (
        harness.run_registry(tmp / "upstream") as upstream,
        harness.run_token_realm(realm_handler(policy)) as realm,
    ):
        for ref in ("library/nginx:latest", "someuser/custom-image:latest"):
            pushed = harness.push_oci_layout(image.layout_dir, upstream.host, ref)
            assert pushed.ok, str(pushed)
        auth = harness.TokenAuth(realm.url, SERVICE, ISSUER, bundle)
        with harness.run_registry(
            tmp / "mirror", proxy_remoteurl=upstream.url, token_auth=auth
        ) as mirror:
            yield Stack(ec_key, rsa_key, foreign_key, image, upstream, mirror, realm, policy, tmp)


def pull_access(name: str) -> list[dict[str, Any]]:
    """``access`` granting pull on exactly ``name``."""
    return [{"type": "repository", "name": name, "actions": ["pull"]}]


def get_manifest(stack: Stack, name: str, token: str | None) -> tuple[int, dict[str, str], bytes]:
    """GET the mirror's ``/v2/NAME/manifests/latest``, with a bearer token if given."""
    headers = {"Accept": MANIFEST_ACCEPT}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return harness.http_get(f"{stack.mirror.url}/v2/{name}/manifests/latest", headers=headers)


def token_for(key: SigningKey, name: str = "library/nginx", **overrides: Any) -> str:
    """A token from ``issue_registry_token`` for pull on ``name``."""
    kwargs: dict[str, Any] = {
        "key": key,
        "issuer": ISSUER,
        "service": SERVICE,
        "subject": "alice",
        "access": pull_access(name),
    }
    kwargs.update(overrides)
    return str(issue_registry_token(**kwargs)["token"])


# --------------------------------------------------------------------------------------------
# Direct bearer tokens against the mirror (no realm involved)


def test_unauthenticated_request_gets_token_challenge(stack: Stack) -> None:
    status, headers, _ = get_manifest(stack, "library/nginx", None)
    challenge = headers.get("Www-Authenticate") or headers.get("WWW-Authenticate", "")
    assert status == 401
    assert challenge == (
        f'Bearer realm="{stack.realm.url}",service="{SERVICE}",'
        'scope="repository:library/nginx:pull"'
    )


def test_es256_token_is_accepted_and_proxied(stack: Stack) -> None:
    status, _, body = get_manifest(stack, "library/nginx", token_for(stack.ec_key))
    assert status == 200, body
    manifest = json.loads(body)
    assert manifest["config"]["digest"] == stack.image.config_digest


def test_rs256_token_is_accepted(stack: Stack) -> None:
    assert stack.rsa_key.algorithm == "RS256"
    status, _, body = get_manifest(stack, "library/nginx", token_for(stack.rsa_key))
    assert status == 200, body


def test_token_grants_exact_repository_only(stack: Stack) -> None:
    other = token_for(stack.ec_key, "someuser/custom-image")
    assert get_manifest(stack, "library/nginx", other)[0] == 401
    assert get_manifest(stack, "someuser/custom-image", other)[0] == 200


def test_empty_access_is_denied(stack: Stack) -> None:
    status, _, body = get_manifest(stack, "library/nginx", token_for(stack.ec_key, access=[]))
    assert status == 401
    assert b"DENIED" in body or b"UNAUTHORIZED" in body


def test_expired_token_is_rejected(stack: Stack) -> None:
    # Past the registry's 60 s leeway.
    token = token_for(stack.ec_key, ttl=300, now=time.time() - 600)
    assert get_manifest(stack, "library/nginx", token)[0] == 401


def test_token_from_untrusted_key_is_rejected(stack: Stack) -> None:
    assert get_manifest(stack, "library/nginx", token_for(stack.foreign_key))[0] == 401


def test_foreign_signature_with_trusted_kid_is_rejected(stack: Stack) -> None:
    forged = dataclasses.replace(stack.foreign_key, kid=stack.ec_key.kid)
    assert get_manifest(stack, "library/nginx", token_for(forged))[0] == 401


@pytest.mark.parametrize(
    "bad_kid",
    [
        "not-a-libtrust-id",
        # The RFC 7638 style thumbprint many JWT libraries use is not what 2.8 looks up.
        "thumbprint",
        # Right format, lower case: the registry compares the string exactly.
        "lower",
    ],
)
def test_kid_must_be_the_libtrust_key_id(stack: Stack, bad_kid: str) -> None:
    if bad_kid == "thumbprint":
        public_key = stack.ec_key.public_key
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(public_key))
        canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"))
        digest = hashlib.sha256(canonical.encode()).digest()
        bad_kid = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    elif bad_kid == "lower":
        bad_kid = stack.ec_key.kid.lower()
    key = dataclasses.replace(stack.ec_key, kid=bad_kid)
    assert get_manifest(stack, "library/nginx", token_for(key))[0] == 401
    # Control: the same key with its libtrust kid works.
    assert get_manifest(stack, "library/nginx", token_for(stack.ec_key))[0] == 200


def test_wrong_issuer_or_service_is_rejected(stack: Stack) -> None:
    assert get_manifest(stack, "library/nginx", token_for(stack.ec_key, issuer="other"))[0] == 401
    assert get_manifest(stack, "library/nginx", token_for(stack.ec_key, service="other"))[0] == 401


def test_audience_array_is_rejected_by_registry_2_8(stack: Stack) -> None:
    # Why issue_registry_token puts a single string in "aud".
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": "alice",
        "aud": [SERVICE],
        "exp": now + 300,
        "nbf": now,
        "iat": now,
        "jti": "x",
        "access": pull_access("library/nginx"),
    }
    token = jwt.encode(
        claims, stack.ec_key.private_key, algorithm="ES256", headers={"kid": stack.ec_key.kid}
    )
    assert get_manifest(stack, "library/nginx", token)[0] == 401


# --------------------------------------------------------------------------------------------
# Through a realm: skopeo gets its token from the realm test double


def test_skopeo_pull_through_mirror_with_realm(stack: Stack, tmp_path: Path) -> None:
    before = len(stack.realm.requests)
    result = harness.skopeo_copy_to_dir(
        f"{stack.mirror.host}/library/nginx:latest", tmp_path / "out", src_creds="u:p"
    )
    assert result.ok, str(result)
    assert (tmp_path / "out" / "manifest.json").exists()
    token_requests = [r for r in stack.realm.requests[before:] if r.path == "/v2/token"]
    assert token_requests, "skopeo never asked the realm for a token"
    first = token_requests[0]
    assert first.method == "GET"
    assert first.query["service"] == [SERVICE]
    assert first.query["scope"] == ["repository:library/nginx:pull"]
    assert first.basic_auth == ("u", "p")


def test_skopeo_shows_the_realms_denial_message(stack: Stack, tmp_path: Path) -> None:
    stack.policy.denied["someuser/custom-image"] = COMMUNITY_DENIAL
    try:
        result = harness.skopeo_copy_to_dir(
            f"{stack.mirror.host}/someuser/custom-image:latest", tmp_path / "out", src_creds="u:p"
        )
    finally:
        stack.policy.denied.clear()
    assert not result.ok
    assert COMMUNITY_DENIAL in result.output, str(result)


def test_skopeo_bad_credentials_message(stack: Stack, tmp_path: Path) -> None:
    result = harness.skopeo_copy_to_dir(
        f"{stack.mirror.host}/library/nginx:latest", tmp_path / "out", src_creds="u:wrong"
    )
    assert not result.ok
    assert "invalid username or access token" in result.output, str(result)


def test_mirror_never_fetches_denied_repository_from_upstream(stack: Stack) -> None:
    # The registry checks the token before proxying: a token without access for a repository
    # must not make the mirror contact the upstream for it.
    name = "someuser/never-fetched"
    before = stack.upstream.logs()
    status, _, _ = get_manifest(stack, name, token_for(stack.ec_key, "library/nginx"))
    assert status == 401
    assert name not in stack.upstream.logs()[len(before) :]


# --------------------------------------------------------------------------------------------
# The real Docker Engine (Debian docker.io 20.10) pulling through the mirror


@pytest.fixture(scope="module")
def dockerd(stack: Stack) -> Iterator[harness.DockerDaemon]:
    """A private dockerd using the token-protected mirror as its Docker Hub mirror."""
    harness.require_program("dockerd")
    if os.geteuid() != 0:
        harness.unavailable("dockerd needs root")
    with harness.start_dockerd(
        registry_mirror=stack.mirror.url, insecure_registries=[stack.mirror.host]
    ) as daemon:
        yield daemon


@pytest.fixture
def docker(dockerd: harness.DockerDaemon, stack: Stack) -> Iterator[harness.DockerDaemon]:
    """The daemon with no images and no credentials, restored after the test."""
    dockerd.docker("image", "prune", "--all", "--force", timeout=60)
    (dockerd.config_dir / "config.json").unlink(missing_ok=True)
    yield dockerd
    stack.policy.denied.clear()


def realm_requests_since(stack: Stack, count: int) -> list[harness.RealmRequest]:
    """Token requests the realm received after the first ``count`` requests."""
    return [r for r in stack.realm.requests[count:] if r.path == "/v2/token"]


def test_docker_pull_via_registry_mirror_sends_hub_credentials(
    docker: harness.DockerDaemon, stack: Stack
) -> None:
    # The daemon reuses the CLI's Docker Hub entry for the Hub mirror: docker login once,
    # against Docker Hub's key, governs `docker pull nginx`.
    docker.write_docker_config({"https://index.docker.io/v1/": ("u", "p")})
    before = len(stack.realm.requests)
    result = docker.docker("pull", "nginx")
    assert result.ok, f"{result}\n{docker.logs()[-3000:]}"
    requests = realm_requests_since(stack, before)
    assert requests
    assert requests[0].method == "GET"
    assert requests[0].query["scope"] == ["repository:library/nginx:pull"]
    assert requests[0].query["account"] == ["u"]
    assert requests[0].basic_auth == ("u", "p")
    assert requests[0].headers["User-Agent"].startswith("docker/")


def test_docker_pull_by_mirror_host_shows_denial(
    docker: harness.DockerDaemon, stack: Stack
) -> None:
    docker.write_docker_config({stack.mirror.host: ("u", "p")})
    stack.policy.denied["someuser/custom-image"] = COMMUNITY_DENIAL
    result = docker.docker("pull", f"{stack.mirror.host}/someuser/custom-image")
    assert not result.ok
    assert f"denied: {COMMUNITY_DENIAL}" in result.output, str(result)


def test_classic_build_from_uses_mirror_without_network(
    docker: harness.DockerDaemon, stack: Stack, tmp_path: Path
) -> None:
    (tmp_path / "Dockerfile").write_text("FROM nginx\nLABEL org.example.test=classic\n")
    docker.write_docker_config({"https://index.docker.io/v1/": ("u", "p")})
    before = len(stack.realm.requests)
    result = docker.docker(
        "build", "--network=none", "-t", "ia-classic", str(tmp_path), DOCKER_BUILDKIT="0"
    )
    assert result.ok, str(result)
    assert any(r.basic_auth == ("u", "p") for r in realm_requests_since(stack, before))


def test_buildkit_build_from_uses_mirror_and_falls_back_to_post(
    docker: harness.DockerDaemon, stack: Stack, tmp_path: Path
) -> None:
    (tmp_path / "Dockerfile").write_text("FROM nginx\nLABEL org.example.test=buildkit\n")
    (tmp_path / "Denied.Dockerfile").write_text(f"FROM {stack.mirror.host}/someuser/custom-image\n")
    # BuildKit looks credentials up by the mirror's own host, not Docker Hub's entry.
    docker.write_docker_config({stack.mirror.host: ("u", "p")})
    before = len(stack.realm.requests)
    result = docker.docker(
        "build", "--network=none", "-t", "ia-buildkit", str(tmp_path), DOCKER_BUILDKIT="1"
    )
    assert result.ok, str(result)
    allowed = realm_requests_since(stack, before)
    assert allowed
    assert allowed[0].basic_auth == ("u", "p")

    stack.policy.denied["someuser/custom-image"] = COMMUNITY_DENIAL
    before = len(stack.realm.requests)
    denied = docker.docker(
        "build",
        "--network=none",
        "-f",
        str(tmp_path / "Denied.Dockerfile"),
        str(tmp_path),
        DOCKER_BUILDKIT="1",
    )
    assert not denied.ok
    # BuildKit hides the realm's message behind a generic 401 ...
    assert "401 Unauthorized" in denied.output, str(denied)
    # ... after retrying the denied GET as an OAuth2 password-grant POST.
    posts = [r for r in realm_requests_since(stack, before) if r.method == "POST"]
    assert posts, "BuildKit did not retry with POST"
    assert posts[0].form["grant_type"] == ["password"]
    assert posts[0].form["username"] == ["u"]
    assert posts[0].form["scope"] == ["repository:someuser/custom-image:pull"]
