"""Roles and what each may do: the one place that maps roles to capabilities."""

from __future__ import annotations

import enum

from django.db import models


class Role(models.TextChoices):
    """Organization roles, ordered ``member < editor < owner``."""

    MEMBER = "member", "Member"
    EDITOR = "editor", "Editor"
    OWNER = "owner", "Owner"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Role.MEMBER: 0, Role.EDITOR: 1, Role.OWNER: 2}


class Capability(enum.StrEnum):
    """Something a view may require of the caller's membership."""

    VIEW = "view"  # see the org, its policy, exceptions and members
    MANAGE_POLICY = "manage_policy"  # change image access settings and exceptions
    MANAGE_MEMBERS = "manage_members"  # invite, change roles, remove
    VIEW_ACTIVITY = "view_activity"  # read the activity log and usage
    MANAGE_REQUESTS = "manage_requests"  # approve or decline access requests


ROLE_CAPABILITIES: dict[Role, frozenset[Capability]] = {
    Role.MEMBER: frozenset({Capability.VIEW}),
    Role.EDITOR: frozenset({Capability.VIEW}),
    Role.OWNER: frozenset(Capability),
}


def role_can(role: str, capability: Capability) -> bool:
    """Whether ``role`` grants ``capability``."""
    return capability in ROLE_CAPABILITIES[Role(role)]
