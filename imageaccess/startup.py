"""Checks that must pass before a server process answers anything.

Apps register Django system checks under ``STARTUP``; the WSGI entry point runs them once the
apps are loaded and refuses to start on an error, so a misconfiguration that would loosen the
policy (a typo in an organization's name, say) stops the server instead of serving.
"""

from __future__ import annotations

from django.core import checks
from django.core.exceptions import ImproperlyConfigured

STARTUP = "imageaccess.startup"


def run_startup_checks() -> None:
    """Run every ``STARTUP`` check against the default database; raise on any error."""
    errors = [
        message
        for message in checks.run_checks(tags=[STARTUP], databases=["default"])
        if message.is_serious()
    ]
    if errors:
        raise ImproperlyConfigured(
            "; ".join(f"{m.msg} ({m.hint})" if m.hint else str(m.msg) for m in errors)
        )
