"""Time the Usage page with 100,000 decision events (budget: under a second).

Throwaway PostgreSQL database with production settings and the demo data; inserts 100,000
events for acme spread over the last 90 days (several users, both enforcers, every image
category, allowed, denied and would-deny), rolls them up as the nightly job does, then
requests ``/orgs/acme/usage/?days=N`` as acme's owner through Django's test client, warm, in
one process: prints the best and median render time and the SQL queries per render for 7, 30
and 90 days, and whether each is under the budget. It asserts nothing: the fixed query count
is asserted in ``tests/console/test_usage_page.py``.

Run: ``.venv/bin/python bench/bench_usage.py [--events 100000] [--runs 5]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stack import ROOT, run_bench

BUDGET_MS = 1000.0
PERIODS = (7, 30, 90)
# (image, category, allowed, would_deny, reason): what a fleet pulls, with its outcomes.
PULLS = [
    ("nginx:1.27", "official", True, False, "official images allowed"),
    ("postgres:16", "official", True, False, "official images allowed"),
    ("python:3.12-slim", "official", True, False, "official images allowed"),
    ("redis:7", "official", True, False, "official images allowed"),
    ("bitnami/redis:7", "verified_publisher", True, False, "verified publisher images allowed"),
    ("grafana/grafana:11", "verified_publisher", True, False, "verified publisher images allowed"),
    ("acme/app:1.0", "organization", True, False, "organization images are always allowed"),
    ("acme/worker:2.3", "organization", True, False, "organization images are always allowed"),
    ("apache/airflow:2", "community", False, False, "community images not allowed"),
    ("someuser/custom-image", "community", False, False, "community images not allowed"),
    ("tools/helper:latest", "community", True, True, "community images not allowed"),
]


def child(args: argparse.Namespace) -> None:
    """Runs with the production environment: insert, roll up, render and time."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "imageaccess.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from orgs.models import Organization
    from policies.events.rollups import roll_up_events
    from policies.events.usage_reports import usage_report
    from policies.models import DecisionEvent

    org = Organization.objects.get(slug="acme")
    users = list(get_user_model().objects.filter(username__in=["olivia", "erin", "mike"]))
    started = time.perf_counter()
    insert_events(connection, org.pk, [(u.pk, u.get_username()) for u in users], args.events)
    today = dt.datetime.now(dt.UTC).date()
    roll_up_events(today=today)
    roll_up_events(today=today + dt.timedelta(days=1))  # today's events too, as at midnight
    print(
        f"{DecisionEvent.objects.filter(org=org).count():,} events for acme inserted and "
        f"rolled up in {time.perf_counter() - started:.1f} s"
    )

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(get_user_model().objects.get(username="olivia"))
    path = "/orgs/acme/usage/"
    response = client.get(path, {"days": 7})  # sessions, templates: as on a running server
    assert response.status_code == 200, response.status_code

    report = usage_report(org, days=90, today=today)
    print(f"the 90-day report counts {report.totals.total:,} pulls")
    header = f"{'period':<10} {'best ms':>8} {'median ms':>10} {'queries':>8}"
    print(f"\n{header}  under {BUDGET_MS:.0f} ms")
    for days in PERIODS:
        timings, queries = [], 0
        for _ in range(args.runs):
            with CaptureQueriesContext(connection) as captured:
                begin = time.perf_counter()
                response = client.get(path, {"days": days})
                timings.append((time.perf_counter() - begin) * 1000)
            assert response.status_code == 200, response.status_code
            queries = len(captured)
        best, median = min(timings), statistics.median(timings)
        verdict = "yes" if median < BUDGET_MS else "NO"
        print(f"{days:>3} days   {best:>8.1f} {median:>10.1f} {queries:>8}  {verdict}")


def insert_events(connection: Any, org_id: int, users: list[tuple[int, str]], total: int) -> None:
    """``total`` events over the last 90 days, in batches of plain INSERTs."""
    rng = random.Random(total)
    now = dt.datetime.now(dt.UTC)
    sql = (
        "INSERT INTO policies_decisionevent (event_id, org_id, user_id, username, token_id, "
        "image, reference, repository, category, allowed, would_deny, reason, enforcer, "
        "client_address, user_agent, created_at) VALUES "
        "(%s, %s, %s, %s, NULL, %s, %s, %s, %s, %s, %s, %s, %s, '10.0.0.7', 'bench', %s)"
    )
    rows = []
    with connection.cursor() as cursor:
        for _ in range(total):
            image, category, allowed, would_deny, reason = rng.choice(PULLS)
            user_id, username = rng.choice(users)
            repository = image.split(":")[0]
            if "/" not in repository:
                repository = f"library/{repository}"
            at = now - dt.timedelta(seconds=rng.randrange(89 * 86_400))  # inside 90 days
            rows.append(
                (
                    uuid.uuid4().hex,
                    org_id,
                    user_id,
                    username,
                    image,
                    f"docker.io/{repository}:{image.partition(':')[2] or 'latest'}",
                    repository,
                    category,
                    allowed,
                    would_deny,
                    reason,
                    rng.choice(("api", "api", "registry")),
                    at,
                )
            )
            if len(rows) == 5000:
                cursor.executemany(sql, rows)
                rows = []
        if rows:
            cursor.executemany(sql, rows)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5, help="renders per period (5)")
    parser.add_argument("--redis-db", type=int, default=14)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if args.child:
        child(args)
        return 0
    return run_bench(__file__, args.redis_db, "imageaccess-usage-")


if __name__ == "__main__":
    sys.exit(main())
