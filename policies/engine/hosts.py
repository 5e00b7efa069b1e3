"""Registry host names as a daemon reaches them: Docker Hub's spellings, case and port."""

from __future__ import annotations

# Docker Hub answers under several host names; a pull spelled with any of them is governed
# the same, so spelling the host differently cannot slip past a policy. The parser folds only
# the exact ``index.docker.io`` into ``docker.io`` (as Docker does); every other spelling is
# folded by ``registry_host`` before it is compared.
DOCKER_HUB_HOSTS = frozenset(
    {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}
)
DOCKER_HUB = "docker.io"
HTTPS_PORT = 443


def registry_host(domain: str) -> str:
    """The host a daemon connects to for ``domain``: lower case, without the default port.

    DNS and TLS ignore case, and a daemon reaches a registry over HTTPS, whose default port is
    443; Go parses the port as a number, so ``:443`` and ``:0443`` name the same port. Any
    other port is kept as written (``localhost:5000``).
    """
    host, sep, port = domain.lower().rpartition(":")
    if sep and port.isascii() and port.isdigit() and int(port) == HTTPS_PORT:
        return host
    return domain.lower()


def is_docker_hub(domain: str) -> bool:
    """Whether a daemon would fetch from Docker Hub for a reference under ``domain``."""
    return registry_host(domain) in DOCKER_HUB_HOSTS
