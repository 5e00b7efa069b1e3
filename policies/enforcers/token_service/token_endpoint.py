"""``/v2/token``: the Docker Registry v2 token service, deciding pulls with the engine.

A stock registry configured with ``auth: token`` sends every client here. Credentials are a
username and personal access token (Basic, or the OAuth2 password form BuildKit posts) or a
refresh token this service issued (``docker login`` keeps one as its identity token);
anonymous callers are decided as such. Failed credentials are limited like the decision API's
(``orgs.ratelimit``: 429 with ``Retry-After``; a valid credential is never refused because of
others' failures). Only ``pull`` is ever granted. A denial is a 401 with a
``DENIED`` error whose message the client prints (``IMAGEACCESS_REGISTRY_DENIAL=empty_grant``
switches to the specification's empty grant instead).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from imageaccess.client_address import client_address
from orgs.credentials import basic_credentials
from orgs.models import PersonalAccessToken
from orgs.ratelimit import RateLimited, count_failure, limit_failures
from orgs.tokens import (
    GENERIC_FAILURE,
    TokenError,
    authenticate_refresh_token,
    authenticate_token,
    mint_refresh_token,
    names_user,
)
from policies.decision_service import PolicyUnavailable, UnknownOrganization, decide_images
from policies.enforcers.token_service.jwt_tokens import (
    Scope,
    ScopeError,
    error_body,
    issue_registry_token,
    parse_scopes,
)
from policies.enforcers.token_service.signing import signing_key
from policies.engine.reference import InvalidReference, parse_normalized_named
from policies.events.event_rows import RequestContext
from policies.events.stream_writer import record_decisions

logger = logging.getLogger(__name__)


class TokenRequestError(Exception):
    """A token request we refuse; carries the HTTP status and distribution error code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> HttpResponse:
    response = HttpResponse(orjson.dumps(body), status=status, content_type="application/json")
    response["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _error(status: int, code: str, message: str, **headers: str) -> HttpResponse:
    if status == 401:
        headers.setdefault("WWW-Authenticate", 'Basic realm="imageaccess"')
    return _json(error_body(code, message), status, headers)


@dataclass(frozen=True)
class Caller:
    """Who is asking: a token's user, or anonymous (all ``None``)."""

    token: PersonalAccessToken | None = None

    @property
    def user_id(self) -> int | None:
        return self.token.user_id if self.token else None

    @property
    def username(self) -> str:
        return self.token.user.get_username() if self.token else ""


def _basic_credentials(request: HttpRequest) -> tuple[str, str] | None:
    try:
        return basic_credentials(request.META.get("HTTP_AUTHORIZATION", ""))
    except TokenError as exc:
        _count_malformed(request)
        raise TokenRequestError(401, "UNAUTHORIZED", exc.message) from None


def _count_malformed(request: HttpRequest) -> None:
    """A malformed header is a failure of the address; it may push it over the limit."""
    count_failure(address=client_address(request))


def _limited(
    request: HttpRequest,
    verify: Callable[[], PersonalAccessToken],
    *,
    username: str | None,
    secret: str,
) -> Caller:
    """Check one credential under the failure limit; a refusal becomes the registry's 401."""
    try:
        token = limit_failures(
            verify,
            address=lambda: client_address(request),
            username=username,
            secret=secret,
            failures=(TokenError,),
        )
    except TokenError as exc:
        raise TokenRequestError(401, "UNAUTHORIZED", exc.message) from None
    except DatabaseError:
        raise PolicyUnavailable("credentials cannot be checked right now") from None
    return Caller(token)


def _authenticate(
    request: HttpRequest, username: str, secret: str, *, account: str | None = None
) -> Caller:
    def verify() -> PersonalAccessToken:
        token = authenticate_token(secret, username=username)
        # docker login names the account again; a mismatch is a failed credential too.
        if account and not names_user(account, token.user):
            raise TokenError(GENERIC_FAILURE, code="invalid_credentials")
        return token

    return _limited(request, verify, username=username, secret=secret)


def _refresh_caller(request: HttpRequest, refresh_token: str) -> Caller:
    return _limited(
        request,
        lambda: authenticate_refresh_token(refresh_token),
        username=None,
        secret=refresh_token,
    )


def _caller(request: HttpRequest, params: dict[str, str]) -> Caller:
    if request.method == "POST":
        grant = params.get("grant_type", "")
        if grant == "password":
            username, password = params.get("username", ""), params.get("password", "")
            return _authenticate(request, username, password)
        if grant == "refresh_token":
            return _refresh_caller(request, params.get("refresh_token", ""))
        raise TokenRequestError(400, "UNSUPPORTED", "grant_type must be password or refresh_token")
    credentials = _basic_credentials(request)
    if credentials is None:
        return Caller()
    return _authenticate(request, *credentials, account=params.get("account"))


def _wants_refresh_token(request: HttpRequest, params: dict[str, str]) -> bool:
    """Whether the client asked for offline access, the only case a refresh token is issued.

    ``docker login`` sends ``offline_token=true`` (GET); the OAuth2 password form asks with
    ``access_type=offline``. BuildKit's posts do not ask and would not use one, and a refresh
    grant keeps the refresh token it presented (the daemon stores it once, at login).
    """
    if request.method == "POST":
        return params.get("grant_type") == "password" and params.get("access_type") == "offline"
    return params.get("offline_token") == "true"


def _check_service(service: str) -> None:
    if not service:
        raise TokenRequestError(400, "UNSUPPORTED", "the service parameter is required")
    allowed = settings.REGISTRY_SERVICES
    if allowed and service not in allowed:
        raise TokenRequestError(400, "UNSUPPORTED", f"unknown service {service!r}")


def _image_for(scope: Scope) -> str | None:
    """The image a repository scope pulls from the mirrored registry, or None if invalid."""
    # The name is a path on the mirrored registry, never a host: "UPPER/x" or "ghcr.io/x" must
    # not parse as another registry (which the policy does not govern).
    candidate = f"{settings.REGISTRY_UPSTREAM}/{scope.name}"
    try:
        parse_normalized_named(candidate)
    except InvalidReference:
        return None
    return candidate


@csrf_exempt
@require_http_methods(["GET", "POST"])
def token(request: HttpRequest) -> HttpResponse:
    """Issue a registry bearer token for the pulls the policy allows."""
    params = request.GET.dict()
    scope_values = request.GET.getlist("scope")
    if request.method == "POST":
        params.update(request.POST.dict())
        scope_values += request.POST.getlist("scope")
    try:
        _check_service(params.get("service", ""))
        caller = _caller(request, params)
        scopes = parse_scopes(scope_values)
        return _grant(request, caller, scopes, params)
    except TokenRequestError as exc:
        return _error(exc.status, exc.code, exc.message)
    except RateLimited as exc:
        return _error(
            429,
            "TOOMANYREQUESTS",
            f"too many failed authentications: retry in {exc.retry_after} seconds",
            **{"Retry-After": str(exc.retry_after)},
        )
    except ScopeError as exc:
        return _error(400, "UNSUPPORTED", str(exc))
    except UnknownOrganization as exc:
        # Start-up refuses such a name; should one still reach a request, grant nothing.
        logger.error("IMAGEACCESS_REGISTRY_ORGS: %s", exc)
        return _error(
            503,
            "UNAVAILABLE",
            f"the token service is misconfigured ({exc}): ask an administrator",
        )
    except PolicyUnavailable:
        return _error(
            503,
            "UNAVAILABLE",
            "the image access policy cannot be read right now: retry shortly",
            **{"Retry-After": "2"},
        )


def _grant(
    request: HttpRequest, caller: Caller, scopes: list[Scope], params: dict[str, str]
) -> HttpResponse:
    pulls: dict[str, Scope] = {}  # image -> scope asking to pull it
    for scope in scopes:
        if scope.type == "repository" and "pull" in scope.actions:
            image = _image_for(scope)
            if image is not None:
                pulls[image] = scope
    access: list[dict[str, Any]] = []
    if pulls:
        outcomes = decide_images(
            list(pulls), user_id=caller.user_id, named_orgs=settings.REGISTRY_ORGS or None
        )
        record_decisions(
            outcomes,
            RequestContext(
                enforcer="registry",
                user_id=caller.user_id,
                username=caller.username,
                token_id=caller.token.pk if caller.token else None,
                client_address=client_address(request),
                user_agent=request.META.get("HTTP_USER_AGENT", ""),
            ),
        )
        denied = [o for o in outcomes if o.decision is not None and not o.decision.allowed]
        if denied and settings.REGISTRY_DENIAL == "message":
            assert denied[0].decision is not None
            return _error(401, "DENIED", denied[0].decision.reason)
        for outcome in outcomes:
            if outcome.decision is not None and outcome.decision.allowed:
                scope = pulls[outcome.image]
                access.append(
                    Scope(scope.type, scope.name, ("pull",), scope.resource_class).to_access()
                )
    body = issue_registry_token(
        key=signing_key(),
        issuer=settings.REGISTRY_ISSUER,
        service=params["service"],
        subject=caller.username,
        access=access,
        ttl=settings.REGISTRY_TOKEN_TTL,
    )
    if caller.token is not None and _wants_refresh_token(request, params):
        try:
            body["refresh_token"] = mint_refresh_token(access_token=caller.token)
        except DatabaseError:
            raise PolicyUnavailable("a refresh token cannot be stored right now") from None
    return _json(body)
