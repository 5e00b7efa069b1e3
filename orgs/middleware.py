"""Organization-wide sign-in rules enforced on every page."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from orgs.permissions import TOTP_SETUP_URL, two_factor_setup_required

# Pages an owner without two-factor authentication can still reach: setting it up, signing
# out, and what those pages need. The API and the registry answer for themselves: the API
# refuses such a session with 403 (``orgs.permissions.OwnerTwoFactorComplete``), the
# registry takes tokens only.
_EXEMPT_PREFIXES = ("/accounts/", "/static/", "/healthz", "/readyz", "/api/", "/v2/")


class RequireOwnerTwoFactorMiddleware:
    """Send owners of organizations that require two-factor authentication to set it up.

    The browser console is closed to such an owner until a TOTP authenticator is active;
    the rule itself lives in ``orgs.permissions``.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not request.path.startswith(_EXEMPT_PREFIXES)
            and two_factor_setup_required(user.pk)
        ):
            messages.warning(
                request,
                "An organization you own requires two-factor authentication: set up an "
                "authenticator app to continue.",
            )
            return redirect(TOTP_SETUP_URL)
        return self.get_response(request)
