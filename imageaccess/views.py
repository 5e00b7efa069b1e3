"""Liveness and readiness probes."""

from __future__ import annotations

from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: answers without touching the database or the cache."""
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 only when the database and the cache answer; else 503 naming which."""
    failures: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        failures["database"] = type(exc).__name__
    try:
        cache.set("readyz", "1", 5)
        if cache.get("readyz") != "1":
            failures["cache"] = "unreachable"
    except Exception as exc:
        failures["cache"] = type(exc).__name__
    if failures:
        return JsonResponse(
            {"status": "unavailable", "failing": failures},
            status=503,
            headers={"Retry-After": "5"},
        )
    return JsonResponse({"status": "ok"})
