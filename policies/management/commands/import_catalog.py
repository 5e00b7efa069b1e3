"""Replace the publisher catalog with the contents of a JSON or CSV file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from policies.catalog import read_catalog_file
from policies.services import PolicyError, replace_catalog


class Command(BaseCommand):
    help = (
        "Replace the publisher catalog with FILE: JSON (a list of {namespace, kind, note}) or "
        "CSV (header namespace,kind,note); kind is verified_publisher or sponsored_oss. "
        "Entries missing from the file are removed. Reports what was added, changed, removed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            entries = read_catalog_file(options["file"])
        except PolicyError as exc:
            raise CommandError(str(exc)) from None
        report = replace_catalog(entries)
        for label, names in (
            ("added", report.added),
            ("changed", report.changed),
            ("removed", report.removed),
        ):
            shown = ", ".join(sorted(names)) if names else "none"
            self.stdout.write(f"{label}: {len(names)} ({shown})")
        self.stdout.write(self.style.SUCCESS(f"catalog now has {len(entries)} namespaces"))
