"""``POST /api/v1/decisions``: the decision API every enforcer calls on a pull."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, TypeGuard

import orjson
from django.contrib.auth.models import User
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import APIException
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from imageaccess.api import APIError, request_user
from imageaccess.client_address import client_address
from imageaccess.parsers import StrictJSONParser
from orgs.authentication import PersonalAccessTokenAuthentication
from orgs.models import PersonalAccessToken
from policies.decision_service import (
    PolicyUnavailable,
    UnknownOrganization,
    decide_images,
    decide_load,
    load_payload,
    outcome_payload,
)
from policies.enforcers.decision_serializers import (
    CALLER_ENFORCERS,
    HOST_PATTERN,
    MAX_HOST_LENGTH,
    DecisionRequestSerializer,
    DecisionResponseSerializer,
)
from policies.events.event_rows import RequestContext
from policies.events.stream_writer import record_decisions

RETRY_AFTER_SECONDS = "2"


def _token(request: Request) -> PersonalAccessToken | None:
    return request.auth if isinstance(request.auth, PersonalAccessToken) else None


class DecisionView(APIView):
    """``POST /api/v1/decisions``: may the caller pull these images?

    Enforcers call this on every pull, so a well-formed call takes a lean path (``dispatch``
    below): the same authentication class, the body parsed and checked with orjson, the
    answer rendered with orjson, without DRF's request wrapping, content negotiation,
    serializer machinery and template response. Anything else (a malformed body or header,
    missing credentials, another method, an ``Accept`` that asks for something particular)
    goes through ``APIView.dispatch`` unchanged, so every error keeps its exact envelope.
    """

    authentication_classes = [PersonalAccessTokenAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_classes: list[Any] = []
    # JSON only, also in development: a browsable page would only change the headers.
    renderer_classes = [JSONRenderer]
    parser_classes = [StrictJSONParser]

    @extend_schema(
        request=DecisionRequestSerializer,
        responses={
            200: DecisionResponseSerializer,
            400: OpenApiResponse(description="Malformed body, or an unknown organization"),
            401: OpenApiResponse(description="Missing, bad, expired, revoked or OAT credentials"),
            503: OpenApiResponse(description="Policy unavailable: retry (fail closed)"),
        },
        summary="Decide image pulls",
    )
    def post(self, request: Request) -> Response:
        if not isinstance(request.data, dict):
            raise APIError("send a JSON object with images", code="invalid_request")
        serializer = DecisionRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if data["action"] == "load":
            status_code, body, headers = _decide_load(request_user(request), data.get("orgs"))
            return Response(body, status=status_code, headers=headers)
        status_code, body, headers = _decide(
            request,
            request_user(request),
            _token(request),
            CallerRequest(data["images"], data.get("orgs"), data["enforcer"], data["host"]),
        )
        return Response(body, status=status_code, headers=headers)

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = self._lean_dispatch(request) if request.method == "POST" else None
        if response is None:
            return super().dispatch(request, *args, **kwargs)
        return response

    def _lean_dispatch(self, request: HttpRequest) -> HttpResponseBase | None:
        """The decision for a well-formed call, or None to let DRF handle the request."""
        if not _lean_eligible(request):
            return None
        try:
            data = orjson.loads(request.body)
        except (orjson.JSONDecodeError, RequestDataTooBig):
            return None  # DRF reports it
        parsed = _plain_decision_request(data)
        if parsed is None:
            return None  # the serializer names the field
        # As in APIView.dispatch: credentials are checked before anything is decided, and a
        # refusal goes through the view's exception handling (one failure counted).
        self.args, self.kwargs = (), {}
        self.headers = self.default_response_headers
        try:
            result = self.get_authenticators()[0].authenticate(request)  # type: ignore[arg-type]
        except APIException as exc:
            drf_request = self.initialize_request(request)
            self.request = drf_request
            return self.finalize_response(drf_request, self.handle_exception(exc))
        if result is None:
            return None  # no credentials: DRF answers 401
        user, token = result
        if not isinstance(user, User) or not user.is_authenticated:
            return None
        status_code, body, headers = _decide(request, user, token, parsed)
        response = HttpResponse(_render(body), status=status_code, content_type=JSON)
        for name, value in headers.items():
            response[name] = value
        return self.finalize_response(request, response)  # type: ignore[arg-type]


JSON = "application/json"
_ACCEPT_JSON = frozenset({"*/*", "application/*", JSON})
# The limits the serializer enforces, read from it so the two cannot drift apart.
_FIELDS: Any = DecisionRequestSerializer().fields
_IMAGE_KEYS = frozenset(_FIELDS)
MAX_IMAGES_PER_CALL: int = _FIELDS["images"].max_length
MAX_IMAGE_LENGTH: int = _FIELDS["image"].max_length
MAX_ORGS_PER_CALL: int = _FIELDS["orgs"].max_length
_SLUG = re.compile(rf"[-a-zA-Z0-9_]{{1,{_FIELDS['orgs'].child.max_length}}}")
_ENFORCERS = frozenset(CALLER_ENFORCERS)
_HOST = re.compile(HOST_PATTERN)


@dataclass(frozen=True)
class CallerRequest:
    """What a well-formed decision request asks, and who asks it."""

    images: list[str]
    orgs: list[str] | None
    enforcer: str = "api"
    host: str = ""


def _plain_caller(data: dict[str, Any]) -> tuple[str, str] | None:
    """``(enforcer, host)`` when the serializer would accept them unchanged, else None."""
    enforcer = data.get("enforcer", "api")
    host = data.get("host", "")
    if not isinstance(enforcer, str) or enforcer not in _ENFORCERS:
        return None
    if not isinstance(host, str) or len(host) > MAX_HOST_LENGTH:
        return None
    if "host" in data and not _HOST.fullmatch(host):
        return None
    return enforcer, host


def _lean_eligible(request: HttpRequest) -> bool:
    """A plain JSON POST whose answer needs no content negotiation."""
    if request.content_type != JSON:
        return False
    charset = (request.content_params or {}).get("charset")
    if charset is not None and charset.lower() not in {"utf-8", "utf8"}:
        return False
    accept = request.META.get("HTTP_ACCEPT")
    if accept is None:
        return True
    # Parameters (q-values, indent=) and other types are DRF's to negotiate.
    return ";" not in accept and any(part.strip() in _ACCEPT_JSON for part in accept.split(","))


def _plain_image(value: Any) -> TypeGuard[str]:
    # Exactly what ImageField accepts unchanged (no trimming, no blank, no NUL, <= 1024).
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_IMAGE_LENGTH
        and value.isascii()
        and "\x00" not in value
        and value.strip() == value
    )


def _plain_decision_request(data: Any) -> CallerRequest | None:
    """The request when DecisionRequestSerializer would accept ``data`` as it is.

    Returns None for anything it might reject or transform; the serializer then decides.
    """
    if not isinstance(data, dict) or not data.keys() <= _IMAGE_KEYS:
        return None
    if "action" in data and data["action"] != "pull":
        return None
    orgs = data.get("orgs")
    if orgs is not None and not (
        isinstance(orgs, list)
        and len(orgs) <= MAX_ORGS_PER_CALL
        and all(isinstance(org, str) and _SLUG.fullmatch(org) for org in orgs)
    ):
        return None
    if "orgs" in data and orgs is None:
        return None
    caller = _plain_caller(data)
    if caller is None:
        return None
    if "images" in data:
        images = data["images"]
        if "image" in data or not isinstance(images, list):
            return None
        if not 0 < len(images) <= MAX_IMAGES_PER_CALL or not all(map(_plain_image, images)):
            return None
        return CallerRequest(images, orgs, *caller)
    image = data.get("image")
    if not _plain_image(image):
        return None
    return CallerRequest([image], orgs, *caller)


def _render(body: Any) -> bytes:
    """orjson bytes, byte-identical to DRF's JSONRenderer for this data."""
    content = orjson.dumps(body)
    if b"\xe2\x80\xa8" in content or b"\xe2\x80\xa9" in content:
        # DRF escapes U+2028 and U+2029 for JavaScript; so do we.
        content = content.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")
    return content


