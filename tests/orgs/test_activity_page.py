"""The activity page: filters, pagination and CSV export."""

from __future__ import annotations

import csv
import io
from http import HTTPStatus

from django.urls import reverse

from orgs.models import ActivityLog
from tests.pages import World, client_for

ACTIVITY = reverse("orgs:activity", kwargs={"slug": "acme"})


def add_entries(world: World, count: int, action: str = "policy.updated") -> None:
    ActivityLog.objects.bulk_create(
        ActivityLog(org=world.cast.acme, actor=world.cast.olivia, action=action, target=f"t{i}")
        for i in range(count)
    )


def test_owner_sees_activity_with_changes(world: World) -> None:
    client_for(world.cast.olivia).post(
        reverse("policies:image-access", kwargs={"slug": "acme"}),
        {"enabled": "on", "allow_official": "on", "allow_verified_publisher": "on"},
    )
    html = client_for(world.cast.olivia).get(ACTIVITY).text
    assert "policy.updated" in html
    assert "exception.created" in html
    assert "enabled:</span> False → True" in html


def test_other_orgs_activity_is_not_shown(world: World) -> None:
    ActivityLog.objects.create(org=world.cast.globex, action="globex.secret", target="x")
    html = client_for(world.cast.olivia).get(ACTIVITY).text
    assert "globex.secret" not in html


def test_filter_by_action_and_actor(world: World) -> None:
    ActivityLog.objects.create(org=world.cast.acme, actor=world.cast.erin, action="member.left")
    client = client_for(world.cast.olivia)

    by_action = client.get(ACTIVITY, {"action": "member.left"})
    assert [e.action for e in by_action.context["entries"]] == ["member.left"]

    by_actor = client.get(ACTIVITY, {"actor": "olivia"})
    assert {e.actor.username for e in by_actor.context["entries"]} == {"olivia"}
    assert (
        by_actor.context["paginator"].count
        == ActivityLog.objects.filter(org=world.cast.acme, actor=world.cast.olivia).count()
    )

    # A stale or forged filter value shows everything instead of failing.
    assert client.get(ACTIVITY, {"actor": "nobody"}).status_code == HTTPStatus.OK


def test_pagination_is_fifty_a_page_and_keeps_filters(world: World) -> None:
    add_entries(world, 120, action="bulk.thing")
    client = client_for(world.cast.olivia)

    first = client.get(ACTIVITY, {"action": "bulk.thing"})
    assert len(first.context["entries"]) == 50
    assert "Page 1 of 3 (120 entries)" in first.text
    assert "?action=bulk.thing&amp;page=2" in first.text

    last = client.get(ACTIVITY, {"action": "bulk.thing", "page": "3"})
    assert len(last.context["entries"]) == 20
    assert client.get(ACTIVITY, {"page": 99}).status_code == HTTPStatus.NOT_FOUND


def test_csv_export_has_every_filtered_row(world: World) -> None:
    add_entries(world, 75, action="bulk.thing")
    response = client_for(world.cast.olivia).get(
        ACTIVITY, {"action": "bulk.thing", "format": "csv"}
    )

    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="acme-activity.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.getvalue().decode())))
    assert rows[0] == ["time", "actor", "action", "target", "before", "after"]
    assert len(rows) == 1 + 75
    assert {row[2] for row in rows[1:]} == {"bulk.thing"}


def test_csv_export_defuses_formulas(world: World) -> None:
    ActivityLog.objects.create(org=world.cast.acme, action="x.y", target="=HYPERLINK(1)")
    response = client_for(world.cast.olivia).get(ACTIVITY, {"format": "csv"})
    rows = list(csv.reader(io.StringIO(response.getvalue().decode())))
    assert [row[3] for row in rows if row[2] == "x.y"] == ["'=HYPERLINK(1)"]


def test_csv_export_is_owner_only(world: World) -> None:
    response = client_for(world.cast.mike).get(ACTIVITY, {"format": "csv"})
    assert response.status_code == HTTPStatus.FORBIDDEN
