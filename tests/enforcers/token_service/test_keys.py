"""Unit tests for the token service's ``keys`` and ``jwt_tokens`` (no external programs)."""

from __future__ import annotations

import base64
import hashlib
import json
import multiprocessing
import os
import re
import stat
import time
from pathlib import Path

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from policies.enforcers.token_service.jwt_tokens import (
    MAX_SCOPES,
    Scope,
    ScopeError,
    error_body,
    issue_registry_token,
    parse_scopes,
    scopes_to_access,
    verify_registry_token,
)
from policies.enforcers.token_service.keys import (
    SigningKey,
    algorithm_for,
    build_cert_bundle,
    certificate_path_for,
    generate_private_key,
    libtrust_key_id,
    load_or_create_private_key,
    load_private_key,
    load_signing_key,
    make_self_signed_certificate,
)

KID_RE = re.compile(r"^[A-Z2-7]{4}(?::[A-Z2-7]{4}){11}$")

# A fixed P-256 key and its libtrust key id, derived independently with openssl/coreutils.
FIXED_EC_PEM = b"""-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQggeqNMvpSond6tdO4
hiOeCZ7jWQhZ8r99YnmXD+C/r8ChRANCAASODSXQB+y+ec44Je5xsAM+zG+UhTal
Jq/+AbA7VQtibeFOsBq+2GR5MOxquHBYOJ1DIBBDIWMxUvb92NsTGY7p
-----END PRIVATE KEY-----
"""
# Computed with: openssl pkey -pubout -outform DER | sha256sum | cut -c1-60 | xxd -r -p |
# base32 | tr -d '=\n' | fold -w4 | paste -sd:
FIXED_EC_KID = "AFLS:T45K:NP4I:XWRH:JNE7:5FKN:E5AO:3YTM:EJ24:GSEG:E4HO:LKBM"


def _reference_kid(public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey) -> str:
    # Straight from the libtrust definition, written differently from the implementation.
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    b32 = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode()
    assert "=" not in b32  # 240 bits encode to exactly 48 characters
    return ":".join(re.findall("....", b32))


# --------------------------------------------------------------------------------------------
# keys


