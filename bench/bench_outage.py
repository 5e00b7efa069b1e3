"""Decision throughput while PostgreSQL or Redis is out, against the same node healthy.

granian as ``make serve`` runs it, on a private PostgreSQL cluster and a private Redis (the
fault tests' ``tests/faults/services.py``), so they can be stopped and frozen for real. wrk
drives one-image decisions for ``--seconds`` per phase: healthy, PostgreSQL refusing
connections, PostgreSQL frozen (SIGSTOP), Redis stopped, Redis frozen, each followed by
recovery. Each phase is shorter than the staleness bound (30 s), so decisions come from the
in-memory snapshots and the token cache; the ratio to the healthy phase is what the outage
costs. Statuses other than 200 are counted.

Run: ``.venv/bin/python bench/bench_outage.py [--seconds 10]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import WRK, Target, run_wrk
from run import enable_policy
from stack import ROOT, Server, http, manage, production_env, temp_dir

sys.path.insert(0, str(ROOT))

from tests.faults.services import private_postgres, private_redis


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    if not Path(WRK).exists():
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    work = temp_dir("imageaccess-outage-")
    with private_postgres() as postgres, private_redis(appendonly=True) as redis_server:
        env = production_env(postgres.url, redis_server.url, work / "data")
        manage(env, "migrate", "--noinput")
        seed = json.loads(manage(env, "seed_demo", "--json"))
        tokens = {name: info["token"] for name, info in seed["users"].items()}
        server = Server("granian", env, args.workers, work)
        server.start()
        try:
            enable_policy(server.base_url, tokens["olivia"])
            time.sleep(1.2)
            target = Target(
                "decide-1",
                "one-image decisions",
                "POST",
                "/api/v1/decisions",
                {"Authorization": f"Bearer {tokens['mike']}"},
                {"images": ["nginx"]},
                images=1,
            )
            scripts = work / "lua"
            scripts.mkdir()

            def load() -> tuple[float, int, int]:
                result = run_wrk(
                    target,
                    server.base_url,
                    scripts,
                    seconds=args.seconds,
                    connections=args.connections,
                    threads=2,
                )
                return result.rps, result.non_2xx, result.socket_errors

            def recovered() -> None:
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    answers = [http("GET", f"{server.base_url}/readyz")[0] for _ in range(6)]
                    if all(status == 200 for status in answers):
                        return
                    time.sleep(0.5)
                raise SystemExit("the node did not become ready again within 30 s")

            phases: list[tuple[str, Callable[[], None], Callable[[], None]]] = [
                ("PostgreSQL refusing connections", postgres.stop, postgres.start),
                ("PostgreSQL frozen (SIGSTOP)", postgres.freeze, postgres.thaw),
                ("Redis stopped", redis_server.stop, redis_server.start),
                ("Redis frozen (SIGSTOP)", redis_server.freeze, redis_server.thaw),
            ]

            def warm() -> None:
                """Every worker checks the token and reads the policy just before a fault.

                A worker that never did, or did longer ago than the staleness bound, cannot
                answer without the database (it fails closed); wrk's connections may all land
                on one worker, so each warming request opens a connection of its own.
                """
                for _ in range(10 * args.workers):
                    http(
                        "POST",
                        f"{server.base_url}/api/v1/decisions",
                        body=target.body,
                        headers=dict(target.headers),
                    )

            warm()
            healthy, _, _ = load()
            print(
                f"granian {args.workers} workers, wrk {args.connections} connections, "
                f"{args.seconds} s a phase"
            )
            print(f"{'phase':<34} {'req/s':>8} {'of healthy':>11} {'non-2xx':>8} {'errors':>7}")
            print(f"{'healthy':<34} {healthy:>8.0f} {1:>11.0%} {0:>8} {0:>7}")
            for name, fault, heal in phases:
                warm()
                fault()
                try:
                    rps, non_2xx, errors = load()
                finally:
                    heal()
                recovered()
                print(f"{name:<34} {rps:>8.0f} {rps / healthy:>11.0%} {non_2xx:>8} {errors:>7}")
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
