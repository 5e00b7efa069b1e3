"""Move decision events from the Redis stream into the database now."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from policies.events.stream_drain import drain_stream


class Command(BaseCommand):
    help = (
        "Move decision events from the Redis stream into the database (what the Celery beat "
        "task drain_decision_events does every few seconds). Claims entries a crashed worker "
        "left pending. Does nothing without REDIS_URL."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        count = drain_stream()
        self.stdout.write(f"{count} decision events stored")
