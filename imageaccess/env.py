"""Strict parsers for settings read from the environment.

A malformed value stops start-up with an ``ImproperlyConfigured`` that names the variable,
so an operator sees ``IMAGEACCESS_X must be ...`` instead of a traceback deep in a request.
Secrets may also come from ``NAME_FILE`` (a path whose contents are the value), as container
orchestrators mount them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class Env:
    """Reads typed values from an environment mapping (``os.environ`` by default)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ

    def raw(self, name: str) -> str | None:
        """Return the value of ``name``, or of the file named by ``NAME_FILE``, or ``None``."""
        value = self.environ.get(name)
        if value is not None:
            return value
        file_name = self.environ.get(f"{name}_FILE")
        if file_name:
            try:
                return Path(file_name).read_text().strip()
            except OSError as exc:
                raise ImproperlyConfigured(
                    f"{name}_FILE names {file_name!r}, which cannot be read: {exc.strerror}"
                ) from exc
        return None

    def string(self, name: str, default: str) -> str:
        """A string; an empty value counts as unset."""
        value = self.raw(name)
        return value if value else default

    def boolean(self, name: str, default: bool) -> bool:
        """A boolean spelled 1/0, true/false, yes/no or on/off."""
        value = self.raw(name)
        if value is None:
            return default
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ImproperlyConfigured(f"{name} must be 1 or 0 (true/false), not {value!r}")

    def integer(self, name: str, default: int, *, minimum: int | None = None) -> int:
        """A whole number, optionally at least ``minimum``."""
        value = self.raw(name)
        if value is None or value.strip() == "":
            return default
        try:
            number = int(value.strip())
        except ValueError:
            raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None
        if minimum is not None and number < minimum:
            raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {number}")
        return number

    def items(self, name: str, default: list[str]) -> list[str]:
        """A comma-separated list; blank items are dropped."""
        value = self.raw(name)
        if value is None:
            return list(default)
        return [item.strip() for item in value.split(",") if item.strip()]

    def url(self, name: str, *, schemes: tuple[str, ...]) -> str | None:
        """A URL whose scheme is one of ``schemes``, or ``None`` when unset."""
        value = self.raw(name)
        if not value:
            return None
        scheme, sep, rest = value.partition("://")
        if not sep or scheme not in schemes or not rest:
            expected = ", ".join(f"{s}://" for s in schemes)
            raise ImproperlyConfigured(f"{name} must be a URL starting with {expected}")
        return value

    def peppers(self, name: str, default: str) -> list[tuple[str, bytes]]:
        """Parse ``id:secret,id:secret`` (newest first) into ``[(id, secret_bytes)]``."""
        value = self.string(name, default)
        peppers: list[tuple[str, bytes]] = []
        for item in value.split(","):
            pepper_id, sep, secret = item.strip().partition(":")
            if not sep or not pepper_id or len(secret) < 16 or not pepper_id.isalnum():
                raise ImproperlyConfigured(
                    f"{name} must be a comma-separated list of id:secret pairs "
                    "(alphanumeric id, secret of at least 16 characters)"
                )
            peppers.append((pepper_id, secret.encode()))
        if len({pepper_id for pepper_id, _ in peppers}) != len(peppers):
            raise ImproperlyConfigured(f"{name} lists the same pepper id twice")
        return peppers

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        """One of ``choices``."""
        value = self.string(name, default)
        if value not in choices:
            raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, not {value!r}")
        return value
