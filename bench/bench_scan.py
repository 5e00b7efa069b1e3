"""Benchmark the build-file scanners on large, realistic inputs.

Generates, in a temporary directory:

* a 5,000-line multi-stage Dockerfile (global ARGs, line continuations with comments,
  heredocs, ``COPY --from`` stages and images, ``RUN --mount`` caches and images);
* a 500-service Compose file (interpolation with defaults, YAML anchors, ``extends`` and
  ``build`` services sharing a Dockerfile) plus its ``.env``;

then times, best of N runs with :func:`time.perf_counter`: ``scan_dockerfile``,
``scan_compose`` and a whole ``imageaccess scan --json`` call made in-process. Prints the
figures and whether each is under the 200 ms budget; it asserts nothing.

Run: ``.venv/bin/python bench/bench_scan.py [--runs N]``
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from policies.engine.scanners.compose import scan_compose  # noqa: E402
from policies.engine.scanners.dockerfile_stages import scan_dockerfile  # noqa: E402

BUDGET_MS = 200.0
DOCKERFILE_LINES = 5_000
SERVICES = 500


def make_dockerfile(target_lines: int = DOCKERFILE_LINES) -> str:
    """A long multi-stage Dockerfile exercising every parser feature the scanner handles."""
    head = [
        "# syntax=docker/dockerfile:1.7",
        "ARG REGISTRY=docker.io",
        "ARG GO_VERSION=1.22",
        "ARG ALPINE_VERSION=3.19",
        "ARG NODE_VERSION",
        "",
    ]
    lines = list(head)
    stage = 0
    while len(lines) < target_lines:
        prev = f"stage{stage - 1}" if stage else None
        base = (
            "${REGISTRY}/library/golang:${GO_VERSION}-alpine${ALPINE_VERSION}"
            if stage % 3 == 0
            else (prev or "alpine:3.19")
        )
        lines += [
            f"FROM --platform=$BUILDPLATFORM {base} AS stage{stage}",
            "ARG TARGETOS TARGETARCH",
            "WORKDIR /src",
            "RUN --mount=type=cache,target=/root/.cache/go-build \\",
            "    --mount=type=bind,target=/src,rw \\",
            "    # build the binaries for the target platform",
            "",
            f"    GOOS=$TARGETOS GOARCH=$TARGETARCH go build -o /out/app{stage} ./cmd/... && \\",
            "    echo done",
            f"RUN --mount=type=bind,from=node:20-alpine,source=/usr/local,target=/n{stage} true",
            "COPY <<EOF /etc/app.conf",
            "FROM this-is-content",
            f"stage = {stage}",
            "EOF",
            f"COPY --from=ghcr.io/acme/tool:{stage % 7} /bin/tool /usr/local/bin/",
        ]
        if prev:
            lines.append(f"COPY --link --from={prev} /out /out")
        lines += [
            'ENV PATH="/usr/local/bin:${PATH}" \\',
            f"    APP_STAGE={stage}",
            f'LABEL org.opencontainers.image.title="stage {stage}"',
            "",
        ]
        stage += 1
    lines += ["FROM scratch AS final", "COPY --from=0 /out /out", 'ENTRYPOINT ["/out/app0"]']
    return "\n".join(lines) + "\n"


def make_compose(services: int = SERVICES) -> str:
    """A 500-service Compose file with interpolation, anchors, extends and builds."""
    out = [
        "name: bench",
        "x-common: &common",
        "  restart: unless-stopped",
        "  environment:",
        "    LOG_LEVEL: ${LOG_LEVEL:-info}",
        "    LITERAL: $$HOME",
        "services:",
        "  base:",
        "    <<: *common",
        "    image: ${REGISTRY:-docker.io}/acme/base:${TAG:-latest}",
    ]
    for i in range(services - 1):
        name = f"svc{i}"
        out.append(f"  {name}:")
        kind = i % 4
        if kind == 0:
            out += [
                "    <<: *common",
                f"    image: ${{REGISTRY:-docker.io}}/acme/app{i}:${{TAG:-latest}}",
                '    profiles: ["${PROFILE:-default}"]',
            ]
        elif kind == 1:
            out += ["    extends: base", f'    command: ["serve", "--port", "{8000 + i}"]']
        elif kind == 2:
            out += [
                "    build:",
                "      context: ./app",
                "      dockerfile: Dockerfile",
                "      args:",
                "        PY_VERSION: ${PY_VERSION:-3.12}",
                f"        SERVICE: {name}",
            ]
        else:
            out += [
                "    extends:",
                "      service: base",
                f"    image: ghcr.io/acme/{name}:${{VERSION-1.0}}",
                "    ports:",
                f'      - "{9000 + i}:80"',
            ]
    return "\n".join(out) + "\n"


def best_of(runs: int, fn: Callable[[], object]) -> float:
    """Best wall time in milliseconds over ``runs`` calls of ``fn``."""
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1000.0


def cli_call(argv: list[str]) -> int:
    """Run ``imageaccess scan`` in-process, through the console script's dispatcher."""
    from policies.enforcers.cli import main

    with contextlib.redirect_stdout(io.StringIO()):
        return main(["scan", *argv])


def report(label: str, ms: float, detail: str) -> None:
    verdict = "under" if ms < BUDGET_MS else "OVER"
    print(f"{label:<34} {ms:8.1f} ms  ({verdict} {BUDGET_MS:.0f} ms)  {detail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per measurement (best kept)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        dockerfile_text = make_dockerfile()
        (root / "Dockerfile").write_text(dockerfile_text)
        (root / "app").mkdir()
        (root / "app" / "Dockerfile").write_text(
            "ARG PY_VERSION=3.11\nARG SERVICE\nFROM python:${PY_VERSION}-slim AS run\n"
            "COPY --from=ghcr.io/astral-sh/uv:0.5.11 /uv /bin/uv\n"
        )
        compose_text = make_compose()
        compose_path = root / "compose.yaml"
        compose_path.write_text(compose_text)
        (root / ".env").write_text("TAG=2.0\nexport LOG_LEVEL=debug\n")
        environ = {k: v for k, v in os.environ.items() if k not in {"TAG", "REGISTRY"}}

        df = scan_dockerfile(dockerfile_text, path=str(root / "Dockerfile"))
        cp = scan_compose(path=str(compose_path), environ=environ)
        print(
            f"Dockerfile: {dockerfile_text.count(chr(10))} lines, {len(df.images)} pulls, "
            f"{len(df.errors)} errors"
        )
        print(
            f"Compose: {SERVICES} services, {compose_text.count(chr(10))} lines, "
            f"{len(cp.images)} pulls, {len(cp.errors)} errors"
        )
        print(f"best of {args.runs} runs:")
        ms = best_of(args.runs, lambda: scan_dockerfile(dockerfile_text, path="Dockerfile"))
        report("scan_dockerfile (5,000 lines)", ms, "")
        ms = best_of(args.runs, lambda: scan_compose(path=str(compose_path), environ=environ))
        report("scan_compose (500 services)", ms, "")
        code = cli_call(["--json", str(root)])
        ms = best_of(args.runs, lambda: cli_call(["--json", str(root)]))
        report("imageaccess scan --json DIR", ms, f"exit {code}")


if __name__ == "__main__":
    main()
