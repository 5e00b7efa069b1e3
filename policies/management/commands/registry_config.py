"""Print the ``auth:`` block for a registry's config.yml and write our certificate bundle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import URLValidator

from policies.enforcers.token_service.signing import certificate_bundle


class Command(BaseCommand):
    help = (
        "Wire a Docker registry (registry:2, Debian docker-registry) to the token service: "
        "writes the certificate bundle the registry must trust to --cert-out and prints the "
        "auth: block for the registry's config.yml."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--realm", required=True, help="URL of /v2/token as clients see it.")
        parser.add_argument("--service", required=True, help="Service name (the token's aud).")
        parser.add_argument(
            "--issuer", default=None, help="Defaults to IMAGEACCESS_REGISTRY_ISSUER."
        )
        parser.add_argument(
            "--cert-out",
            type=Path,
            default=None,
            help="Where to write the PEM bundle (default: beside the signing key).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            URLValidator(schemes=["http", "https"])(options["realm"])
        except ValidationError:
            raise CommandError("--realm must be an http:// or https:// URL") from None
        if not options["service"].strip():
            raise CommandError("--service must not be empty")
        try:
            bundle = certificate_bundle()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        cert_out: Path = options["cert_out"] or settings.REGISTRY_KEY_FILE.with_name("bundle.pem")
        try:
            cert_out.parent.mkdir(parents=True, exist_ok=True)
            cert_out.write_bytes(bundle)
        except OSError as exc:
            raise CommandError(f"cannot write {cert_out}: {exc.strerror}") from None
        issuer = options["issuer"] or settings.REGISTRY_ISSUER
        # JSON strings are valid YAML scalars, so any value is quoted safely.
        self.stdout.write("auth:\n  token:")
        for key, value in (
            ("realm", options["realm"]),
            ("service", options["service"]),
            ("issuer", issuer),
            ("rootcertbundle", str(cert_out.resolve())),
        ):
            self.stdout.write(f"    {key}: {json.dumps(value)}")
