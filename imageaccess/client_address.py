"""The address of the client behind a request: one function for every place that needs it.

Failure limits, sign-in rate limits and decision events all count or record this address.
Behind reverse proxies the peer (``REMOTE_ADDR``) is the nearest proxy, shared by everyone,
so the client is read from ``X-Forwarded-For``; but a client can write that header itself, so
only the entries the operator's own proxies appended are trusted: with
``IMAGEACCESS_BEHIND_PROXY=N`` (``settings.TRUSTED_PROXY_COUNT``), the N-th entry from the
right is the address the outermost trusted proxy saw. With 0 (the default) the header is
ignored.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Mapping
from typing import Any, Protocol

from django.conf import settings


class _Request(Protocol):
    """A Django ``HttpRequest`` or a DRF ``Request`` (which forwards ``META``)."""

    @property
    def META(self) -> Mapping[str, Any]: ...


def client_address(request: _Request) -> str | None:
    """The client's IP address in canonical form, or ``None`` when it cannot be told.

    The forwarded entry is used only when it is a well-formed address and the header has at
    least as many entries as there are trusted proxies (fewer means the request did not come
    through all of them); otherwise the peer address counts. IPv4-mapped IPv6 addresses are
    written as IPv4, so one client never has two spellings.
    """
    trusted: int = settings.TRUSTED_PROXY_COUNT
    if trusted > 0:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            hops = forwarded.split(",")
            if len(hops) >= trusted:
                address = canonical_address(hops[-trusted])
                if address is not None:
                    return address
    return canonical_address(request.META.get("REMOTE_ADDR", ""))


# Enforcers call from a handful of addresses many times a second: parsing costs microseconds,
# a cached answer a fraction of one.
@functools.lru_cache(maxsize=4096)
def canonical_address(value: str) -> str | None:
    """``value`` as a canonical IP address string, or ``None`` if it is not one.

    Accepts what proxies write: surrounding spaces, ``a.b.c.d:port``, ``[v6]:port`` and a
    zone suffix (``fe80::1%eth0``), which is dropped because it only means something on the
    host that wrote it.
    """
    text = value.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]  # IPv4 with a port
    text = text.partition("%")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)
