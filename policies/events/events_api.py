"""The events API: raw decision events for owners, filtered, newest first.

Built on ``OrgAPIView``: a non-member gets 404 and a member who is not an owner 403.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response

from imageaccess.pagination import NewestFirstPagination
from orgs.roles import Capability
from orgs.tenancy import OrgAPIView
from policies.events.event_serializers import DecisionEventSerializer, EventFilterSerializer
from policies.events.usage_reports import filter_events
from policies.models import DecisionEvent


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
