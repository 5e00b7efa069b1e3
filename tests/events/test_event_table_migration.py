"""The lean event table migration keeps every row and the idempotency key's uniqueness."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("policies", "0001_initial")]
AFTER = [("policies", "0002_lean_event_table")]


def _migrate(targets: list[tuple[str, str]] | None):
    """Migrate to ``targets`` (None: every app's latest) and return the models of that state."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    targets = targets or executor.loader.graph.leaf_nodes()
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_rows_survive_and_event_ids_stay_unique() -> None:
    old = _migrate(BEFORE)
    Organization = old.get_model("orgs", "Organization")
    Event = old.get_model("policies", "DecisionEvent")
    org = Organization.objects.create(slug="migrated", name="Migrated", created_at=timezone.now())
    fields = dict(
        org=org,
        image="nginx",
        category="official",
        allowed=True,
        reason="official images allowed",
        enforcer="api",
        created_at=timezone.now(),
    )
    Event.objects.create(event_id="kept-1", **fields)
    Event.objects.create(event_id="kept-2", **fields)
    try:
        new = _migrate(AFTER)
        Event = new.get_model("policies", "DecisionEvent")
        assert sorted(Event.objects.values_list("event_id", flat=True)) == ["kept-1", "kept-2"]
        assert Event.objects.filter(org_id=org.pk).count() == 2
        with pytest.raises(IntegrityError), transaction.atomic():
            Event.objects.create(event_id="kept-1", **{**fields, "org": None})
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_constraint WHERE contype = 'f' "
                    "AND conrelid = 'policies_decisionevent'::regclass"
                )
                assert cursor.fetchone()[0] == 0
                cursor.execute(
                    "SELECT indexname FROM pg_indexes WHERE tablename = 'policies_decisionevent'"
                )
                names = {row[0] for row in cursor.fetchall()}
            assert "policies_decisionevent_event_id_key" in names
            assert not any(name.endswith("_like") for name in names)
    finally:
        Event.objects.all().delete()
        Organization.objects.filter(pk=org.pk).delete()
        _migrate(None)
