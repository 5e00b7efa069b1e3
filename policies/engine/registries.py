"""Registry allowlist entries: how one is written, checked and matched against a reference.

An entry is a host name with an optional port (``ghcr.io``, ``registry.local:5000``), or
``*.example.com`` for every subdomain of ``example.com`` (never ``example.com`` itself nor
``badexample.com``). ``docker.io`` stands for Docker Hub under every one of its host names.
Hosts compare as a daemon reaches them: without regard to case, and with the default HTTPS
port folded away, so ``GHCR.IO:443`` is ``ghcr.io``; any other port must be named.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from policies.engine.hosts import DOCKER_HUB, HTTPS_PORT, is_docker_hub, registry_host

# A DNS label: letters, digits and inner hyphens, at most 63 characters.
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_PORT = re.compile(r"[0-9]{1,5}")
MAX_ENTRY_LENGTH = 253 + 6


class RegistryEntryError(ValueError):
    """An allowlist entry that names no registry host; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class RegistryRule:
    """One allowlist entry, normalized: ``host`` in lower case, the default port folded."""

    host: str  # without the leading "*." of a wildcard
    port: str = ""  # "" for the default port
    wildcard: bool = False

    @property
    def text(self) -> str:
        """The entry as stored and shown (``*.example.com``, ``registry.local:5000``)."""
        host = f"*.{self.host}" if self.wildcard else self.host
        return f"{host}:{self.port}" if self.port else host

    def allows(self, domain: str) -> bool:
        """Whether an image under the registry ``domain`` (as a reference spells it) is allowed."""
        if self.host == DOCKER_HUB and not self.wildcard and not self.port:
            return is_docker_hub(domain)
        host, port = _split(registry_host(domain))
        if port != self.port:
            return False
        if self.wildcard:
            return host.endswith("." + self.host)
        return host == self.host


def _split(host: str) -> tuple[str, str]:
    """``(host, port)``; bracketed IPv6 addresses keep their brackets."""
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            return host, ""
        return host[: end + 1], host[end + 2 :] if host[end + 1 : end + 2] == ":" else ""
    name, sep, port = host.rpartition(":")
    return (name, port) if sep else (host, "")


def parse_registry_entry(text: str) -> RegistryRule:
    """Check and normalize one entry; ``RegistryEntryError`` says what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise RegistryEntryError("a registry must be a host name such as ghcr.io")
    entry = text.strip()
    if len(entry) > MAX_ENTRY_LENGTH:
        raise RegistryEntryError(f"a registry host has at most {MAX_ENTRY_LENGTH} characters")
    if "/" in entry or "@" in entry or "://" in entry or any(c.isspace() for c in entry):
        raise RegistryEntryError(
            f"{entry!r} is not a registry host: give the host name only, such as ghcr.io "
            "(no scheme, path or spaces)"
        )
    wildcard = entry.startswith("*.")
    host, port = _split(registry_host(entry[2:] if wildcard else entry))
    if port and (not _PORT.fullmatch(port) or not 0 < int(port) < 65536):
        raise RegistryEntryError(f"{entry!r} has an invalid port: use a number from 1 to 65535")
    if port:
        port = "" if int(port) == HTTPS_PORT else str(int(port))
    if host.startswith("["):
        if wildcard:
            raise RegistryEntryError(f"{entry!r}: a wildcard needs a domain name, not an address")
        try:
            if not host.endswith("]"):
                raise ValueError(host)
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise RegistryEntryError(f"{entry!r} is not a valid IPv6 address") from None
    elif not _HOST.fullmatch(host) or host.isdigit():
        raise RegistryEntryError(
            f"{entry!r} is not a valid host name: letters, digits, hyphens and dots only"
        )
    elif wildcard and "." not in host:
        raise RegistryEntryError(
            f"{entry!r} would allow every host under a top-level domain: name a domain"
        )
    if is_docker_hub(host) and not wildcard and not port:
        host = DOCKER_HUB  # one entry for every spelling of Docker Hub
    return RegistryRule(host=host, port=port, wildcard=wildcard)


DOCKER_HUB_RULE = RegistryRule(host=DOCKER_HUB)


def registry_allowed(rules: tuple[RegistryRule, ...], domain: str) -> bool:
    """Whether any of ``rules`` allows an image from ``domain``."""
    return any(rule.allows(domain) for rule in rules)


def display_host(domain: str) -> str:
    """The registry as a denial names it: as written, lower case, port kept."""
    return domain.lower()
