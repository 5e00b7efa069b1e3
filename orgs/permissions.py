"""Sign-in rules of organizations that apply to people, whatever page or endpoint they use.

One rule lives here: an organization may require its owners to use two-factor
authentication. An owner of such an organization who has no TOTP authenticator is sent to
set one up by the pages (``orgs.middleware``) and refused by the session-authenticated API
(``OwnerTwoFactorComplete``, on every API view of the organizations and policies). Calls
made with a personal access token are governed by the token: it is the machine path, and a
person mints one only from a signed-in session that already passed this rule.
"""

from __future__ import annotations

from typing import Any

from allauth.mfa.models import Authenticator
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from imageaccess.errors import APIError
from orgs.models import Membership, PersonalAccessToken
from orgs.roles import Role

TOTP_SETUP_URL = "/accounts/2fa/totp/activate/"
TWO_FACTOR_REQUIRED = (
    "an organization you own requires two-factor authentication: set up an authenticator "
    f"app at {TOTP_SETUP_URL} and sign in again, or call the API with a personal access token"
)


def two_factor_setup_required(user_id: int) -> bool:
    """Whether the user owns an organization that requires 2FA and has no TOTP authenticator.

    Every way of signing in (allauth's sign-in, which the admin's also goes through) asks
    for the TOTP code of a user who has an authenticator, so a session of a user who has one
    has passed the second step.
    """
    required = Membership.objects.filter(
        user_id=user_id, role=Role.OWNER, org__require_two_factor=True
    ).exists()
    if not required:
        return False
    return not Authenticator.objects.filter(user_id=user_id, type=Authenticator.Type.TOTP).exists()


class OwnerTwoFactorComplete(BasePermission):
    """Refuse session-authenticated API calls of owners who still owe two-factor set-up.

    Every caller that did not authenticate with a personal access token is held to the
    rule, reads included, as the pages are: the API must not be a way around them.
    """

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if user is None or not user.is_authenticated:
            return True  # IsAuthenticated answers for anonymous callers
        if isinstance(request.auth, PersonalAccessToken):
            return True
        if two_factor_setup_required(user.pk):
            raise APIError(TWO_FACTOR_REQUIRED, code="two_factor_required", status_code=403)
        return True
