"""Registry bearer tokens (Docker token auth) and scope parsing.

The registry (CNCF distribution 2.8, ``auth: token``) sends clients to our realm with a
``scope`` such as ``repository:library/nginx:pull``; the realm answers with a JWT that lists the
granted ``access``. Facts this module relies on (measured, see DESIGN.md section 8 and
docs/registry-notes.md):

- header ``alg`` ES256 or RS256 and ``kid`` = libtrust key id of the signing key;
- ``aud`` must be a single string (2.8 rejects an array as malformed);
- ``exp`` is required; ``access`` names must be exact repository names.

Pure Python on purpose: no Django import. Callers pass keys and names explicitly.
"""

from __future__ import annotations

import base64
import re
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jwt
import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from policies.enforcers.token_service.keys import PublicKey, SigningKey
from policies.engine.reference import NAME_TOTAL_LENGTH_MAX, is_repository_name

__all__ = [
    "MAX_SCOPES",
    "Scope",
    "ScopeError",
    "error_body",
    "issue_registry_token",
    "parse_scopes",
    "scopes_to_access",
    "verify_registry_token",
]

# A request naming more scopes than this is abuse, not a pull (docker sends 1-2, BuildKit and
# cross-repository mounts a handful). Bounds the work per token request.
MAX_SCOPES = 64
_ES256 = ec.ECDSA(hashes.SHA256())

# Resource type with optional class, as in distribution's splitResourceClass:
# ``repository`` or ``repository(plugin)``.
_TYPE_RE = re.compile(r"^([a-z0-9]+)(?:\(([a-z0-9]+)\))?$")
_ACTION_RE = re.compile(r"^(?:[a-z]+|\*)$")


class ScopeError(ValueError):
    """A scope string that does not follow ``type[(class)]:name:action[,action...]``."""


@dataclass(frozen=True)
class Scope:
    """One requested resource scope, e.g. ``repository:library/nginx:pull,push``.

    ``resource_class`` is the optional class of ``repository(plugin):name:pull``; it is kept so
    the granted access can echo exactly what the registry asked for.
    """

    type: str
    name: str
    actions: tuple[str, ...]
    resource_class: str = ""

    def to_access(self) -> dict[str, Any]:
        """Return the JWT ``access`` entry granting all of this scope's actions."""
        entry: dict[str, Any] = {
            "type": self.type,
            "name": self.name,
            "actions": list(self.actions),
        }
        if self.resource_class:
            # distribution's ResourceActions carries it as "class" (omitempty).
            entry["class"] = self.resource_class
        return entry

    def __str__(self) -> str:
        kind = f"{self.type}({self.resource_class})" if self.resource_class else self.type
        return f"{kind}:{self.name}:{','.join(self.actions)}"


def _parse_one(text: str) -> Scope:
    # Type ends at the first ':' and actions start after the last one; whatever is between is
    # the name, which may itself contain a ':' before a port (``localhost:5000/app``).
    first, last = text.find(":"), text.rfind(":")
    if first < 0 or first == last:
        raise ScopeError(f"malformed scope {text!r}: expected type:name:actions")
    type_part, name, actions_part = text[:first], text[first + 1 : last], text[last + 1 :]
    type_match = _TYPE_RE.match(type_part)
    if not type_match:
        raise ScopeError(f"malformed scope {text!r}: bad resource type {type_part!r}")
    if not name or len(name) > NAME_TOTAL_LENGTH_MAX:
        raise ScopeError(f"malformed scope {text!r}: empty or overlong resource name")
    rtype = type_match.group(1)
    # Only repository names have a fixed grammar; other types (``registry:catalog:*``) are
    # kept as they are for the caller to accept or refuse.
    if rtype == "repository" and not is_repository_name(name):
        raise ScopeError(f"malformed scope {text!r}: invalid repository name {name!r}")
    actions = tuple(a for a in actions_part.split(","))
    if not actions or any(not _ACTION_RE.match(a) for a in actions):
        raise ScopeError(f"malformed scope {text!r}: bad actions {actions_part!r}")
    return Scope(rtype, name, actions, type_match.group(2) or "")


