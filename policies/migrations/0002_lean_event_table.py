"""The decision event table without what its inserts paid for and no query used.

The unique constraint on ``event_id`` stays as it is (same name, same index); only Django's
``varchar_pattern_ops`` twin of it goes, which served LIKE queries no code makes. The index on
``org_id`` alone goes too (the composite indexes lead with it), and both foreign keys lose
their database constraint (Django cascades deletions itself).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("orgs", "0002_registryrefreshtoken"),
        ("policies", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="decisionevent",
                    name="event_id",
                    field=models.CharField(help_text="Idempotency key", max_length=64),
                ),
                migrations.AddConstraint(
                    model_name="decisionevent",
                    constraint=models.UniqueConstraint(
                        fields=("event_id",), name="policies_decisionevent_event_id_key"
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS policies_decisionevent_event_id_1372c74a_like",
                    reverse_sql=migrations.RunSQL.noop,
                ),
            ],
        ),
        migrations.AlterField(
            model_name="decisionevent",
            name="org",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="events",
                to="orgs.organization",
            ),
        ),
        migrations.AlterField(
            model_name="decisionevent",
            name="user",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
    ]
