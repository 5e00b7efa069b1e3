"""Time and profile the warm request path in-process, without HTTP server or load generator.

Same set-up as ``bench/run.py`` (throwaway PostgreSQL database, dedicated Redis DB, production
settings, demo data, acme's policy on), then calls the WSGI application directly, warm, for
each target: prints microseconds per request (best of several rounds: far steadier than
requests/s on a shared machine) and, with ``--profile TARGET``, the top functions of a
cProfile run.

Run: ``.venv/bin/python bench/profile_hot_path.py [--n 3000] [--profile decide-1]``
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stack import POSTGRES, ROOT, demo_stack, run_as_child


def _environ(method: str, path: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    path, _, query = path.partition("?")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }
    if body:
        environ["CONTENT_TYPE"] = "application/json"
        environ["CONTENT_LENGTH"] = str(len(body))
    for name, value in headers.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


def _application(off: set[str]) -> Callable[..., Any]:
    """The production WSGI application, less the optimisations named in ``off``."""
    from imageaccess import wsgi

    application: Callable[..., Any] = wsgi.application
    if "lean-wsgi" in off:  # every path through the full middleware stack
        application = wsgi.django_application
    if "lean-view" in off:  # DecisionView through APIView.dispatch, serializer and renderer
        from policies.enforcers.decision_api import DecisionView

        DecisionView._lean_dispatch = lambda self, request: None  # type: ignore[method-assign]
    if "hiredis" in off:  # redis-py's pure-Python reply parser
        from redis.connection import _RESP2Parser

        from imageaccess.redis_client import get_redis

        client = get_redis()
        assert client is not None
        client.connection_pool.connection_kwargs["parser_class"] = _RESP2Parser
        client.connection_pool.disconnect()
    if off:
        print(f"without: {', '.join(sorted(off))}")
    return application


def child(args: argparse.Namespace) -> None:
    """Runs with the production environment: build requests, time them, profile one."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "imageaccess.settings")
    sys.path.insert(0, str(ROOT))
    application = _application(set(args.without.split(",")) - {""})

    tokens = json.loads(os.environ["BENCH_TOKENS"])
    bearer = {"Authorization": f"Bearer {tokens['mike']}"}
    basic = base64.b64encode(f"mike:{tokens['mike']}".encode()).decode()
    from run import TEN_IMAGES  # the same bodies as the HTTP benchmark

    targets = {
        "healthz": ("GET", "/healthz", {}, b""),
        "decide-1": ("POST", "/api/v1/decisions", bearer, b'{"images":["nginx:1.27"]}'),
        "decide-10": (
            "POST",
            "/api/v1/decisions",
            bearer,
            json.dumps({"images": TEN_IMAGES}).encode(),
        ),
        "token": (
            "GET",
            "/v2/token?service=registry.bench.local&scope=repository:library/nginx:pull",
            {"Authorization": f"Basic {basic}"},
            b"",
        ),
    }
    statuses: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        statuses.append(status)
        return lambda data: None

    def call(name: str) -> None:
        method, path, headers, body = targets[name]
        result = application(_environ(method, path, headers, body), start_response)
        b"".join(result)
        close = getattr(result, "close", None)
        if close:
            close()

    # Turn acme's policy on through the API, like bench/run.py.
    olivia = {"Authorization": f"Bearer {tokens['olivia']}"}
    result = application(
        _environ("PATCH", "/api/v1/orgs/acme/image-access", olivia, b'{"enabled": true}'),
        start_response,
    )
    assert statuses[-1].startswith("200"), (statuses[-1], b"".join(result))
    for name in targets:
        for _ in range(200):
            call(name)
        assert statuses[-1].startswith("200"), (name, statuses[-1])
    print(f"in-process, warm, best of {args.rounds} rounds of {args.n} requests:")
    print(f"  {'target':<10} {'wall us/req':>12} {'CPU us/req':>11} {'vs healthz (CPU)':>17}")
    base_cpu = 0.0
    for name in targets:
        best_wall = best_cpu = float("inf")
        for _ in range(args.rounds):
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(args.n):
                call(name)
            best_wall = min(best_wall, (time.perf_counter() - wall) / args.n)
            best_cpu = min(best_cpu, (time.process_time() - cpu) / args.n)
        base_cpu = base_cpu or best_cpu
        print(
            f"  {name:<10} {best_wall * 1e6:12.1f} {best_cpu * 1e6:11.1f} "
            f"{best_cpu / base_cpu:16.2f}x"
        )
        assert all(s.startswith("200") for s in statuses), set(statuses)
        statuses.clear()
    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(args.n):
            call(args.profile)
        profiler.disable()
        stats = pstats.Stats(profiler)
        stats.sort_stats(args.sort).print_stats(args.top)
        if args.callers:
            stats.print_callers(args.callers)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=3000, help="requests per round (3000)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", default="", help="target to profile (e.g. decide-1)")
    parser.add_argument("--sort", default="tottime", help="pstats sort key (tottime)")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument(
        "--callers", default="", help="also print who calls functions matching this regex"
    )
    parser.add_argument("--redis-db", type=int, default=13)
    parser.add_argument(
        "--without",
        default="",
        help="switch optimizations off to measure them: lean-wsgi,lean-view,hiredis",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if args.child:
        child(args)
        return 0
    redis_url = f"redis://127.0.0.1:6379/{args.redis_db}"
    with demo_stack(POSTGRES, redis_url, "imageaccess-profile-") as stack:
        stack.env["BENCH_TOKENS"] = json.dumps(stack.tokens)
        return run_as_child(__file__, stack.env)


if __name__ == "__main__":
    sys.exit(main())
