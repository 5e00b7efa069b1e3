"""Credentials in an ``Authorization`` header: one reading for every endpoint that takes them.

``Bearer <token>``, or ``Basic`` with base64 of ``username:token`` as ``docker login`` sends it.
The decision API accepts both (``orgs.authentication``); the registry token service, which
registries and Docker clients call with Basic only, reads Basic. A header that names one of
these schemes but does not follow it is refused with a ``TokenError``; no header, or another
scheme, means no credentials.
"""

from __future__ import annotations

import base64
import binascii

from orgs.tokens import GENERIC_FAILURE, TokenError

MALFORMED_BASIC = "malformed Basic credentials: expected base64 of username:token"


def _split(header: str | bytes) -> tuple[bytes, bytes]:
    raw = header if isinstance(header, bytes) else header.encode("latin-1", "replace")
    scheme, _, value = raw.partition(b" ")
    return scheme.lower(), value.strip()


def basic_credentials(header: str | bytes) -> tuple[str, str] | None:
    """``(username, secret)`` of a Basic header; ``None`` without one.

    Both parts must be present: an empty username or secret is refused like a wrong one.
    """
    scheme, value = _split(header)
    if scheme != b"basic":
        return None
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise TokenError(MALFORMED_BASIC, code="invalid_credentials") from None
    username, sep, secret = decoded.partition(":")
    if not sep or not username or not secret:
        raise TokenError(GENERIC_FAILURE, code="invalid_credentials")
    return username, secret


def authorization_credentials(header: str | bytes) -> tuple[str | None, str] | None:
    """``(username or None, secret)`` of a Bearer or Basic header; ``None`` without one."""
    scheme, value = _split(header)
    if scheme == b"bearer":
        if not value or b" " in value:
            raise TokenError(GENERIC_FAILURE, code="invalid_credentials")
        return None, value.decode("latin-1")
    return basic_credentials(header)
