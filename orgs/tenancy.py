"""Resolving the request's organization and membership: the one place tenancy is decided.

Pages use ``OrgMixin``, or the console's base classes built on it (``ConsoleMixin`` for pages,
``OrgActionView`` for POST-only actions), in ``orgs`` and ``policies.console`` alike; the API
uses views built on ``OrgAPIView``. A non-member gets 404 (the organization's existence is not
revealed); a member lacking the capability a view declares gets 403.
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib.auth.mixins import LoginRequiredMixin
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponseBase
from django.views import View
from rest_framework import exceptions
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.views import APIView

from orgs.models import Membership, Organization, PersonalAccessToken, TokenScope
from orgs.permissions import OwnerTwoFactorComplete
from orgs.roles import Capability, role_can


def membership_for(user: Any, slug: str) -> Membership:
    """The caller's membership in the organization ``slug``, or 404."""
    if user is None or not user.is_authenticated:
        raise Http404("No such organization")
    membership = (
        Membership.objects.select_related("org", "user").filter(org__slug=slug, user=user).first()
    )
    if membership is None:
        raise Http404("No such organization")
    return membership


class OrgMixin(LoginRequiredMixin):
    """For pages under ``/orgs/<slug>/``: puts ``org`` and ``membership`` on the view and request.

    ``capability`` is needed for any method; ``write_capability`` for unsafe methods.
    """

    capability: Capability = Capability.VIEW
    write_capability: Capability | None = None
    org: Organization
    membership: Membership

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.membership = membership_for(request.user, kwargs["slug"])
        self.org = self.membership.org
        request.org = self.org  # type: ignore[attr-defined]
        request.membership = self.membership  # type: ignore[attr-defined]
        needed = self.capability
        if request.method not in ("GET", "HEAD", "OPTIONS") and self.write_capability:
            needed = self.write_capability
        if not role_can(self.membership.role, needed):
            raise PermissionDenied("Only owners can change this.")
        return super().dispatch(request, *args, **kwargs)

    def can(self, capability: Capability) -> bool:
        return role_can(self.membership.role, capability)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context: dict[str, Any] = super().get_context_data(**kwargs)  # type: ignore[misc]
        context.update(
            org=self.org, membership=self.membership, is_owner=self.can(Capability.MANAGE_POLICY)
        )
        return context


def current_user(request: HttpRequest) -> User:
    """The signed-in user of a view that requires sign-in (narrowed for the type checker)."""
    return cast("User", request.user)


class ConsoleMixin(OrgMixin):
    """``OrgMixin`` plus what the layout needs to show only the sections the caller may use."""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(
            can_manage_policy=self.can(Capability.MANAGE_POLICY),
            can_manage_members=self.can(Capability.MANAGE_MEMBERS),
            can_view_activity=self.can(Capability.VIEW_ACTIVITY),
            can_manage_requests=self.can(Capability.MANAGE_REQUESTS),
        )
        return context


class OrgActionView(ConsoleMixin, View):
    """A POST-only endpoint under ``/orgs/<slug>/`` that redirects back to a page.

    GET answers 405 (after the tenancy check, so outsiders still get 404).
    """

    http_method_names = ["post"]
    write_capability = Capability.MANAGE_MEMBERS


class OrgAPIView(APIView):
    """Base for ``/api/v1/orgs/<slug>/...``: resolves the org and checks capabilities.

    Writes through a token also need the ``admin`` token scope; a session is enough in the
    browser (CSRF-protected by DRF's session authentication), once the caller has met the
    owners' two-factor rule (``OwnerTwoFactorComplete``), reads and writes alike.
    """

    permission_classes = [IsAuthenticated, OwnerTwoFactorComplete]

    read_capability: Capability = Capability.VIEW
    write_capability: Capability = Capability.MANAGE_POLICY
    # The token scope a write needs: changing settings is an admin act; filing a request
    # (a member asking) is not.
    write_scope: str = TokenScope.ADMIN
    org: Organization
    membership: Membership

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        try:
            self.membership = membership_for(request.user, kwargs["slug"])
        except Http404:
            raise exceptions.NotFound() from None
        self.org = self.membership.org
        writing = request.method not in ("GET", "HEAD", "OPTIONS")
        needed = self.write_capability if writing else self.read_capability
        if not role_can(self.membership.role, needed):
            raise exceptions.PermissionDenied("only organization owners can do this")
        token = request.auth
        if (
            writing
            and isinstance(token, PersonalAccessToken)
            and not token.allows(self.write_scope)
        ):
            raise exceptions.PermissionDenied(
                f"this change needs a token with the {self.write_scope} scope"
            )