def parse_scopes(values: Iterable[str]) -> list[Scope]:
    """Parse Docker scope strings into :class:`Scope` objects.

    ``values`` are the ``scope`` parameters of a token request: GET repeats the parameter, the
    OAuth2 POST form may put several scopes in one value separated by spaces; both are accepted.
    Scopes for the same resource (type, class, name) are merged, actions deduplicated in first
    seen order; resources keep their first-seen order. Empty values are ignored (``docker
    login`` sends none). Raises :class:`ScopeError` on the first malformed scope.
    """
    merged: dict[tuple[str, str, str], list[str]] = {}
    count = 0
    for value in values:
        for text in value.split():
            count += 1
            if count > MAX_SCOPES:
                raise ScopeError(f"too many scopes (more than {MAX_SCOPES})")
            scope = _parse_one(text)
            key = (scope.type, scope.resource_class, scope.name)
            actions = merged.setdefault(key, [])
            actions.extend(a for a in scope.actions if a not in actions)
    return [
        Scope(rtype, name, tuple(actions), rclass)
        for (rtype, rclass, name), actions in merged.items()
    ]


def scopes_to_access(scopes: Iterable[Scope]) -> list[dict[str, Any]]:
    """Return JWT ``access`` entries granting each scope in full (filter scopes first)."""
    return [s.to_access() for s in scopes]


def _rfc3339(timestamp: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def _b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


@lru_cache(maxsize=16)
def _protected_header(algorithm: str, kid: str) -> bytes:
    return _b64url(orjson.dumps({"alg": algorithm, "typ": "JWT", "kid": kid}))


def _jws_compact(key: SigningKey, payload: bytes) -> str:
    """The JWS compact serialization of ``payload`` (RFC 7515), signed with ``key``.

    Written out rather than through ``jwt.encode`` because a token is signed on every pull:
    the header is encoded once per key, the claims by orjson (about a third of PyJWT's cost
    besides the signature itself). PyJWT verifies these tokens in the tests, and the real
    registry in the end-to-end tests.
    """
    signing_input = _protected_header(key.algorithm, key.kid) + b"." + _b64url(payload)
    private_key = key.private_key
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        # RFC 7518 section 3.4: ES256 carries r and s as two 32-byte big-endian integers.
        r, s = decode_dss_signature(private_key.sign(signing_input, _ES256))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    else:
        signature = private_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return (signing_input + b"." + _b64url(signature)).decode("ascii")


def issue_registry_token(
    *,
    key: SigningKey,
    issuer: str,
    service: str,
    subject: str,
    access: Sequence[Mapping[str, Any]],
    ttl: int = 300,
    now: float | None = None,
) -> dict[str, Any]:
    """Sign a registry bearer token and return the token endpoint's JSON response body.

    ``service`` becomes ``aud`` (a single string: registry 2.8 rejects a list). ``access`` is
    the list of granted ``{"type", "name", "actions"}`` entries with exact repository names; an
    empty list is a valid token that grants nothing (the spec's way to deny). ``subject`` may be
    empty for anonymous callers. Returns ``{"token", "access_token", "expires_in",
    "issued_at"}``: both token fields, because older clients read ``token`` and OAuth2 clients
    ``access_token``.
    """
    if ttl <= 0:
        raise ValueError("ttl must be positive")
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": subject,
        "aud": service,
        "exp": issued + ttl,
        "nbf": issued,
        "iat": issued,
        "jti": secrets.token_urlsafe(18),
        "access": [{**entry, "actions": list(entry.get("actions", ()))} for entry in access],
    }
    token = _jws_compact(key, orjson.dumps(claims))
    return {
        "token": token,
        "access_token": token,
        "expires_in": ttl,
        "issued_at": _rfc3339(issued),
    }


def verify_registry_token(
    token: str,
    *,
    public_key: PublicKey,
    issuer: str,
    service: str,
    leeway: int = 60,
) -> dict[str, Any]:
    """Verify ``token`` the way the registry does and return its claims (for tests and tools).

    Checks signature (ES256/RS256), ``iss``, ``aud``, ``exp`` and ``nbf`` with the registry's
    60 s leeway. Raises :class:`jwt.InvalidTokenError` subclasses on failure.
    """
    return jwt.decode(
        token,
        public_key,
        algorithms=["ES256", "RS256"],
        issuer=issuer,
        audience=service,
        leeway=leeway,
        options={"require": ["exp", "iss", "aud"]},
    )


def error_body(code: str, message: str) -> dict[str, Any]:
    """Return a distribution-style error body, e.g. ``error_body("DENIED", "...")``.

    Served with HTTP 401 from the token endpoint, the message reaches the user: skopeo and
    ``docker pull`` print it after ``denied:`` (a 403 loses it).
    """
    return {"errors": [{"code": code, "message": message}]}
