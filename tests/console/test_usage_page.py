"""The Usage page (rollups only, fixed queries, fast at volume) and the event list."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from http import HTTPStatus

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from policies.console.charts import axis, column_chart, row_chart, short_number
from policies.events.rollups import roll_up_events
from policies.events.usage_reports import period_days, usage_report, utc_today
from policies.models import DailyUsage, DecisionEvent
from tests.conftest import Cast
from tests.events.bulk_events import Pull, add_events, add_realistic_events
from tests.pages import World, client_for, make_world

pytestmark = pytest.mark.django_db
USAGE = "/orgs/acme/usage/"
EVENTS = "/orgs/acme/usage/events/"
TODAY = utc_today()


@pytest.fixture
def world(cast: Cast) -> World:
    """The console tests' world: the cast plus one object of each kind."""
    return make_world(cast)


NGINX = Pull("mike", "library/nginx", "official")
CUSTOM_DENIED = Pull("mike", "someuser/custom-image", "community", "denied")
CUSTOM_AUDIT = Pull("erin", "someuser/custom-image", "community", "would_deny")
TOOL_DENIED = Pull("erin", "other/tool", "community", "denied")


def ago(days: int) -> dt.date:
    return TODAY - dt.timedelta(days=days)


def seed(cast: Cast) -> None:
    """A small, known mix in acme and one globex event that must never show in acme."""
    add_events(cast.acme, NGINX, count=5, day=TODAY)
    add_events(cast.acme, NGINX, count=3, day=ago(10))
    add_events(cast.acme, CUSTOM_DENIED, count=4, day=ago(1))
    add_events(cast.acme, CUSTOM_AUDIT, count=2, day=ago(2))
    add_events(cast.acme, TOOL_DENIED, count=1, day=ago(20))
    add_events(cast.acme, Pull("mike", "old/thing", "community", "denied"), count=7, day=ago(60))
    add_events(cast.globex, Pull("charlie", "secret/repo", "community", "denied"), day=TODAY)
    roll_up_events(today=TODAY)


# --- Chart geometry (pure) --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("top", "maximum", "step"),
    [
        (0, 1, 1),
        (1, 1, 1),
        (7, 8, 2),
        (100, 100, 20),
        (107, 125, 25),
        (231, 250, 50),
        (2400, 2500, 500),
        (99_001, 100_000, 20_000),
    ],
)
def test_the_value_axis_ends_on_a_round_number_just_above_the_data(
    top: int, maximum: int, step: int
) -> None:
    assert axis(top) == (maximum, step)


def test_axis_labels_stay_short() -> None:
    assert [short_number(v) for v in (950, 1000, 1234, 250_000, 1_500_000)] == [
        "950",
        "1k",
        "1.2k",
        "250k",
        "1.5M",
    ]


def test_columns_stack_denials_on_the_baseline_and_scale_to_the_axis() -> None:
    days = [ago(2), ago(1), TODAY]
    chart = column_chart(days, {ago(1): {"allowed": 60, "denied": 20, "would_deny": 20}})
    assert chart.maximum == 100
    assert [t.label for t in chart.ticks] == ["0", "20", "40", "60", "80", "100"]
    empty, full, _ = chart.columns
    assert empty.segments == ()
    assert [s.series for s in full.segments] == ["denied", "would_deny", "allowed"]
    heights = [s.height for s in full.segments]
    plot = chart.plot_bottom - chart.plot_top
    assert sum(heights) == pytest.approx(plot)
    assert full.segments[0].y + full.segments[0].height == pytest.approx(chart.plot_bottom)
    assert [label.label for label in chart.dates][-1] == f"{TODAY.day} {TODAY:%b}"


def test_a_single_denial_among_many_pulls_stays_visible_in_the_rows() -> None:
    chart = row_chart([("official", "Docker Official", {"allowed": 100_000, "denied": 1})])
    denied = next(s for s in chart.rows[0].segments if s.series == "denied")
    assert denied.width >= 2


# --- Report -----------------------------------------------------------------------------------


