"""Checks that must pass before a server process answers anything.

Apps register checks (Django's system check functions) with ``startup_checks``; the WSGI entry
point runs them once the apps are loaded and refuses to start on an error, so a
misconfiguration that would lose or loosen something (a typo in an organization's name, a
Redis that forgets) stops the server instead of serving. They are kept out of Django's own
registry: ``migrate``, ``collectstatic`` and ``check`` do not run them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.checks.registry import CheckRegistry
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger(__name__)

startup_checks = CheckRegistry()


def run_startup_checks() -> None:
    """Run every start-up check against the default database; raise on any error."""
    errors = [
        message
        for message in startup_checks.run_checks(databases=["default"])
        if message.is_serious()
    ]
    if errors:
        raise ImproperlyConfigured(
            "; ".join(f"{m.msg} ({m.hint})" if m.hint else str(m.msg) for m in errors)
        )


@startup_checks.register()
def redis_keeps_answered_decisions(
    app_configs: Any = None, databases: Sequence[str] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """In production, the event stream's Redis must persist what it holds.

    Answered decisions wait in the stream until the worker stores them; a Redis that restarts
    empty, or evicts the stream under memory pressure, loses them. The operator may accept
    that with ``IMAGEACCESS_ALLOW_VOLATILE_REDIS=1``. A Redis that cannot be reached now is
    not refused: decisions then go to the database, and ``/readyz`` reports it.
    """
    from imageaccess.redis_client import REDIS_ERRORS, durability, get_redis

    if settings.DEBUG or settings.ALLOW_VOLATILE_REDIS:
        return []
    client = get_redis()
    if client is None:
        return []
    try:
        problems = durability(client).problems
    except REDIS_ERRORS as exc:
        logger.warning("cannot read Redis persistence settings at start-up: %s", exc)
        return []
    return [
        checks.Error(
            f"REDIS_URL: {problem}: decision events held in Redis would be lost on a restart",
            hint=(
                "run Redis with --appendonly yes (appendfsync everysec) and maxmemory-policy "
                "noeviction, or set IMAGEACCESS_ALLOW_VOLATILE_REDIS=1 to accept the loss"
            ),
            id="imageaccess.E002",
        )
        for problem in problems
    ]
