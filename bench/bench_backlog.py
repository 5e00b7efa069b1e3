"""Does the event drain keep up with full decision load? The stream's backlog, minute by minute.

The production shape on one machine: granian as ``make serve`` runs it, a Celery worker and
beat as ``make worker`` and ``make beat`` run them (the drain every two seconds), PostgreSQL
and Redis, all fed by wrk with as many connections as it takes to saturate the server. For each
request shape (one image per request, ten images per request) wrk runs unpaced for
``--minutes`` minutes in one-minute rounds; after each round the bench reads the stream's
length and the events stored. The backlog is bounded when it does not grow from one minute to
the next. Then it times how long the rest takes to drain once the load stops.

Run: ``.venv/bin/python bench/bench_backlog.py [--minutes 5] [--shapes 1,10]``
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import WRK, Target, run_wrk
from run import enable_policy
from stack import POSTGRES, PYTHON, ROOT, Server, demo_stack, redis_stream_length

STREAM = "imageaccess:decision-events"
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


def celery(env: dict[str, str], work: Path, *args: str) -> subprocess.Popen[bytes]:
    log = (work / f"celery-{args[0]}.log").open("ab")
    return subprocess.Popen(
        [PYTHON, "-m", "celery", "-A", "imageaccess", *args, "--loglevel=WARNING"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stored_events(db_scalar: object) -> int:
    return int(db_scalar("SELECT count(*) FROM policies_decisionevent"))  # type: ignore[operator]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=5)
    parser.add_argument("--round-seconds", type=int, default=60)
    parser.add_argument("--shapes", default="1,10", help="images per request, comma-separated")
    parser.add_argument("--workers", type=int, default=2, help="granian workers")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args()
    if not Path(WRK).exists():
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    with demo_stack(POSTGRES, args.redis, "imageaccess-backlog-") as stack:
        server = Server("granian", stack.env, args.workers, stack.work)
        worker = celery(stack.env, stack.work, "worker")
        beat = celery(
            stack.env, stack.work, "beat", "--schedule", str(stack.work / "celerybeat-schedule")
        )
        scripts = stack.work / "lua"
        scripts.mkdir()
        try:
            server.start()
            enable_policy(server.base_url, stack.tokens["olivia"])
            time.sleep(1.2)
            print(
                f"granian {args.workers} workers, Celery worker (prefork, one process per core) "
                f"and beat, wrk {args.connections} connections; rounds of {args.round_seconds} s"
            )
            for images in (int(n) for n in args.shapes.split(",")):
                target = Target(
                    f"decide-{images}",
                    f"{images}-image decisions",
                    "POST",
                    "/api/v1/decisions",
                    {"Authorization": f"Bearer {stack.tokens['mike']}"},
                    {"images": IMAGES[:images]},
                    images=images,
                )
                print(f"\n{images}-image requests")
                print(
                    f"{'minute':>6} {'req/s':>8} {'events/s':>9} {'stored/s':>9} "
                    f"{'backlog (events)':>17} {'p99 ms':>7} {'non-2xx':>8}"
                )
                before = stored_events(stack.db.scalar)
                for minute in range(1, args.minutes + 1):
                    result = run_wrk(
                        target,
                        server.base_url,
                        scripts,
                        seconds=args.round_seconds,
                        connections=args.connections,
                        threads=2,
                    )
                    stored = stored_events(stack.db.scalar)
                    backlog = redis_stream_length(args.redis, STREAM) * images
                    print(
                        f"{minute:>6} {result.rps:>8.0f} {result.rps * images:>9.0f} "
                        f"{(stored - before) / result.seconds:>9.0f} {backlog:>17,} "
                        f"{result.p99_ms:>7.1f} {result.non_2xx:>8}"
                    )
                    before = stored
                began = time.monotonic()
                while redis_stream_length(args.redis, STREAM) and time.monotonic() - began < 600:
                    time.sleep(0.5)
                print(
                    f"load stopped: the rest drained in {time.monotonic() - began:.1f} s; "
                    f"stream length {redis_stream_length(args.redis, STREAM)}"
                )
        finally:
            server.stop()
            for process in (beat, worker):
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