def test_report_counts_outcomes_categories_and_top_denials_from_rollups(cast: Cast) -> None:
    seed(cast)
    # Raw events are gone after retention; the report must not need them.
    DecisionEvent.objects.all().delete()

    report = usage_report(cast.acme, days=30, today=TODAY)

    assert (report.totals.allowed, report.totals.denied, report.totals.would_deny) == (8, 5, 2)
    assert len(report.daily) == 30
    assert report.daily[-1] == (TODAY, report.daily[-1][1])
    assert report.daily[-1][1].allowed == 5
    assert {key: counts.total for key, _, counts in report.categories} == {
        "community": 7,
        "official": 8,
    }
    assert [(r.name, r.denied, r.would_deny) for r in report.top_repositories] == [
        ("someuser/custom-image", 4, 2),
        ("other/tool", 1, 0),
    ]
    assert [(r.name, r.total) for r in report.top_members] == [("mike", 4), ("erin", 3)]


def test_the_period_decides_which_days_count(cast: Cast) -> None:
    seed(cast)
    week = usage_report(cast.acme, days=7, today=TODAY)
    quarter = usage_report(cast.acme, days=90, today=TODAY)
    assert (week.totals.allowed, week.totals.denied, week.totals.would_deny) == (5, 4, 2)
    assert quarter.totals.denied == 12
    assert quarter.top_repositories[0].name == "old/thing"


@pytest.mark.parametrize(
    ("value", "days"), [("7", 7), ("90", 90), ("31", 30), ("x", 30), (None, 30)]
)
def test_unknown_periods_fall_back_to_30_days(value: str | None, days: int) -> None:
    assert period_days(value) == days


# --- Usage page -------------------------------------------------------------------------------


def test_owner_sees_charts_totals_and_links_to_filtered_events(world: World) -> None:
    seed(world.cast)

    response = client_for(world.cast.olivia).get(USAGE, {"days": 30})

    assert response.status_code == HTTPStatus.OK
    html = response.text
    assert html.count('<svg class="chart') == 2
    assert 'role="img"' in html
    assert '<title id="over-time-title">Pulls per day, last 30 days</title>' in html
    # 5 days with data in the period: one group of bars per day, each with a text alternative.
    assert len(re.findall(r'<g class="column">', html)) == 5
    assert len(re.findall(r'class="bar bar-denied"', html)) >= 2
    assert "5 allowed, 0 denied, 0 would be denied" in html
    # Links to the event list, filtered as the number they sit on.
    assert f"{EVENTS}?outcome=denied&amp;days=30" in html
    assert f"{EVENTS}?repository=someuser/custom-image&amp;days=30" in html
    assert f"{EVENTS}?repository=someuser/custom-image&amp;outcome=would_deny&amp;days=30" in html
    assert f"{EVENTS}?user=mike&amp;outcome=denied&amp;days=30" in html
    assert f"{EVENTS}?category=community&amp;days=30" in html
    assert f"{EVENTS}?day={ago(1).isoformat()}" in html
    # The data also reads as tables, without the pictures.
    assert '<caption class="visually-hidden">Pulls per day</caption>' in html
    # globex's pulls never appear in acme.
    assert "secret/repo" not in html
    assert "charlie" not in html
    # No inline style anywhere (the CSP forbids it).
    assert "style=" not in html


def test_empty_state_when_nothing_was_pulled(world: World) -> None:
    html = client_for(world.cast.olivia).get(USAGE).text
    assert "No pulls recorded in the last 30 days." in html
    assert '<svg class="chart' not in html


def test_usage_page_queries_do_not_grow_with_volume(world: World) -> None:
    client = client_for(world.cast.olivia)
    seed(world.cast)
    client.get(USAGE)  # warm the session
    with CaptureQueriesContext(connection) as small:
        assert client.get(USAGE).status_code == HTTPStatus.OK
    add_realistic_events(world.cast.acme, total=5000, days=30, today=TODAY)
    roll_up_events(today=TODAY)
    with CaptureQueriesContext(connection) as large:
        assert client.get(USAGE).status_code == HTTPStatus.OK

    usage_queries = [q["sql"] for q in large.captured_queries if "dailyusage" in q["sql"]]
    assert len(large) == len(small)
    assert len(usage_queries) == 4
    assert not [q for q in large.captured_queries if "decisionevent" in q["sql"]]
    # Session, user, membership, the organization switcher and the four rollup queries.
    assert len(large) <= 9


