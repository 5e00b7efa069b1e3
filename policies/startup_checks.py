"""Checks of the policy configuration, run at server start-up (``imageaccess.startup``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core import checks
from django.db import DatabaseError

from imageaccess.startup import startup_checks
from orgs.models import Organization
from policies.decision_service import named_org_slugs


@startup_checks.register()
def registry_orgs_exist(
    app_configs: Any = None, databases: Sequence[str] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Every organization ``IMAGEACCESS_REGISTRY_ORGS`` names must exist.

    A name that matches no organization would make the token service decide as if no
    organization were named; the server refuses to start instead. When the database cannot
    be read (or has no tables yet) nothing can be verified: the token service then refuses
    the unknown name on each request.
    """
    slugs = named_org_slugs(settings.REGISTRY_ORGS)
    if not slugs:
        return []
    try:
        found = set(Organization.objects.filter(slug__in=slugs).values_list("slug", flat=True))
    except DatabaseError:
        return []
    return [
        checks.Error(
            f"IMAGEACCESS_REGISTRY_ORGS names unknown organization: {slug}",
            hint="name existing organizations by their slug, or leave the variable empty",
            id="policies.E001",
        )
        for slug in slugs
        if slug not in found
    ]
