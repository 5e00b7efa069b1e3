"""Policies REST API: decisions for enforcers, policy and exceptions for owners."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from imageaccess.api import APIError, error_response, request_user
from orgs.authentication import PersonalAccessTokenAuthentication
from orgs.models import PersonalAccessToken
from orgs.tenancy import OrgAPIView
from policies.decisions import PolicyUnavailable, decide_images, outcome_payload
from policies.events import RequestContext, record_decisions
from policies.models import RepositoryException
from policies.serializers import (
    DecisionRequestSerializer,
    DecisionResponseSerializer,
    ImageAccessPolicySerializer,
    RepositoryExceptionSerializer,
)
from policies.services import (
    PolicyError,
    add_exception,
    get_policy,
    remove_exception,
    update_policy,
)

RETRY_AFTER_SECONDS = "2"


def client_address(request: Request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def _token(request: Request) -> PersonalAccessToken | None:
    return request.auth if isinstance(request.auth, PersonalAccessToken) else None


class DecisionView(APIView):
    """``POST /api/v1/decisions``: may the caller pull these images?"""

    authentication_classes = [PersonalAccessTokenAuthentication]

    @extend_schema(
        request=DecisionRequestSerializer,
        responses={
            200: DecisionResponseSerializer,
            400: OpenApiResponse(description="Malformed body"),
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
        user = request_user(request)
        try:
            outcomes = decide_images(
                data["images"], user_id=user.pk, named_orgs=data.get("orgs") or None
            )
        except PolicyUnavailable as exc:
            response = error_response(
                f"{exc}: retry shortly", code="policy_unavailable", status_code=503
            )
            response.headers["Retry-After"] = RETRY_AFTER_SECONDS
            return response
        token = _token(request)
        record_decisions(
            outcomes,
            RequestContext(
                enforcer="api",
                user_id=user.pk,
                username=user.get_username(),
                token_id=token.pk if token else None,
                client_address=client_address(request),
                user_agent=request.META.get("HTTP_USER_AGENT", ""),
            ),
        )
        return Response({"decisions": [outcome_payload(o) for o in outcomes]})


class ImageAccessPolicyView(OrgAPIView):
    """``GET/PATCH /api/v1/orgs/<slug>/image-access``: read (members) or change (owners)."""

    @extend_schema(responses=ImageAccessPolicySerializer, summary="Read image access settings")
    def get(self, request: Request, slug: str) -> Response:
        return Response(ImageAccessPolicySerializer(get_policy(self.org)).data)

    @extend_schema(
        request=ImageAccessPolicySerializer,
        responses=ImageAccessPolicySerializer,
        summary="Change image access settings",
    )
    def patch(self, request: Request, slug: str) -> Response:
        if not isinstance(request.data, dict):
            raise APIError("send a JSON object of settings", code="invalid_request")
        policy = get_policy(self.org)
        serializer = ImageAccessPolicySerializer(policy, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes = {
            name: value
            for name, value in serializer.validated_data.items()
            if name in policy.SETTINGS
        }
        try:
            policy, _ = update_policy(
                org=self.org, actor=request_user(request), changes=changes, token=_token(request)
            )
        except PolicyError as exc:
            raise APIError(
                str(exc),
                code="plan_required" if "Business" in str(exc) else "invalid_request",
                status_code=400,
            ) from None
        return Response(ImageAccessPolicySerializer(policy).data)


class ExceptionListView(OrgAPIView):
    """``GET/POST /api/v1/orgs/<slug>/exceptions``."""

    @extend_schema(responses=RepositoryExceptionSerializer(many=True), summary="List exceptions")
    def get(self, request: Request, slug: str) -> Response:
        exceptions = RepositoryException.objects.filter(org=self.org).select_related("created_by")
        return Response(RepositoryExceptionSerializer(exceptions, many=True).data)

    @extend_schema(
        request=RepositoryExceptionSerializer,
        responses={201: RepositoryExceptionSerializer},
        summary="Add an exception",
    )
    def post(self, request: Request, slug: str) -> Response:
        if not isinstance(request.data, dict):
            raise APIError("send a JSON object with repository", code="invalid_request")
        serializer = RepositoryExceptionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data: dict[str, Any] = serializer.validated_data
        try:
            exception = add_exception(
                org=self.org,
                actor=request_user(request),
                repository=data["repository"],
                reason=data.get("reason", ""),
                expires_at=data.get("expires_at"),
                token=_token(request),
            )
        except PolicyError as exc:
            raise APIError(str(exc), code="invalid_repository") from None
        return Response(
            RepositoryExceptionSerializer(exception).data, status=status.HTTP_201_CREATED
        )


class ExceptionDetailView(OrgAPIView):
    """``DELETE /api/v1/orgs/<slug>/exceptions/<id>``."""

    @extend_schema(responses={200: RepositoryExceptionSerializer}, summary="Read an exception")
    def get(self, request: Request, slug: str, pk: int) -> Response:
        exception: RepositoryException = get_object_or_404(
            RepositoryException.objects.for_org(self.org), pk=pk
        )
        return Response(RepositoryExceptionSerializer(exception).data)

    @extend_schema(responses={204: None}, summary="Remove an exception")
    def delete(self, request: Request, slug: str, pk: int) -> Response:
        exception: RepositoryException = get_object_or_404(
            RepositoryException.objects.for_org(self.org), pk=pk
        )
        remove_exception(exception=exception, actor=request_user(request), token=_token(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
