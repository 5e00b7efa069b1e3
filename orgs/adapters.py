"""django-allauth adapter: lets an operator close sign-up (``IMAGEACCESS_SIGNUP_OPEN=0``)."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings
from django.http import HttpRequest


class AccountAdapter(DefaultAccountAdapter):
    """Account adapter honouring the sign-up switch."""

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return bool(settings.SIGNUP_OPEN)
