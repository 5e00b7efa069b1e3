"""Organization-wide sign-in rules enforced on every page."""

from __future__ import annotations

from collections.abc import Callable

from allauth.mfa.models import Authenticator
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from orgs.models import Membership
from orgs.roles import Role

TOTP_SETUP_URL = "/accounts/2fa/totp/activate/"
# Pages an owner without two-factor authentication can still reach: setting it up, signing
# out, and what those pages need.
_EXEMPT_PREFIXES = ("/accounts/", "/static/", "/healthz", "/readyz", "/api/", "/v2/")


class RequireOwnerTwoFactorMiddleware:
    """Send owners of organizations that require two-factor authentication to set it up.

    Token-authenticated API calls are unaffected (they carry no session); the browser
    console is closed to such an owner until a TOTP authenticator is active.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not request.path.startswith(_EXEMPT_PREFIXES)
            and self._needs_two_factor(user.pk)
        ):
            messages.warning(
                request,
                "An organization you own requires two-factor authentication: set up an "
                "authenticator app to continue.",
            )
            return redirect(TOTP_SETUP_URL)
        return self.get_response(request)

    @staticmethod
    def _needs_two_factor(user_id: int) -> bool:
        required = Membership.objects.filter(
            user_id=user_id, role=Role.OWNER, org__require_two_factor=True
        ).exists()
        if not required:
            return False
        return not Authenticator.objects.filter(
            user_id=user_id, type=Authenticator.Type.TOTP
        ).exists()