def test_libtrust_key_id_format_and_value() -> None:
    key = serialization.load_pem_private_key(FIXED_EC_PEM, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    kid = libtrust_key_id(key.public_key())
    assert KID_RE.match(kid)
    assert kid == _reference_kid(key.public_key())
    assert len(kid.split(":")) == 12


def test_libtrust_key_id_known_answer(tmp_path: Path) -> None:
    path = tmp_path / "fixed.pem"
    path.write_bytes(FIXED_EC_PEM)
    assert libtrust_key_id(load_private_key(path).public_key()) == FIXED_EC_KID


def test_rsa_key_id_and_algorithm() -> None:
    key = generate_private_key("rsa")
    assert isinstance(key, rsa.RSAPrivateKey)
    assert algorithm_for(key) == "RS256"
    assert libtrust_key_id(key.public_key()) == _reference_kid(key.public_key())


def test_unsupported_curve_is_rejected(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(ValueError, match="P-256"):
        algorithm_for(key)
    path = tmp_path / "p384.key"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(ValueError, match="P-256"):
        load_private_key(path)


def test_unknown_key_type() -> None:
    with pytest.raises(ValueError, match="unknown key type"):
        generate_private_key("dsa")  # type: ignore[arg-type]


def test_create_key_on_first_use_with_private_permissions(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "token.key"
    key = load_or_create_private_key(path)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = load_or_create_private_key(path)
    assert libtrust_key_id(again.public_key()) == libtrust_key_id(key.public_key())
    # No temporary files left behind.
    assert sorted(p.name for p in path.parent.iterdir()) == ["token.key"]


def test_existing_key_is_used_whatever_its_type(tmp_path: Path) -> None:
    path = tmp_path / "rsa.key"
    first = load_or_create_private_key(path, key_type="rsa")
    second = load_or_create_private_key(path, key_type="ec")
    assert isinstance(second, rsa.RSAPrivateKey)
    assert libtrust_key_id(first.public_key()) == libtrust_key_id(second.public_key())


def test_load_traditional_and_encrypted_pem(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    sec1 = tmp_path / "sec1.pem"
    sec1.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    enc = tmp_path / "enc.pem"
    enc.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    kid = libtrust_key_id(key.public_key())
    assert libtrust_key_id(load_private_key(sec1).public_key()) == kid
    assert libtrust_key_id(load_private_key(enc, password=b"secret").public_key()) == kid


def _race_worker(path: str, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg,unused-ignore]
    signing = load_signing_key(path)
    queue.put((signing.kid, signing.cert_pem))


def test_concurrent_creation_yields_one_key(tmp_path: Path) -> None:
    path = tmp_path / "race" / "token.key"
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_race_worker, args=(str(path), queue)) for _ in range(6)]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    kids = {kid for kid, _ in results}
    assert len(kids) == 1
    on_disk = load_signing_key(path, create=False)
    assert on_disk.kid in kids
    # Every process's certificate matches the winning key.
    for _, pem in results:
        cert = x509.load_pem_x509_certificate(pem)
        assert libtrust_key_id(cert.public_key()) == on_disk.kid  # type: ignore[arg-type]
    assert sorted(p.name for p in path.parent.iterdir()) == ["token.crt", "token.key"]


def test_signing_key_and_certificate(tmp_path: Path) -> None:
    signing = load_signing_key(tmp_path / "token.key", common_name="imageaccess test")
    assert isinstance(signing, SigningKey)
    assert signing.algorithm == "ES256"
    assert KID_RE.match(signing.kid)
    cert_path = certificate_path_for(tmp_path / "token.key")
    assert cert_path == tmp_path / "token.crt"
    assert cert_path.read_bytes() == signing.cert_pem
    cert = x509.load_pem_x509_certificate(signing.cert_pem)
    assert cert.subject.rfc4514_string() == "CN=imageaccess test"
    assert cert.issuer == cert.subject
    assert libtrust_key_id(cert.public_key()) == signing.kid  # type: ignore[arg-type]
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert lifetime.days >= 3650
    # Signature verifies with its own public key (self-signed).
    cert.verify_directly_issued_by(cert)
    # Reloading reuses the same certificate file.
    assert load_signing_key(tmp_path / "token.key").cert_pem == signing.cert_pem


def test_certificate_regenerated_when_key_replaced(tmp_path: Path) -> None:
    first = load_signing_key(tmp_path / "token.key")
    (tmp_path / "token.key").unlink()
    second = load_signing_key(tmp_path / "token.key")
    assert second.kid != first.kid
    cert = x509.load_pem_x509_certificate((tmp_path / "token.crt").read_bytes())
    assert libtrust_key_id(cert.public_key()) == second.kid  # type: ignore[arg-type]


def test_create_false_requires_key(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_signing_key(tmp_path / "missing.key", create=False)


def test_cert_bundle_for_rotation(tmp_path: Path) -> None:
    current = load_signing_key(tmp_path / "current.key")
    previous = load_signing_key(tmp_path / "previous.key", key_type="rsa")
    other = make_self_signed_certificate(generate_private_key(), "other")
    multi = tmp_path / "multi.pem"
    multi.write_bytes(
        other.public_bytes(serialization.Encoding.PEM) + current.cert_pem  # duplicate current
    )
    bundle = build_cert_bundle(current.cert_pem, [tmp_path / "previous.crt", multi])
    certs = x509.load_pem_x509_certificates(bundle)
    kids = [libtrust_key_id(c.public_key()) for c in certs]  # type: ignore[arg-type]
    assert kids[0] == current.kid  # current first
    assert kids == [current.kid, previous.kid, libtrust_key_id(other.public_key())]  # type: ignore[arg-type]


def test_cert_bundle_rejects_non_certificates(tmp_path: Path) -> None:
    current = load_signing_key(tmp_path / "current.key")
    with pytest.raises(ValueError, match=r"current\.key"):
        build_cert_bundle(current.cert_pem, [tmp_path / "current.key"])


# --------------------------------------------------------------------------------------------
# tokens


@pytest.fixture(scope="module")
def ec_key(tmp_path_factory: pytest.TempPathFactory) -> SigningKey:
    """An ES256 signing key."""
    return load_signing_key(tmp_path_factory.mktemp("k") / "ec.key")


def test_issue_token_claims_and_header(ec_key: SigningKey) -> None:
    access = [{"type": "repository", "name": "library/nginx", "actions": ["pull"]}]
    now = 1_700_000_000
    body = issue_registry_token(
        key=ec_key,
        issuer="iss",
        service="registry",
        subject="alice",
        access=access,
        ttl=120,
        now=now + 0.7,
    )
    assert set(body) == {"token", "access_token", "expires_in", "issued_at"}
    assert body["token"] == body["access_token"]
    assert body["expires_in"] == 120
    assert body["issued_at"] == "2023-11-14T22:13:20Z"
    header = jwt.get_unverified_header(body["token"])
    assert header["alg"] == "ES256"
    assert header["kid"] == ec_key.kid
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert claims["iss"] == "iss"
    assert claims["sub"] == "alice"
    assert claims["aud"] == "registry"  # a string, never a list
    assert claims["iat"] == claims["nbf"] == now
    assert claims["exp"] == now + 120
    assert claims["access"] == access
    assert isinstance(claims["jti"], str)
    assert len(claims["jti"]) >= 16


def test_tokens_verify_and_have_unique_jti(ec_key: SigningKey) -> None:
    kwargs = {"key": ec_key, "issuer": "i", "service": "s", "subject": "", "access": []}
    first = issue_registry_token(**kwargs)  # type: ignore[arg-type]
    second = issue_registry_token(**kwargs)  # type: ignore[arg-type]
    c1 = verify_registry_token(
        first["token"], public_key=ec_key.public_key, issuer="i", service="s"
    )
    c2 = verify_registry_token(
        second["token"], public_key=ec_key.public_key, issuer="i", service="s"
    )
    assert c1["jti"] != c2["jti"]
    assert c1["access"] == []
    with pytest.raises(jwt.InvalidAudienceError):
        verify_registry_token(first["token"], public_key=ec_key.public_key, issuer="i", service="x")


def test_rs256_token(tmp_path: Path) -> None:
    key = load_signing_key(tmp_path / "rsa.key", key_type="rsa")
    body = issue_registry_token(key=key, issuer="i", service="s", subject="u", access=[])
    assert jwt.get_unverified_header(body["token"])["alg"] == "RS256"
    verify_registry_token(body["token"], public_key=key.public_key, issuer="i", service="s")


def test_expired_token_fails_verification(ec_key: SigningKey) -> None:
    body = issue_registry_token(
        key=ec_key, issuer="i", service="s", subject="u", access=[], ttl=10, now=time.time() - 200
    )
    with pytest.raises(jwt.ExpiredSignatureError):
        verify_registry_token(body["token"], public_key=ec_key.public_key, issuer="i", service="s")


def test_ttl_must_be_positive(ec_key: SigningKey) -> None:
    with pytest.raises(ValueError, match="ttl"):
        issue_registry_token(key=ec_key, issuer="i", service="s", subject="u", access=[], ttl=0)


def test_tokens_are_es256_by_default_with_a_raw_64_byte_signature(ec_key: SigningKey) -> None:
    # ES256 (P-256) signs in about 0.02 ms here against about 1 ms for RSA-2048: the default.
    assert isinstance(ec_key.private_key, ec.EllipticCurvePrivateKey)
    assert isinstance(ec_key.private_key.curve, ec.SECP256R1)
    body = issue_registry_token(key=ec_key, issuer="i", service="s", subject="u", access=[])
    header, _claims, signature = body["token"].split(".")
    assert "=" not in body["token"]  # base64url without padding, as JWS requires
    # RFC 7518 section 3.4: r || s, 32 bytes each (not the DER that cryptography returns).
    assert len(base64.urlsafe_b64decode(signature + "==")) == 64
    assert json.loads(base64.urlsafe_b64decode(header + "==")) == {
        "alg": "ES256",
        "typ": "JWT",
        "kid": ec_key.kid,
    }


# --------------------------------------------------------------------------------------------
# scopes


def test_parse_simple_scope() -> None:
    assert parse_scopes(["repository:library/nginx:pull"]) == [
        Scope("repository", "library/nginx", ("pull",))
    ]


def test_parse_merges_duplicates_and_space_separated_values() -> None:
    scopes = parse_scopes(
        [
            "repository:library/nginx:pull",
            "repository:someuser/app:pull,push repository:library/nginx:push,pull",
            "",
        ]
    )
    assert scopes == [
        Scope("repository", "library/nginx", ("pull", "push")),
        Scope("repository", "someuser/app", ("pull", "push")),
    ]


def test_parse_name_with_registry_port() -> None:
    (scope,) = parse_scopes(["repository:localhost:5000/team/app:pull"])
    assert scope.name == "localhost:5000/team/app"
    assert scope.actions == ("pull",)


def test_parse_resource_class() -> None:
    (scope,) = parse_scopes(["repository(plugin):vieux/sshfs:pull"])
    assert scope == Scope("repository", "vieux/sshfs", ("pull",), "plugin")
    assert str(scope) == "repository(plugin):vieux/sshfs:pull"
    assert scope.to_access() == {
        "type": "repository",
        "class": "plugin",
        "name": "vieux/sshfs",
        "actions": ["pull"],
    }
    # A class makes a different resource: not merged with the plain one.
    assert len(parse_scopes(["repository(plugin):a/b:pull", "repository:a/b:pull"])) == 2


def test_parse_other_resource_types_kept() -> None:
    assert parse_scopes(["registry:catalog:*"]) == [Scope("registry", "catalog", ("*",))]


def test_scopes_to_access() -> None:
    scopes = parse_scopes(["repository:library/nginx:pull", "repository:a/b:push"])
    assert scopes_to_access(scopes) == [
        {"type": "repository", "name": "library/nginx", "actions": ["pull"]},
        {"type": "repository", "name": "a/b", "actions": ["push"]},
    ]


@pytest.mark.parametrize(
    "bad",
    [
        "repository",
        "repository:library/nginx",
        "repository::pull",
        ":library/nginx:pull",
        "Repository:library/nginx:pull",
        "repository(:library/nginx:pull",
        "repository:Library/Nginx:pull",
        "repository:library//nginx:pull",
        "repository:library/nginx/:pull",
        "repository:-lead/x:pull",
        "repository:library/nginx:",
        "repository:library/nginx:pull,",
        "repository:library/nginx:PULL",
        "repository:library/nginx@sha256:abc:pull",
        "repository:" + "a" * 300 + ":pull",
    ],
)
def test_parse_rejects_malformed(bad: str) -> None:
    with pytest.raises(ScopeError, match="malformed scope"):
        parse_scopes([bad])


def test_parse_limits_scope_count() -> None:
    values = [f"repository:a/b{i}:pull" for i in range(MAX_SCOPES + 1)]
    with pytest.raises(ScopeError, match="too many"):
        parse_scopes(values)
    assert len(parse_scopes(values[:MAX_SCOPES])) == MAX_SCOPES


def test_error_body() -> None:
    assert error_body("DENIED", "no") == {"errors": [{"code": "DENIED", "message": "no"}]}


def test_no_django_import() -> None:
    # keys.py and jwt_tokens.py must stay importable without Django settings.
    import subprocess
    import sys

    code = (
        "import sys, policies.enforcers.token_service.keys, "
        "policies.enforcers.token_service.jwt_tokens; "
        "sys.exit(1 if 'django' in sys.modules else 0)"
    )
    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": str(root)}
    assert subprocess.run([sys.executable, "-c", code], env=env, cwd=root).returncode == 0
