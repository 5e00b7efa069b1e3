"""django-allauth adapter: the sign-up switch, the client address and per-account sign-in limits."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.utils import filter_users_by_email, filter_users_by_username
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from imageaccess.client_address import client_address


class AccountAdapter(DefaultAccountAdapter):
    """Account adapter honouring the sign-up switch and the trusted proxies."""

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return bool(settings.SIGNUP_OPEN)

    def get_client_ip(self, request: HttpRequest) -> str:
        """The client address every other limit uses (``IMAGEACCESS_BEHIND_PROXY``)."""
        address = client_address(request)
        if address is None:
            raise PermissionDenied("Unable to determine client IP address")
        return address

    def _get_login_attempts_cache_key(self, request: HttpRequest, **credentials: Any) -> str:
        """Key failed sign-ins on the account, not on how its name was typed.

        allauth keys them on the typed login, so ``erin``, ``erin@example.com`` and
        ``ERIN@EXAMPLE.COM`` would each get a budget of their own. A login that names no
        account keeps allauth's key (the typed login, lower case). allauth also uses this key
        to clear the account's failures after a password reset.
        """
        user = _account_named(credentials)
        if user is None:
            return super()._get_login_attempts_cache_key(request, **credentials)
        return f"account:{user.pk}"


def _account_named(credentials: dict[str, Any]) -> Any | None:
    """The one user the login names, by email (as allauth prefers it) or by username.

    Both lookups always run, so the work (and time) does not tell which kind of name exists.
    """
    email, username = credentials.get("email"), credentials.get("username")
    by_email = filter_users_by_email(email, prefer_verified=True) if email else []
    by_username = list(filter_users_by_username(username)[:2]) if username else []
    for users in (by_email, by_username):
        if len(users) == 1:
            return users[0]
    return None
