"""Registry token service building blocks: signing keys and registry bearer tokens.

Pure Python (no Django); the Django views and settings wiring live elsewhere.
"""

from policies.registry.jwt_tokens import (
    Scope,
    ScopeError,
    error_body,
    issue_registry_token,
    parse_scopes,
    scopes_to_access,
    verify_registry_token,
)
from policies.registry.keys import (
    SigningKey,
    build_cert_bundle,
    libtrust_key_id,
    load_or_create_private_key,
    load_private_key,
    load_signing_key,
    make_self_signed_certificate,
)

__all__ = [
    "Scope",
    "ScopeError",
    "SigningKey",
    "build_cert_bundle",
    "error_body",
    "issue_registry_token",
    "libtrust_key_id",
    "load_or_create_private_key",
    "load_private_key",
    "load_signing_key",
    "make_self_signed_certificate",
    "parse_scopes",
    "scopes_to_access",
    "verify_registry_token",
]
