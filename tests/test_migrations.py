"""The models keep their apps and tables, and the migrations describe them exactly.

The code is laid out in rooms inside the apps; no model changes app label or table, so a
database made by an earlier release migrates forward with every row where it was.
"""

from __future__ import annotations

import io

import pytest
from django.apps import apps
from django.core.management import call_command

TABLES = {
    "orgs.Organization": "orgs_organization",
    "orgs.Namespace": "orgs_namespace",
    "orgs.Membership": "orgs_membership",
    "orgs.Team": "orgs_team",
    "orgs.Invitation": "orgs_invitation",
    "orgs.PersonalAccessToken": "orgs_personalaccesstoken",
    "orgs.RegistryRefreshToken": "orgs_registryrefreshtoken",
    "orgs.ActivityLog": "orgs_activitylog",
    "policies.ImageAccessPolicy": "policies_imageaccesspolicy",
    "policies.RegistryAccessPolicy": "policies_registryaccesspolicy",
    "policies.RepositoryException": "policies_repositoryexception",
    "policies.PublisherNamespace": "policies_publishernamespace",
    "policies.DecisionEvent": "policies_decisionevent",
    "policies.DailyUsage": "policies_dailyusage",
    "policies.RollupState": "policies_rollupstate",
    "policies.AccessRequest": "policies_accessrequest",
    "policies.SnapshotVersion": "policies_snapshotversion",
}


def test_every_model_keeps_its_app_and_table() -> None:
    found = {
        model._meta.label: model._meta.db_table
        for app in ("orgs", "policies")
        for model in apps.get_app_config(app).get_models()
    }
    assert found == TABLES


@pytest.mark.django_db
def test_the_migrations_describe_the_models() -> None:
    out = io.StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()
