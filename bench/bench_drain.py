"""How fast one drainer moves decision events from the Redis stream into PostgreSQL.

Throwaway PostgreSQL database with production settings and the demo data. Fills the event
stream the way the servers do (one XADD per request: one event for a one-image decision, ten
for a ten-image one), then runs the drain (what the Celery task runs every few seconds) until
the stream is empty, and prints events stored per second for each request shape. The server
side of the comparison (events produced per second at full decision load) comes from
``make bench``: the drain must stay ahead of it.

Run: ``.venv/bin/python bench/bench_drain.py [--requests 20000]``
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stack import ROOT, run_bench

IMAGES = [
    "nginx:1.27",
    "bitnami/redis:7",
    "someuser/custom-image",
    "acme/app:1.0",
    "postgres:16",
    "grafana/grafana:11",
    "python:3.12-slim",
    "apache/airflow:2",
    "redis:7",
    "ghcr.io/someuser/tool:1",
]


def child(args: argparse.Namespace) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "imageaccess.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import orjson
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from imageaccess.redis_client import get_redis
    from policies.decision_service import decide_images
    from policies.events.event_rows import RequestContext, event_rows
    from policies.events.stream_drain import drain_stream
    from policies.models import DecisionEvent

    client = get_redis()
    assert client is not None, "the bench needs REDIS_URL"
    mike = get_user_model().objects.get(username="mike")
    context = RequestContext(enforcer="api", user_id=mike.pk, username="mike", user_agent="bench")
    print(f"{'request shape':<16} {'entries':>8} {'events':>8} {'seconds':>8} {'events/s':>10}")
    for per_request in (1, 10):
        outcomes = decide_images(IMAGES[:per_request], user_id=mike.pk)
        drain_stream()  # the group exists, as under a running worker
        pipe = client.pipeline(transaction=False)
        for number in range(args.requests):
            rows = event_rows(outcomes, context, timezone.now())
            pipe.xadd(settings.EVENT_STREAM, {"events": orjson.dumps(rows)})
            if number % 1000 == 999:
                pipe.execute()
        pipe.execute()
        before = DecisionEvent.objects.count()
        profile = cProfile.Profile() if args.profile else None
        started = time.perf_counter()
        if profile is not None:
            profile.enable()
        while drain_stream():
            pass
        if profile is not None:
            profile.disable()
        seconds = time.perf_counter() - started
        stored = DecisionEvent.objects.count() - before
        print(
            f"{per_request:>2} image(s)      {args.requests:>8,} {stored:>8,} "
            f"{seconds:>8.2f} {stored / seconds:>10,.0f}"
        )
        if profile is not None:
            pstats.Stats(profile).sort_stats("tottime").print_stats(12)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000, help="XADDs per shape")
    parser.add_argument("--redis-db", type=int, default=13)
    parser.add_argument("--profile", action="store_true", help="where the drain's time goes")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if args.child:
        child(args)
        return 0
    return run_bench(__file__, args.redis_db, "imageaccess-drain-")


if __name__ == "__main__":
    sys.exit(main())
