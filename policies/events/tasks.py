"""Celery tasks for decision events. Each also exists as a management command.

Celery beat and queued messages name the tasks (``CELERY_BEAT_SCHEDULE``), so each keeps an
explicit name; the worker imports this module through ``CELERY_IMPORTS``.
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from policies.events.rollups import roll_up_and_purge
from policies.events.stream_drain import drain_stream


@shared_task(name="policies.tasks.drain_decision_events", ignore_result=True)
def drain_decision_events() -> int:
    """Move decision events from the Redis stream into PostgreSQL (``manage.py drain_events``)."""
    return drain_stream()


@shared_task(name="policies.tasks.roll_up_and_purge_events", ignore_result=True)
def roll_up_and_purge_events() -> None:
    """Fold events into daily counts, then purge old raw events (``manage.py rollup_events``)."""
    roll_up_and_purge(retention_days=settings.EVENT_RETENTION_DAYS)
