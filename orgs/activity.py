"""The audit trail: every change to tenant data goes through ``log_action``."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import transaction

from orgs.models import ActivityLog, Organization, PersonalAccessToken


def log_action(
    *,
    actor: User | None,
    org: Organization | None,
    action: str,
    target: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    token: PersonalAccessToken | None = None,
) -> ActivityLog:
    """Record ``action`` (a namespaced code such as ``policy.updated``).

    Must run inside the transaction that makes the change, so the log and the change
    commit or roll back together.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("log_action must be called inside the change's transaction")
    return ActivityLog.objects.create(
        org=org,
        actor=actor if actor is not None and actor.is_authenticated else None,
        actor_token=token,
        action=action,
        target=target[:255],
        before=before,
        after=after,
    )
