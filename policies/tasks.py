"""Celery tasks for decision events. Each also exists as a management command."""

from __future__ import annotations

from celery import shared_task

from policies.events import drain_stream


@shared_task(ignore_result=True)
def drain_decision_events() -> int:
    """Move decision events from the Redis stream into PostgreSQL (``manage.py drain_events``)."""
    return drain_stream()


@shared_task(ignore_result=True)
def roll_up_and_purge_events() -> None:
    """Fold events into daily counts, then purge old raw events (``manage.py rollup_events``)."""
    from django.conf import settings

    from policies.usage import roll_up_and_purge

    roll_up_and_purge(retention_days=settings.EVENT_RETENTION_DAYS)
