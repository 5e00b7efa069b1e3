"""The policy API: image access settings and exceptions (owners write, members read) and
access requests (every member files, owners decide).

Built on ``OrgAPIView``, so tenancy and capabilities are decided in the one shared place: a
non-member gets 404, a member without the capability 403, and writes through a token need the
token's admin scope (filing a request needs only read).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response

from imageaccess.api import APIError, request_user
from imageaccess.pagination import NewestFirstPagination
from orgs.models import PersonalAccessToken, TokenScope
from orgs.roles import Capability, role_can
from orgs.tenancy import OrgAPIView
from policies.access_requests import (
    RequestError,
    approve_request,
    decline_request,
    file_request,
)
from policies.models import AccessRequest, RepositoryException
from policies.policy_serializers import (
    AccessRequestCreateSerializer,
    AccessRequestDecisionSerializer,
    AccessRequestFilterSerializer,
    AccessRequestSerializer,
    ImageAccessPolicySerializer,
    RegistryAccessSerializer,
    RepositoryExceptionSerializer,
)
from policies.registry_access import get_registry_access, update_registry_access
from policies.services import (
    PolicyError,
    add_exception,
    get_policy,
    remove_exception,
    update_policy,
)
from policies.snapshot_store import SnapshotsUnavailable, wait_for_policy_version

VERSION_WAIT_SECONDS = 5.0
ERROR_STATUS = {"request_decided": status.HTTP_409_CONFLICT, "policy_unavailable": 503}


def _token(request: Request) -> PersonalAccessToken | None:
    return request.auth if isinstance(request.auth, PersonalAccessToken) else None


def _api_error(exc: RequestError) -> APIError:
    message = f"{exc.field}: {exc}" if exc.field else str(exc)
    return APIError(message, code=exc.code, status_code=ERROR_STATUS.get(exc.code, 400))


class ImageAccessPolicyView(OrgAPIView):
    """``GET/PATCH /api/v1/orgs/<slug>/image-access``: read (members) or change (owners)."""

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "version",
                int,
                required=False,
                description=(
                    "Wait (up to 5 s) until this server decides with this policy version or a "
                    "newer one; 503 with Retry-After if it does not in time."
                ),
            )
        ],
        responses={200: ImageAccessPolicySerializer, 503: OpenApiResponse(description="Not yet")},
        summary="Read image access settings",
    )
    def get(self, request: Request, slug: str) -> Response:
        wanted = request.query_params.get("version")
        if wanted is not None:
            self._wait_for(wanted)
        return Response(ImageAccessPolicySerializer(get_policy(self.org)).data)

    def _wait_for(self, wanted: str) -> None:
        """Return once ``wanted`` (a policy version) is in effect here; else raise 400 or 503."""
        if not wanted.isascii() or not wanted.isdigit() or len(wanted) > 18:
            raise APIError("version must be a whole number", code="invalid_request")
        try:
            in_effect = wait_for_policy_version(
                self.org.slug, int(wanted), timeout=VERSION_WAIT_SECONDS
            )
        except SnapshotsUnavailable:
            raise APIError(
                "the policy cannot be read right now: retry shortly",
                code="policy_unavailable",
                status_code=503,
            ) from None
        if in_effect < int(wanted):
            raise APIError(
                f"policy version {wanted} is not in effect on this server yet "
                f"(version {in_effect} is): retry shortly",
                code="version_not_in_effect",
                status_code=503,
            )

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


class RegistryAccessView(OrgAPIView):
    """``GET/PATCH /api/v1/orgs/<slug>/registry-access``: read (members) or change (owners)."""

    @extend_schema(responses=RegistryAccessSerializer, summary="Read registry access settings")
    def get(self, request: Request, slug: str) -> Response:
        return Response(RegistryAccessSerializer(get_registry_access(self.org)).data)

    @extend_schema(
        request=RegistryAccessSerializer,
        responses=RegistryAccessSerializer,
        summary="Change registry access: switch it, or replace the list of allowed registries",
    )
    def patch(self, request: Request, slug: str) -> Response:
        if not isinstance(request.data, dict):
            raise APIError("send a JSON object of settings", code="invalid_request")
        unknown = set(request.data) - {"enabled", "registries"}
        if unknown:
            raise APIError(
                f"{sorted(unknown)[0]}: not a setting of registry access (enabled, registries)",
                code="invalid_request",
            )
        registries = request.data.get("registries")
        if "registries" in request.data and not isinstance(registries, list):
            raise APIError(
                'registries: give a list of objects such as {"host": "ghcr.io"}',
                code="invalid_request",
            )
        enabled = request.data.get("enabled")
        if "enabled" in request.data and not isinstance(enabled, bool):
            raise APIError("enabled: must be true or false", code="invalid_request")
        try:
            policy, _ = update_registry_access(
                org=self.org,
                actor=request_user(request),
                enabled=enabled,
                registries=registries,
                token=_token(request),
            )
        except PolicyError as exc:
            raise APIError(
                str(exc),
                code="plan_required" if "Business" in str(exc) else "invalid_request",
                status_code=400,
            ) from None
        return Response(RegistryAccessSerializer(policy).data)


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