def _decide(
    request: HttpRequest | Request,
    user: User,
    token: Any,
    caller: CallerRequest,
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Decide, record the events (one XADD) and return ``(status, body, headers)``."""
    try:
        outcomes = decide_images(caller.images, user_id=user.pk, named_orgs=caller.orgs or None)
    except UnknownOrganization as exc:
        return 400, {"error": {"code": "unknown_organization", "message": str(exc)}}, {}
    except PolicyUnavailable as exc:
        body = {"error": {"code": "policy_unavailable", "message": f"{exc}: retry shortly"}}
        return 503, body, {"Retry-After": RETRY_AFTER_SECONDS}
    record_decisions(
        outcomes,
        RequestContext(
            enforcer=caller.enforcer,
            user_id=user.pk,
            username=user.get_username(),
            token_id=token.pk if isinstance(token, PersonalAccessToken) else None,
            client_address=client_address(request),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
            client_host=caller.host,
        ),
    )
    return 200, {"decisions": [outcome_payload(o) for o in outcomes]}, {}


def _decide_load(user: User, orgs: list[str] | None) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Whether ``user`` may load images from files; no event (a file names no image)."""
    try:
        decision = decide_load(user_id=user.pk, named_orgs=orgs or None)
    except UnknownOrganization as exc:
        return 400, {"error": {"code": "unknown_organization", "message": str(exc)}}, {}
    except PolicyUnavailable as exc:
        body = {"error": {"code": "policy_unavailable", "message": f"{exc}: retry shortly"}}
        return 503, body, {"Retry-After": RETRY_AFTER_SECONDS}
    return 200, {"decisions": [], "image_load": load_payload(decision)}, {}
