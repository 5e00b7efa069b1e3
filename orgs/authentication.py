"""DRF authentication with personal access tokens (Bearer, or Basic as ``docker login``)."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import DatabaseError
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from imageaccess.client_address import client_address
from imageaccess.errors import APIError
from orgs.credentials import authorization_credentials
from orgs.models import PersonalAccessToken
from orgs.ratelimit import RateLimited, count_failure, limit_failures
from orgs.tokens import TokenError, authenticate_token


class PersonalAccessTokenAuthentication(BaseAuthentication):
    """Authenticate API calls by PAT; sets ``request.auth`` to the token row.

    Failures are limited per client address, username and token (``orgs.ratelimit``); a
    valid token is accepted even when its address or username is over that limit.
    """

    def authenticate(self, request: Request) -> tuple[User, PersonalAccessToken] | None:
        try:
            credentials = authorization_credentials(get_authorization_header(request))
        except TokenError as exc:
            try:
                count_failure(address=client_address(request))
            except RateLimited as limited:
                raise exceptions.Throttled(wait=limited.retry_after) from None
            raise exceptions.AuthenticationFailed(exc.message, code=exc.code) from None
        if credentials is None:
            return None
        username, secret = credentials
        try:
            token = limit_failures(
                lambda: authenticate_token(secret, username=username),
                address=lambda: client_address(request),
                username=username,
                secret=secret,
                failures=(TokenError,),
            )
        except RateLimited as exc:
            raise exceptions.Throttled(wait=exc.retry_after) from None
        except DatabaseError:
            # Fail closed, and tell the caller to retry rather than that it is unauthorized.
            raise APIError(
                "credentials cannot be checked right now: retry shortly",
                code="unavailable",
                status_code=503,
            ) from None
        except TokenError as exc:
            raise exceptions.AuthenticationFailed(exc.message, code=exc.code) from None
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="imageaccess"'
