"""Start-up refuses a configuration that would loosen the policy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from imageaccess.startup import run_startup_checks

BASE_DIR = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _volatile_redis_accepted(settings) -> None:
    settings.ALLOW_VOLATILE_REDIS = True  # the machine's Redis keeps nothing on disk


def test_registry_orgs_naming_an_unknown_organization_stops_start_up(
    settings, cast: object
) -> None:
    settings.REGISTRY_ORGS = ["acme", "acmee"]
    with pytest.raises(ImproperlyConfigured, match="unknown organization: acmee"):
        run_startup_checks()


def test_registry_orgs_are_matched_without_regard_to_case(settings, cast: object) -> None:
    settings.REGISTRY_ORGS = ["ACME", "Globex"]
    run_startup_checks()


def test_no_registry_orgs_needs_no_database(settings) -> None:
    # No database fixture: a query here would raise.
    settings.REGISTRY_ORGS = []
    run_startup_checks()


PREPARE = """
import django
django.setup()
from django.core.management import call_command
from orgs.models import Organization
call_command("migrate", verbosity=0)
Organization.objects.get_or_create(slug="acme", defaults={"name": "Acme"})
"""


def _python(code: str, database_url: str, registry_orgs: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEACCESS_")}
    env |= {
        "DATABASE_URL": database_url,
        "IMAGEACCESS_REGISTRY_ORGS": registry_orgs,
        "DJANGO_SETTINGS_MODULE": "imageaccess.settings",
    }
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_wsgi_application_refuses_to_load_with_an_unknown_registry_org(
    tmp_path: Path,
) -> None:
    database_url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    prepared = _python(PREPARE, database_url, "")
    assert prepared.returncode == 0, prepared.stderr
    refused = _python("import imageaccess.wsgi", database_url, "acme,typo-corp")
    assert refused.returncode != 0
    assert "IMAGEACCESS_REGISTRY_ORGS names unknown organization: typo-corp" in refused.stderr
    started = _python("import imageaccess.wsgi", database_url, "Acme")
    assert started.returncode == 0, started.stderr