def test_usage_page_over_100k_events_counts_them_all_from_the_rollups(world: World) -> None:
    # How fast it renders is measured by bench/bench_usage.py (budget: one second).
    org = world.cast.acme
    add_realistic_events(org, total=100_000, days=90, today=TODAY)
    roll_up_events(today=TODAY)
    assert DecisionEvent.objects.for_org(org).count() == 100_000
    assert DailyUsage.objects.for_org(org).count() > 1000
    client = client_for(world.cast.olivia)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(USAGE, {"days": 90})
    assert response.status_code == HTTPStatus.OK
    assert not [q for q in queries.captured_queries if "decisionevent" in q["sql"]]
    report = usage_report(org, days=90, today=TODAY)
    assert report.totals.total == 100_000
    assert f"{report.totals.total:,}".encode() in response.content


# --- Event list -------------------------------------------------------------------------------


def test_event_list_filters_by_user_repository_category_outcome_and_enforcer(
    world: World,
) -> None:
    seed(world.cast)
    add_events(
        world.cast.acme, Pull("mike", "library/nginx", "official", enforcer="registry"), day=TODAY
    )
    client = client_for(world.cast.olivia)

    def images(**query: str) -> list[str]:
        html = client.get(EVENTS, query).text
        return re.findall(r"<code>([^<]+)</code></a>", html)

    assert len(images()) == 23
    assert set(images(user="erin")) == {"someuser/custom-image", "other/tool"}
    assert len(images(repository="someuser/custom-image")) == 6
    assert len(images(outcome="denied", days="30")) == 5
    assert len(images(outcome="would_deny")) == 2
    assert len(images(outcome="allowed", category="official")) == 9
    assert len(images(enforcer="registry")) == 1
    assert len(images(day=ago(1).isoformat())) == 4
    assert images(days="7", user="nobody") == []


def test_event_list_refuses_filters_that_do_not_parse(world: World) -> None:
    seed(world.cast)
    html = client_for(world.cast.olivia).get(EVENTS, {"outcome": "sometimes"}).text
    assert "Select a valid choice." in html
    assert "Fix the filters above to see events." in html
    assert "<code>" not in html


def test_event_list_is_paginated_newest_first(world: World) -> None:
    add_events(world.cast.acme, NGINX, count=60, day=ago(1))
    add_events(world.cast.acme, CUSTOM_DENIED, count=1, day=TODAY)
    client = client_for(world.cast.olivia)
    first = client.get(EVENTS).text
    assert "Page 1 of 2 (61 events)" in first
    assert first.index("someuser/custom-image") < first.index("nginx")
    second = client.get(EVENTS, {"page": 2}).text
    assert second.count("<code>nginx</code>") == 11


def test_csv_export_has_every_matching_event_with_formulas_defused(world: World) -> None:
    add_events(world.cast.acme, NGINX, count=3, day=TODAY)
    add_events(
        world.cast.acme,
        Pull("=cmd|'/c calc'!A1", "evil/image", "community", "denied", image="@SUM(1+1)"),
        day=TODAY,
    )
    response = client_for(world.cast.olivia).get(EVENTS, {"format": "csv", "outcome": "denied"})
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="acme-events.csv"' in response["Content-Disposition"]
    content = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    rows = list(csv.reader(io.StringIO(content.decode())))
    assert rows[0][:3] == ["time", "user", "image"]
    assert len(rows) == 2
    assert rows[1][1] == "'=cmd|'/c calc'!A1"
    assert rows[1][2] == "'@SUM(1+1)"
    assert rows[0][4] == "registry"
    assert rows[1][7] == "denied"


def test_denials_are_ranked_by_registry(world: World) -> None:
    DailyUsage.objects.create(
        org=world.cast.acme,
        day=utc_today(),
        category="other_registry",
        registry="ghcr.io",
        username="mike",
        outcome="denied",
        count=4,
    )
    page = client_for(world.cast.olivia).get(USAGE)
    section = page.text.split('id="top-registries-heading"')[1].split("</section>")[0]
    assert "<code>ghcr.io</code>" in section
    assert "?registry=ghcr.io&amp;outcome=denied" in section
