"""The Celery tasks keep the names that beat schedules and queued messages use."""

from __future__ import annotations

from django.conf import settings

from imageaccess.celery import app


def test_every_scheduled_task_is_registered_under_its_name() -> None:
    app.loader.import_default_modules()
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert scheduled == {
        "policies.tasks.drain_decision_events",
        "policies.tasks.roll_up_and_purge_events",
    }
    assert scheduled <= set(app.tasks)
