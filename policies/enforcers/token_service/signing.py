"""The process's registry signing key, loaded from settings once and kept in memory."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from policies.enforcers.token_service.keys import SigningKey, build_cert_bundle, load_signing_key


@lru_cache(maxsize=1)
def signing_key() -> SigningKey:
    """The signing key named by ``IMAGEACCESS_REGISTRY_KEY_FILE``, created on first use."""
    try:
        key_type: Literal["ec", "rsa"] = "rsa" if settings.REGISTRY_KEY_TYPE == "rsa" else "ec"
        return load_signing_key(settings.REGISTRY_KEY_FILE, key_type=key_type)
    except (OSError, ValueError) as exc:
        raise ImproperlyConfigured(
            f"IMAGEACCESS_REGISTRY_KEY_FILE ({settings.REGISTRY_KEY_FILE}) cannot be used: {exc}"
        ) from exc


def certificate_bundle() -> bytes:
    """PEM certificates the registry must trust: ours plus any published for rotation."""
    try:
        return build_cert_bundle(signing_key().cert_pem, settings.REGISTRY_EXTRA_CERTS)
    except (OSError, ValueError) as exc:
        raise ImproperlyConfigured(f"IMAGEACCESS_REGISTRY_EXTRA_CERTS: {exc}") from exc
