"""REST API for monitoring: decision events (owners) and access requests (members and owners).

Built on ``OrgAPIView``, so tenancy and capabilities are decided in the one shared place: a
non-member gets 404, a member without the capability 403, and writes through a token need the
token's admin scope like every other API write.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from imageaccess.api import APIError, request_user
from imageaccess.input_rules import validate_datetime_in_range
from orgs.models import PersonalAccessToken, TokenScope
from orgs.roles import Capability, role_can
from orgs.tenancy import OrgAPIView
from policies.models import AccessRequest, DecisionEvent
from policies.monitoring_serializers import (
    AccessRequestCreateSerializer,
    AccessRequestDecisionSerializer,
    AccessRequestFilterSerializer,
    AccessRequestSerializer,
    DecisionEventSerializer,
    EventFilterSerializer,
)
from policies.reports import filter_events
from policies.requests import RequestError, approve_request, decline_request, file_request

ERROR_STATUS = {"request_decided": status.HTTP_409_CONFLICT, "policy_unavailable": 503}


class NewestFirstPagination(CursorPagination):
    """Cursor pages, newest first: stable while new rows arrive, cheap at any depth.

    A cursor or page size that does not parse is a 400 naming the parameter, not DRF's 404
    or a silent fallback.
    """

    ordering = "-created_at"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if not 1 <= size <= self.max_page_size:
            raise serializers.ValidationError(
                {"page_size": f"must be a whole number from 1 to {self.max_page_size}"}
            )
        return size

    def decode_cursor(self, request: Request) -> Cursor | None:
        """The cursor of ``?cursor=``, checked through: a 400 for anything we did not issue.

        DRF checks the offset and direction but passes the position to the database as it
        came, where a text that is no time, or a time beyond the calendar, fails the query.
        The position is the ``created_at`` of a row, so it must read as a time with an offset.
        """
        invalid = serializers.ValidationError(
            {"cursor": "invalid cursor: follow a page's next or previous link"}
        )
        try:
            cursor: Cursor | None = super().decode_cursor(request)
        except NotFound:
            raise invalid from None
        if cursor is None or cursor.position is None:
            return cursor
        try:
            position = parse_datetime(str(cursor.position))
        except ValueError:  # the right shape, but no such day or hour
            raise invalid from None
        if position is None or position.tzinfo is None:
            raise invalid
        try:
            validate_datetime_in_range(position)
        except DjangoValidationError:
            raise invalid from None
        return cursor


def _token(request: Request) -> PersonalAccessToken | None:
    return request.auth if isinstance(request.auth, PersonalAccessToken) else None


def _api_error(exc: RequestError) -> APIError:
    message = f"{exc.field}: {exc}" if exc.field else str(exc)
    return APIError(message, code=exc.code, status_code=ERROR_STATUS.get(exc.code, 400))


class EventListView(OrgAPIView, generics.ListAPIView):
    """``GET /api/v1/orgs/<slug>/events``: raw decision events, filtered, newest first."""

    read_capability = Capability.VIEW_ACTIVITY
    serializer_class = DecisionEventSerializer
    pagination_class = NewestFirstPagination

    def get_queryset(self) -> Any:
        params = EventFilterSerializer(data=self.request.query_params.dict())
        params.is_valid(raise_exception=True)
        return filter_events(DecisionEvent.objects.for_org(self.org), params.filters())

    @extend_schema(
        parameters=[EventFilterSerializer],
        summary="List decision events (owners)",
        responses={
            200: DecisionEventSerializer(many=True),
            400: OpenApiResponse(description="A filter, cursor or page size that does not parse"),
            403: OpenApiResponse(description="Not an owner"),
            404: OpenApiResponse(description="Not a member of the organization"),
        },
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class AccessRequestListView(OrgAPIView, generics.GenericAPIView):
    """``GET/POST /api/v1/orgs/<slug>/access-requests``.

    Every member files requests and reads their own; owners read everyone's.
    """

    read_capability = Capability.VIEW
    write_capability = Capability.VIEW  # filing is for every member, not only owners
    write_scope = TokenScope.READ  # asking is not changing: a pull token may ask
    serializer_class = AccessRequestSerializer
    pagination_class = NewestFirstPagination

    def get_queryset(self) -> Any:
        requests = AccessRequest.objects.for_org(self.org).select_related("requester", "decided_by")
        if not self.can_manage:
            requests = requests.filter(requester=request_user(self.request))
        return requests

    @property
    def can_manage(self) -> bool:
        return role_can(self.membership.role, Capability.MANAGE_REQUESTS)

    @extend_schema(
        parameters=[AccessRequestFilterSerializer],
        responses={200: AccessRequestSerializer(many=True)},
        summary="List access requests (your own; owners see all)",
    )
    def get(self, request: Request, slug: str) -> Response:
        params = AccessRequestFilterSerializer(data=request.query_params.dict())
        params.is_valid(raise_exception=True)
        requests = self.get_queryset()
        if wanted := params.validated_data.get("status"):
            requests = requests.filter(status=wanted)
        page = self.paginate_queryset(requests)
        return self.get_paginated_response(AccessRequestSerializer(page, many=True).data)

    @extend_schema(
        request=AccessRequestCreateSerializer,
        responses={
            201: AccessRequestSerializer,
            400: OpenApiResponse(
                description="Bad input, already allowed for you, or already pending"
            ),
        },
        summary="Ask for a repository, a namespace or an image type",
    )
    def post(self, request: Request, slug: str) -> Response:
        if not isinstance(request.data, dict):
            raise APIError(
                "send a JSON object with repository, namespace or image_type and justification",
                code="invalid_request",
            )
        body = AccessRequestCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        kind, value = body.target()
        try:
            access_request = file_request(
                org=self.org,
                requester=request_user(request),
                kind=kind,
                value=value,
                justification=body.validated_data["justification"],
                review_url=request.build_absolute_uri(
                    reverse("policies:requests", kwargs={"slug": self.org.slug})
                ),
                token=_token(request),
            )
        except RequestError as exc:
            raise _api_error(exc) from None
        return Response(
            AccessRequestSerializer(access_request).data, status=status.HTTP_201_CREATED
        )


class _AccessRequestDecisionView(OrgAPIView):
    """``POST .../access-requests/<id>/approve|decline`` with an optional ``comment``."""

    read_capability = Capability.MANAGE_REQUESTS
    write_capability = Capability.MANAGE_REQUESTS
    http_method_names = ["post", "options"]
    # approve_request or decline_request: both take the same keyword arguments.
    service: ClassVar[Callable[..., AccessRequest]]

    def post(self, request: Request, slug: str, pk: int) -> Response:
        access_request: AccessRequest = get_object_or_404(
            AccessRequest.objects.for_org(self.org).select_related("org", "requester"), pk=pk
        )
        # An empty body is an empty object (DRF); a JSON null is not an object.
        if not isinstance(request.data, dict):
            raise APIError("send a JSON object, optionally with a comment", code="invalid_request")
        body = AccessRequestDecisionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            type(self).service(
                request=access_request,
                actor=request_user(request),
                comment=body.validated_data["comment"],
                status_url=self.status_url(request),
                token=_token(request),
            )
        except RequestError as exc:
            raise _api_error(exc) from None
        access_request.refresh_from_db()
        return Response(AccessRequestSerializer(access_request).data)

    def status_url(self, request: Request) -> str:
        return request.build_absolute_uri(
            reverse("policies:my-access", kwargs={"slug": self.org.slug})
        )


DECISION_RESPONSES = {
    200: AccessRequestSerializer,
    400: OpenApiResponse(description="Bad input"),
    403: OpenApiResponse(description="Not an owner"),
    404: OpenApiResponse(description="No such request in this organization"),
    409: OpenApiResponse(description="The request was already decided"),
}


class AccessRequestApproveView(_AccessRequestDecisionView):
    """Approve: grant the exception or the image type, in one transaction with the status."""

    service = staticmethod(approve_request)

    @extend_schema(
        request=AccessRequestDecisionSerializer,
        responses=DECISION_RESPONSES,
        summary="Approve an access request (owners)",
    )
    def post(self, request: Request, slug: str, pk: int) -> Response:
        return super().post(request, slug, pk)


class AccessRequestDeclineView(_AccessRequestDecisionView):
    """Decline, with an optional comment for the requester."""

    service = staticmethod(decline_request)

    @extend_schema(
        request=AccessRequestDecisionSerializer,
        responses=DECISION_RESPONSES,
        summary="Decline an access request (owners)",
    )
    def post(self, request: Request, slug: str, pk: int) -> Response:
        return super().post(request, slug, pk)
