"""Liveness and readiness probes."""

from __future__ import annotations

import sys
from contextlib import nullcontext

from django.core.cache import cache
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.views.defaults import server_error as django_server_error

from imageaccess.postgresql.base import breaker as database_breaker
from imageaccess.redis_client import REDIS_ERRORS, durability, get_redis

# Paths answered in JSON (machines), as the rest of their answers are.
_JSON_PREFIXES = ("/api/", "/v2/")
RETRY_AFTER_SECONDS = "5"


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: answers without touching the database or the cache."""
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 only when the database and the cache answer; else 503 naming which."""
    failures: dict[str, str] = {}
    try:
        # Once the breaker is open, readiness asks the database itself rather than the
        # breaker (one bounded attempt), and a success closes the breaker.
        probe = database_breaker.probing() if database_breaker.is_open else nullcontext()
        with probe, connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        failures["database"] = type(exc).__name__
    try:
        cache.set("readyz", "1", 5)
        if cache.get("readyz") != "1":
            failures["cache"] = "unreachable"
    except Exception as exc:
        failures["cache"] = type(exc).__name__
    body: dict[str, object] = {"status": "ok"}
    redis_state = _redis_durability()
    if redis_state is not None:
        # Reported, never failing readiness: a node with a volatile Redis still serves.
        body["redis"] = redis_state
    if failures:
        body.update(status="unavailable", failing=failures)
        return JsonResponse(body, status=503, headers={"Retry-After": "5"})
    return JsonResponse(body)


def _redis_durability() -> dict[str, object] | None:
    """Whether the event stream's Redis keeps answered decisions across a restart."""
    client = get_redis()
    if client is None:
        return None
    try:
        return durability(client).as_dict()
    except REDIS_ERRORS as exc:
        return {"persistence": "unknown", "error": type(exc).__name__}


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: a database outage is a 503 with ``Retry-After``, never a bare 500.

    Django calls this while the exception is being handled. The outage page is rendered
    without the request's context: its processors (the signed-in user, their organizations)
    would ask the database again.
    """
    if not isinstance(sys.exception(), DatabaseError):
        response: HttpResponse = django_server_error(request)
        return response
    headers = {"Retry-After": RETRY_AFTER_SECONDS, "Cache-Control": "no-store"}
    if request.path.startswith(_JSON_PREFIXES):
        message = "the database is unavailable right now: retry shortly"
        body: dict[str, object] = (
            {"errors": [{"code": "UNAVAILABLE", "message": message}]}
            if request.path.startswith("/v2/")
            else {"error": {"code": "unavailable", "message": message}}
        )
        return JsonResponse(body, status=503, headers=headers)
    return HttpResponse(render_to_string("503.html"), status=503, headers=headers)
