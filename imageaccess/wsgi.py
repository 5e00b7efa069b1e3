"""WSGI entry point for production servers (granian, gunicorn).

Enforcers call two endpoints on every pull: the decision API and the registry token service.
Both authenticate each request with a personal access token and never use a browser session,
so they are served by a lean handler: the project's middleware minus the browser-session
middleware (sessions, CSRF, auth, messages, allauth, the owners' two-factor redirect). Every
other middleware, including any added later, still runs for them; every other path gets the
full stack. See docs/benchmarks.md for what this saves.
"""

import gc
import os
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.core.wsgi import get_wsgi_application
from django.http import HttpRequest
from django.urls import NoReverseMatch, ResolverMatch, get_resolver, reverse
from django.utils.functional import cached_property
from django.utils.module_loading import import_string

from imageaccess.postgresql.base import configure as bound_database_waits
from imageaccess.startup import run_startup_checks

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "imageaccess.settings")

# Middleware that only serves browser sessions: token-authenticated endpoints skip it.
BROWSER_MIDDLEWARE = frozenset(
    {
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
        "allauth.account.middleware.AccountMiddleware",
        "orgs.middleware.RequireOwnerTwoFactorMiddleware",
    }
)
# URL names of the token-authenticated hot paths.
LEAN_URL_NAMES = ("api-decisions", "registry-token")


class LeanWSGIHandler(WSGIHandler):
    """A WSGI handler whose middleware chain leaves out ``BROWSER_MIDDLEWARE``.

    Same construction as ``BaseHandler.load_middleware`` for a synchronous stack.
    """

    def load_middleware(self, is_async: bool = False) -> None:
        assert not is_async, "the lean handler serves WSGI only"
        self._view_middleware: list[Callable[..., Any]] = []
        self._template_response_middleware: list[Callable[..., Any]] = []
        self._exception_middleware: list[Callable[..., Any]] = []
        handler = convert_exception_to_response(self._get_response)  # type: ignore[attr-defined]
        for path in reversed(settings.MIDDLEWARE):
            if path in BROWSER_MIDDLEWARE:
                continue
            try:
                instance = import_string(path)(handler)
            except MiddlewareNotUsed:
                continue
            if hasattr(instance, "process_view"):
                self._view_middleware.insert(0, instance.process_view)
            if hasattr(instance, "process_template_response"):
                self._template_response_middleware.append(instance.process_template_response)
            if hasattr(instance, "process_exception"):
                self._exception_middleware.append(instance.process_exception)
            handler = convert_exception_to_response(instance)
        self._middleware_chain = handler

    def resolve_request(self, request: HttpRequest) -> ResolverMatch:
        """The lean paths are fixed: resolve each once, not on every request."""
        match = None if hasattr(request, "urlconf") else self._matches.get(request.path_info)
        if match is None:
            return super().resolve_request(request)
        request.resolver_match = match
        return match

    @cached_property
    def _matches(self) -> dict[str, ResolverMatch]:
        return {path: get_resolver().resolve(path) for path in lean_paths()}


def lean_paths() -> frozenset[str]:
    paths = set()
    for name in LEAN_URL_NAMES:
        try:
            paths.add(reverse(name))
        except NoReverseMatch:
            continue
    return frozenset(paths)


django_application = get_wsgi_application()  # sets Django up
# A server never waits on the database for ever: see imageaccess/postgresql/base.py.
bound_database_waits(
    timeout=settings.DATABASE_TIMEOUT_MS / 1000,
    breaker_seconds=settings.DATABASE_BREAKER_SECONDS,
)
run_startup_checks()
lean_application = LeanWSGIHandler()
LEAN_PATHS = lean_paths()

# Everything loaded so far (Django, the apps, the URL resolver: about 115,000 objects) lives as
# long as the process. Left to the collector, each full collection walks all of it, a 20-25 ms
# pause that stalls every queued request (the p99); frozen, a full collection walks only what
# requests created since. Forked workers also keep these pages shared.
gc.freeze()


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
    """Route the token-authenticated hot paths to the lean handler, the rest to Django's."""
    if environ.get("PATH_INFO") in LEAN_PATHS:
        return lean_application(environ, start_response)
    return django_application(environ, start_response)
