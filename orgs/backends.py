"""The one authentication backend: allauth's, with the same work for every sign-in attempt.

A password hash is the slow step of a sign-in (hundreds of milliseconds by design), so the
number of hashes an attempt computes must not depend on whether the account exists, or the
time taken tells. allauth's backend hashes once for an unknown login (a dummy hash), but for
a known email address it checks the same account twice (allauth tries an email both as an
address and as a username), and Django's ``ModelBackend`` beside it hashed once more. Here
each account's password is checked at most once per attempt and ``ModelBackend`` is not
configured (this class inherits its permission checks), so every attempt costs one hash.
"""

from __future__ import annotations

from typing import Any

from allauth.account.auth_backends import AuthenticationBackend
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest


class AccountBackend(AuthenticationBackend):
    """Sign in by username or email address (allauth), one password hash per attempt."""

    def authenticate(
        self, request: HttpRequest | None, **credentials: Any
    ) -> AbstractBaseUser | None:
        self._checked: set[Any] = set()
        return super().authenticate(request, **credentials)

    def _check_password(
        self, user: AbstractBaseUser | None, password: str
    ) -> AbstractBaseUser | None:
        if user is None:
            return None
        if user.pk in self._checked:
            return None  # already refused in this attempt
        self._checked.add(user.pk)
        return super()._check_password(user, password)
