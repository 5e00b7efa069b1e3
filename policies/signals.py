"""Bump the snapshot version whenever something a decision depends on changes.

Signals catch every path that saves or deletes through the ORM (services, the Django admin,
management commands); services that write with ``QuerySet.update`` call
``bump_snapshot_version`` themselves.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save

from orgs.models import Membership, Namespace, Organization
from policies.models import ImageAccessPolicy, PublisherNamespace, RepositoryException
from policies.snapshot_store import bump_snapshot_version

WATCHED = (
    Organization,
    Namespace,
    Membership,
    ImageAccessPolicy,
    RepositoryException,
    PublisherNamespace,
)


def _changed(sender: Any, **kwargs: Any) -> None:
    if kwargs.get("raw"):
        return  # loading fixtures
    bump_snapshot_version()


def connect() -> None:
    for model in WATCHED:
        post_save.connect(_changed, sender=model, dispatch_uid=f"snapshot-save-{model.__name__}")
        post_delete.connect(
            _changed, sender=model, dispatch_uid=f"snapshot-delete-{model.__name__}"
        )
