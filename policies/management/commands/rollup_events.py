"""Fold decision events into daily counts and purge raw events past the retention."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from policies.events.rollups import roll_up_and_purge


class Command(BaseCommand):
    help = (
        "Recompute the daily usage counts the Usage page shows, then delete raw decision "
        "events older than the retention (IMAGEACCESS_EVENT_RETENTION_DAYS, default 90). "
        "Celery beat runs the same job (roll_up_and_purge_events)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--retention-days", type=int, default=None, help="Override the retention in days."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        retention = options["retention_days"]
        if retention is None:
            retention = settings.EVENT_RETENTION_DAYS
        if retention < 1:
            raise CommandError("--retention-days must be at least 1")
        report = roll_up_and_purge(retention_days=retention)
        self.stdout.write(
            f"rolled up {report.days} days into {report.buckets} buckets; "
            f"purged {report.purged} raw events older than {retention} days"
        )
