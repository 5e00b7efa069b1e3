"""Soak: 60 seconds at 80% of measured capacity with 1% invalid requests.

Starts ``make serve``'s server against a fresh PostgreSQL database and Redis with the demo
data and acme's policy on, measures the one-image decision's capacity with an unpaced wrk run,
then holds 80% of it with wrk pacing each connection (Lua ``delay``), one request in a hundred
malformed. Prints: status counts (only 200 and the expected 400 may appear), throughput and
latency, each worker's memory at start and end, and decision events stored in PostgreSQL
against decisions answered. Stops everything it started. ``.venv/bin/python bench/soak.py``.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import WRK, Target, run_wrk
from run import Drainer, drain_and_count, enable_policy
from stack import POSTGRES, Server, demo_stack

VALID = '{"images": ["nginx"]}'
INVALID = '{"images": "not-a-list"}'  # a malformed body: 400, and no decision recorded

PACED = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  statuses = {}
  sent = 0
end
function request()
  sent = sent + 1
  local body = (sent %% 100 == 0) and [[%(invalid)s]] or [[%(valid)s]]
  return wrk.format("POST", "/api/v1/decisions", {
    ["Authorization"] = "Bearer %(token)s",
    ["Content-Type"] = "application/json",
  }, body)
end
function delay() return %(delay_ms).3f end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
function done(summary, latency, requests)
  local totals = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      totals[status] = (totals[status] or 0) + count
    end
  end
  for status, count in pairs(totals) do
    io.write(string.format("STATUS %%d %%d\\n", status, count))
  end
  local e = summary.errors
  io.write(string.format("SOAK %%d %%d %%d %%d %%d %%d %%.0f %%.0f\\n", summary.requests,
    summary.duration, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def _paced(script: Path, base_url: str, connections: int, seconds: float) -> tuple[int, str]:
    """Run wrk with the paced script; return (requests, output)."""
    output = subprocess.run(
        [WRK, "-t2", f"-c{connections}", f"-d{seconds:g}s", "-s", str(script), base_url],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    ).stdout
    match = re.search(r"^SOAK (\d+)", output, re.M)
    return (int(match.group(1)) if match else 0), output


def _statuses(output: str) -> dict[int, int]:
    return {int(s): int(n) for s, n in re.findall(r"^STATUS (\d+) (\d+)$", output, re.M)}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--fraction", type=float, default=0.8, help="of measured capacity")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--postgres", default=POSTGRES)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if not Path(WRK).exists():
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    with demo_stack(args.postgres, args.redis, "imageaccess-soak-") as stack:
        env, db, work = stack.env, stack.db, stack.work
        server: Server | None = None
        try:
            token = stack.tokens["mike"]
            server = Server("granian", env, args.workers, work)
            server.start()
            enable_policy(server.base_url, stack.tokens["olivia"])
            time.sleep(1.2)
            decide = Target(
                "decide-1",
                "decide",
                "POST",
                "/api/v1/decisions",
                {"Authorization": f"Bearer {token}"},
                {"images": ["nginx"]},
                images=1,
            )
            scripts = work / "lua"
            scripts.mkdir()
            baseline = drain_and_count(env, db, args.redis, processes=1)["stored"]
            # The drain runs from here on, as the Celery worker would beside the web server, so
            # capacity is measured, and the pace calibrated, with its CPU cost included.
            drainer = Drainer(env, processes=1)
            drainer.start()
            runs = [
                run_wrk(
                    decide,
                    server.base_url,
                    scripts,
                    seconds=seconds,
                    connections=args.connections,
                    threads=2,
                )
                for seconds in (3, 10)
            ]
            capacity = runs[-1].rps
            rate = capacity * args.fraction
            script = work / "soak.lua"
            # wrk waits ``delay`` after each answer, so a connection's period is latency + delay:
            # calibrate the delay in short runs until the achieved rate is near the target.
            delay_ms = 1000.0 * args.connections / rate
            calibration_answered = sum(run.requests - run.non_2xx for run in runs)
            for _ in range(3):
                script.write_text(
                    PACED
                    % {"invalid": INVALID, "valid": VALID, "token": token, "delay_ms": delay_ms}
                )
                sent, calibration = _paced(script, server.base_url, args.connections, 5)
                calibration_answered += _statuses(calibration).get(200, 0)
                achieved = max(sent, 1) / 5
                delay_ms = max(
                    0.0, delay_ms + 1000.0 * args.connections * (1 / rate - 1 / achieved)
                )
            script.write_text(
                PACED % {"invalid": INVALID, "valid": VALID, "token": token, "delay_ms": delay_ms}
            )
            print(
                f"capacity {capacity:.0f} req/s (with the event drain running); "
                f"soaking at {rate:.0f} req/s "
                f"({args.fraction:.0%}) for {args.seconds:g} s, 1% malformed requests"
            )
            rss_start = server.rss()
            _, output = _paced(script, server.base_url, args.connections, args.seconds)
            drainer.stop()
            rss_end = server.rss()
            server.stop()
            server = None
            statuses = _statuses(output)
            requests, duration_us, *errors, p50_us, p99_us = (
                int(float(v))
                for v in re.search(r"^SOAK (.+)$", output, re.M).group(1).split()  # type: ignore[union-attr]
            )
            stored = drain_and_count(env, db, args.redis, processes=1)["stored"] - baseline
            stored -= calibration_answered  # the calibration runs' decisions were recorded too
            answered = statuses.get(200, 0)
            unexpected = {s: n for s, n in statuses.items() if s not in (200, 400)}
            print(
                f"requests {requests} in {duration_us / 1e6:.1f} s "
                f"({requests / (duration_us / 1e6):.0f} req/s), p50 {p50_us / 1000:.1f} ms, "
                f"p99 {p99_us / 1000:.1f} ms"
            )
            print(
                f"statuses {dict(sorted(statuses.items()))}; socket errors "
                f"connect/read/write/timeout {errors}"
            )
            print(
                "worker RSS start -> end: "
                + ", ".join(
                    f"{rss_start[pid] / 1024:.1f} -> {rss_end.get(pid, 0) / 1024:.1f} MiB"
                    for pid in sorted(rss_start)
                )
            )
            # wrk counts only answers read before its clock stops; the server may answer (and
            # record) a few more, at most one per connection.
            print(
                f"decision events stored in PostgreSQL: {stored} for {answered} decisions "
                f"answered with 200 (a few more may be answered after wrk's clock stops)"
            )
            # Each of the six runs may leave up to one answer per connection uncounted.
            complete = answered <= stored <= answered + 6 * args.connections
            ok = not unexpected and not any(errors) and statuses.get(400, 0) > 0 and complete
            print("RESULT", "ok" if ok else f"unexpected statuses {unexpected}")
            return 0 if ok else 1
        finally:
            if server is not None:
                server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
