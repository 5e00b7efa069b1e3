"""Load the demo organizations, users and fresh tokens (idempotent)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone

from orgs.models import Membership, Namespace, Organization, PersonalAccessToken, Plan, TokenScope
from orgs.roles import Role
from orgs.tokens import mint_token

DEMO_TOKEN_NAME = "demo"
ORGS = {
    "acme": ("Acme Corp", Plan.BUSINESS),
    "globex": ("Globex", Plan.BUSINESS),
}
USERS: dict[str, dict[str, Any]] = {
    "olivia": {"org": "acme", "role": Role.OWNER, "scope": TokenScope.ADMIN},
    "erin": {"org": "acme", "role": Role.EDITOR, "scope": TokenScope.READ},
    "mike": {"org": "acme", "role": Role.MEMBER, "scope": TokenScope.READ},
    "charlie": {"org": "globex", "role": Role.MEMBER, "scope": TokenScope.READ},
}
SAMPLE_CATALOG = Path(settings.BASE_DIR) / "policies" / "fixtures" / "sample_catalog.json"


def demo_password(username: str) -> str:
    """Demo passwords are predictable on purpose: this is demo data, never production."""
    return f"{username}-demo-pass"


class Command(BaseCommand):
    help = (
        "Create or refresh the demo organizations acme and globex, users olivia (owner of "
        "acme), erin (editor), mike (member), charlie (member of globex), the sample catalog, "
        "and a fresh personal access token for each user (earlier demo tokens are revoked)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print credentials as JSON.")
        parser.add_argument(
            "--url", default="http://127.0.0.1:8000/", help="Where the demo is served (printed)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            summary = self.seed()
        if options["json"]:
            self.stdout.write(json.dumps(summary, indent=2))
            return
        self.stdout.write(f"Demo data loaded. Sign in at {options['url']} with:")
        for username, info in summary["users"].items():
            roles = ", ".join(f"{role} of {org}" for org, role in info["orgs"].items())
            self.stdout.write(f"  {username:<8} password {info['password']:<22} ({roles})")
            self.stdout.write(f"           token    {info['token']}")

    def seed(self) -> dict[str, Any]:
        orgs: dict[str, Organization] = {}
        for slug, (name, plan) in ORGS.items():
            org, _ = Organization.objects.update_or_create(
                slug=slug, defaults={"name": name, "plan": plan}
            )
            Namespace.objects.get_or_create(name=slug, defaults={"org": org})
            orgs[slug] = org
        self.load_catalog()
        user_model = get_user_model()
        users: dict[str, Any] = {}
        now = timezone.now()
        for username, spec in USERS.items():
            user, _ = user_model.objects.get_or_create(
                username=username, defaults={"email": f"{username}@example.com"}
            )
            user.email = f"{username}@example.com"
            user.set_password(demo_password(username))
            user.is_active = True
            user.save()
            EmailAddress.objects.update_or_create(
                user=user,
                email=user.email,
                defaults={"verified": True, "primary": True},
            )
            Membership.objects.update_or_create(
                org=orgs[spec["org"]], user=user, defaults={"role": spec["role"]}
            )
            PersonalAccessToken.objects.filter(
                user=user, name=DEMO_TOKEN_NAME, revoked_at__isnull=True
            ).update(revoked_at=now)
            minted = mint_token(user=user, name=DEMO_TOKEN_NAME, scope=spec["scope"])
            users[username] = {
                "password": demo_password(username),
                "token": minted.plaintext,
                "orgs": {spec["org"]: str(spec["role"])},
            }
        return {"orgs": list(ORGS), "users": users}

    def load_catalog(self) -> None:
        from policies.catalog import read_catalog_file
        from policies.services import replace_catalog

        replace_catalog(read_catalog_file(SAMPLE_CATALOG))
