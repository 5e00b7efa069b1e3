"""Template context shared by every page: the signed-in user's organizations."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from orgs.models import Membership


def organizations(request: HttpRequest) -> dict[str, Any]:
    """The user's memberships for the organization switcher, evaluated lazily."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "my_memberships": Membership.objects.filter(user=user).select_related("org"),
        "current_org": getattr(request, "org", None),
    }
