"""Shared REST plumbing: the error envelope every API error uses.

Every error body is ``{"error": {"code": ..., "message": ...}}`` so enforcers can show the
message to a person and branch on the code; validation errors also carry ``fields``.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from imageaccess.errors import APIError

__all__ = ["APIError", "error_response", "exception_handler", "request_user"]


def _flatten(detail: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Turn DRF's nested validation detail into ``[(field_path, message)]``."""
    if isinstance(detail, dict):
        items: list[tuple[str, str]] = []
        for key, value in detail.items():
            name = key if key != "non_field_errors" else ""
            items.extend(_flatten(value, f"{prefix}.{name}" if prefix and name else prefix or name))
        return items
    if isinstance(detail, list):
        items = []
        for index, value in enumerate(detail):
            nested = isinstance(value, dict | list) and not all(isinstance(v, str) for v in value)
            path = f"{prefix}[{index}]" if nested else prefix
            items.extend(_flatten(value, path))
        return items
    return [(prefix, str(detail))]


def _describe(exc: Exception) -> tuple[str, str, dict[str, list[str]] | None]:
    if isinstance(exc, APIError):
        return exc.error_code, str(exc.detail), None
    if isinstance(exc, exceptions.ValidationError):
        pairs = _flatten(exc.detail)
        fields: dict[str, list[str]] = {}
        for field, message in pairs:
            fields.setdefault(field or "body", []).append(message)
        field, message = pairs[0] if pairs else ("", "invalid request")
        text = f"{field}: {message}" if field else message
        return "invalid_request", text, fields
    if isinstance(exc, exceptions.ParseError):
        return "malformed_request", f"request body is not valid JSON: {exc.detail}", None
    if isinstance(exc, exceptions.NotAuthenticated):
        return "unauthorized", "authentication required: send a personal access token", None
    if isinstance(exc, exceptions.AuthenticationFailed):
        codes = exc.get_codes()
        return (codes if isinstance(codes, str) else "unauthorized"), str(exc.detail), None
    if isinstance(exc, exceptions.PermissionDenied | PermissionDenied):
        message = str(getattr(exc, "detail", "") or exc) or "permission denied"
        if message == exceptions.PermissionDenied.default_detail:
            message = "you do not have permission to perform this action"
        return "permission_denied", message, None
    if isinstance(exc, exceptions.NotFound | Http404):
        return "not_found", "not found", None
    if isinstance(exc, exceptions.Throttled):
        return "throttled", "too many requests: retry later", None
    if isinstance(exc, exceptions.MethodNotAllowed):
        return "method_not_allowed", str(exc.detail), None
    if isinstance(exc, exceptions.UnsupportedMediaType):
        return "unsupported_media_type", "send the request body as application/json", None
    if isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        return (codes if isinstance(codes, str) else "error"), str(exc.detail), None
    return "error", str(exc), None


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler that renders every error in the shared envelope."""
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    code, message, fields = _describe(exc)
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    response.data = {"error": body}
    if response.status_code == status.HTTP_401_UNAUTHORIZED:
        response.headers.setdefault("WWW-Authenticate", 'Bearer realm="imageaccess"')
    if response.status_code == status.HTTP_503_SERVICE_UNAVAILABLE:
        response.headers.setdefault("Retry-After", "2")
    return response


def request_user(request: Any) -> User:
    """The authenticated user of an API request (views require authentication)."""
    user = request.user
    if not isinstance(user, User):
        raise exceptions.NotAuthenticated()
    return user


def error_response(message: str, *, code: str, status_code: int) -> Response:
    """Build an error response in the envelope outside the exception path."""
    return Response({"error": {"code": code, "message": message}}, status=status_code)
