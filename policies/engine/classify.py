"""Classify an image reference into an image type."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from policies.engine.hosts import (
    DOCKER_HUB,
    DOCKER_HUB_HOSTS,
    HTTPS_PORT,
    is_docker_hub,
    registry_host,
)
from policies.engine.reference import Reference
from policies.engine.snapshots import CatalogSnapshot

__all__ = [
    "DOCKER_HUB",
    "DOCKER_HUB_HOSTS",
    "HTTPS_PORT",
    "Category",
    "Classification",
    "classify",
    "classify_hub",
    "hub_path",
    "is_docker_hub",
    "registry_host",
]


class Category(enum.StrEnum):
    """Image types, as the policy names them."""

    OFFICIAL = "official"
    ORGANIZATION = "organization"
    VERIFIED_PUBLISHER = "verified_publisher"
    COMMUNITY = "community"
    OTHER_REGISTRY = "other_registry"

    @property
    def label(self) -> str:
        """Words used in denial messages (``official``, ``verified publisher``, ...)."""
        return self.value.replace("_", " ")


@dataclass(frozen=True, slots=True)
class Classification:
    """Where an image comes from and which type it is for one organization."""

    category: Category
    namespace: str | None  # Docker Hub namespace, None for other registries
    name: str | None  # repository name below the namespace
    sponsored_oss: bool = False

    @property
    def hub_repository(self) -> str | None:
        """``namespace/name`` on Docker Hub, or None for other registries."""
        return None if self.namespace is None else f"{self.namespace}/{self.name}"


def hub_path(reference: Reference) -> tuple[str, str] | None:
    """``(namespace, name)`` when ``reference`` is a Docker Hub image, else None.

    Docker Hub spells official images ``library/NAME``; a single-component path under one of
    Hub's other host names means the same (``registry-1.docker.io/nginx`` is ``library/nginx``).
    Every spelling of a Hub host counts (``REGISTRY-1.DOCKER.IO:443/x`` is Hub's ``x``).
    """
    if not is_docker_hub(reference.domain):
        return None
    namespace, sep, name = reference.path.partition("/")
    if not sep:
        return "library", namespace
    return namespace, name


def classify_hub(
    namespace: str, name: str, *, org_namespaces: frozenset[str], catalog: CatalogSnapshot
) -> Classification:
    """Classify the Docker Hub repository ``namespace/name`` for one organization."""
    if namespace == "library":
        category = Category.OFFICIAL
    elif namespace in org_namespaces:
        category = Category.ORGANIZATION
    elif namespace in catalog.verified_publishers:
        category = Category.VERIFIED_PUBLISHER
    else:
        return Classification(
            Category.COMMUNITY, namespace, name, sponsored_oss=namespace in catalog.sponsored_oss
        )
    return Classification(category, namespace, name)


def classify(
    reference: Reference, *, org_namespaces: frozenset[str], catalog: CatalogSnapshot
) -> Classification:
    """Classify a parsed reference for an organization owning ``org_namespaces``."""
    path = hub_path(reference)
    if path is None:
        return Classification(Category.OTHER_REGISTRY, None, None)
    return classify_hub(*path, org_namespaces=org_namespaces, catalog=catalog)
