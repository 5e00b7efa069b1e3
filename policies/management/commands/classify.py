"""Show how the system sees an image and what it decides, for admins debugging a policy."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from policies.choices import POLICY_IMAGE_TYPES
from policies.decision_service import PolicyUnavailable, UnknownOrganization, decide_images
from policies.engine.classify import Category, hub_path, registry_host
from policies.engine.reference import InvalidReference, parse_docker_ref
from policies.models import PublisherNamespace


class Command(BaseCommand):
    help = (
        "Classify IMAGE... and show the decision: the normalized reference, the image type, "
        "the catalog entry, and whether --user may pull it under --org (or under all of the "
        "user's organizations when --org is omitted)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("images", nargs="+", metavar="IMAGE")
        parser.add_argument("--org", help="Decide under this organization (slug).")
        parser.add_argument("--user", help="Decide for this username (default: anonymous).")

    def handle(self, *args: Any, **options: Any) -> None:
        user_id = None
        if options["user"]:
            user = get_user_model().objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"no user named {options['user']!r}")
            user_id = user.pk
        named = [options["org"]] if options["org"] else None
        try:
            outcomes = decide_images(options["images"], user_id=user_id, named_orgs=named)
        except (UnknownOrganization, PolicyUnavailable) as exc:
            raise CommandError(str(exc)) from None
        failed = False
        for outcome in outcomes:
            self.stdout.write(outcome.image)
            if outcome.decision is None:
                failed = True
                self.stdout.write(f"  error:     {outcome.error}")
                continue
            decision = outcome.decision
            self.stdout.write(f"  reference: {decision.reference}")
            self.stdout.write(f"  registry:  {registry_host(decision.reference.domain)}")
            self.stdout.write(f"  category:  {decision.category.value}")
            self.stdout.write(f"  catalog:   {self.catalog_entry(outcome.image)}")
            verdict = "allowed" if decision.allowed else "DENIED"
            if decision.would_deny:
                verdict += " (would be denied: audit mode)"
            self.stdout.write(f"  decision:  {verdict} under {decision.org or 'no organization'}")
            self.stdout.write(f"  reason:    {decision.reason}")
            if decision.registry_decided:
                self.stdout.write("  decided by registry access management")
        if failed:
            raise CommandError("some images are not valid references")

    def catalog_entry(self, image: str) -> str:
        try:
            path = hub_path(parse_docker_ref(image))
        except InvalidReference:
            return "-"
        if path is None:
            return "not a Docker Hub image"
        if path[0] == "library":
            return f"library: {POLICY_IMAGE_TYPES[Category.OFFICIAL].noun}"
        entry = PublisherNamespace.objects.filter(namespace=path[0]).first()
        return f"{entry.namespace}: {entry.get_kind_display()}" if entry else "not in the catalog"
