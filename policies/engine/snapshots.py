"""Immutable inputs of a decision: what the engine knows about organizations and the catalog.

Loaded from the database by ``policies.snapshot_store`` and cached by version; the engine only
reads them, so one snapshot serves every request until a write bumps its version.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from policies.engine.registries import DOCKER_HUB_RULE, RegistryRule


@dataclass(frozen=True, slots=True)
class PolicySnapshot:
    """An organization's image access settings. Organization images are always allowed."""

    enabled: bool = False
    allow_official: bool = True
    allow_verified_publisher: bool = True
    allow_community: bool = False
    audit_mode: bool = False
    block_image_load: bool = False
    version: int = 1


@dataclass(frozen=True, slots=True)
class ExceptionSnapshot:
    """An owner-granted allowance for ``namespace/name`` or, with ``name == "*"``, a namespace."""

    id: int
    namespace: str
    name: str
    expires_at: dt.datetime | None = None

    def matches(self, namespace: str, name: str, now: dt.datetime) -> bool:
        if self.expires_at is not None and self.expires_at <= now:
            return False
        return self.namespace == namespace and self.name in ("*", name)


@dataclass(frozen=True, slots=True)
class RegistryAccessSnapshot:
    """An organization's registry allowlist; off, every registry is allowed."""

    enabled: bool = False
    rules: tuple[RegistryRule, ...] = (DOCKER_HUB_RULE,)


@dataclass(frozen=True, slots=True)
class OrgSnapshot:
    """Everything a decision needs to know about one organization."""

    id: int
    slug: str
    business: bool
    enforce_sign_in: bool
    policy: PolicySnapshot
    namespaces: frozenset[str]
    exceptions: tuple[ExceptionSnapshot, ...] = ()
    roles: Mapping[int, str] = field(default_factory=dict)  # user id -> role
    registry_access: RegistryAccessSnapshot = RegistryAccessSnapshot()

    @property
    def in_effect(self) -> bool:
        """Whether this organization's policy governs anything at all."""
        return self.business and self.policy.enabled

    def role_of(self, user_id: int | None) -> str | None:
        return None if user_id is None else self.roles.get(user_id)


@dataclass(frozen=True, slots=True)
class CatalogSnapshot:
    """Publisher namespaces known to the platform (Verified Publisher, Sponsored OSS)."""

    verified_publishers: frozenset[str] = frozenset()
    sponsored_oss: frozenset[str] = frozenset()
