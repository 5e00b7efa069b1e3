"""The Celery application; configuration comes from Django settings (``CELERY_*``)."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "imageaccess.settings")

app = Celery("imageaccess")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _bound_database_waits(**kwargs: Any) -> None:
    """A worker process gives up on a database that does not answer (longer than servers)."""
    from django.conf import settings

    from imageaccess.postgresql.base import configure

    configure(
        timeout=settings.WORKER_DATABASE_TIMEOUT_MS / 1000,
        breaker_seconds=settings.DATABASE_BREAKER_SECONDS,
    )
