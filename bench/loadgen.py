"""Driving load with wrk: one generated Lua script per target, results read from ``done()``."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WRK = shutil.which("wrk") or "/usr/bin/wrk"

_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


@dataclass(frozen=True)
class Target:
    """One endpoint under load: how to call it and what one call decides."""

    name: str
    label: str
    method: str
    path: str
    headers: Mapping[str, str]
    body: Any = None
    images: int = 0  # images decided (and events recorded) per successful call

    def lua(self) -> str:
        lines = [f'wrk.method = "{self.method}"']
        if self.body is not None:
            text = json.dumps(self.body, separators=(",", ":"))
            if "]==]" in text:
                raise ValueError("body cannot be embedded in a Lua long string")
            lines.append(f"wrk.body = [==[{text}]==]")
            lines.append('wrk.headers["Content-Type"] = "application/json"')
        for name, value in self.headers.items():
            lines.append(f'wrk.headers["{name}"] = [==[{value}]==]')
        return "\n".join(lines) + "\n" + _DONE


@dataclass(frozen=True)
class Result:
    """What wrk measured for one target."""

    target: str
    requests: int
    seconds: float
    errors_connect: int
    errors_read: int
    errors_write: int
    non_2xx: int  # wrk counts statuses above 399
    timeouts: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    server_cpu_s: float = 0.0
    wrk_cpu_s: float = 0.0
    services_cpu_s: float = 0.0  # Redis and PostgreSQL
    other_cores: float = 0.0  # CPU used by the rest of the machine, in cores
    worker_cores: tuple[float, ...] = ()  # CPU used by each server worker, in cores

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def ok(self) -> int:
        return self.requests - self.non_2xx

    @property
    def socket_errors(self) -> int:
        return self.errors_connect + self.errors_read + self.errors_write + self.timeouts

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["rps"] = round(self.rps, 1)
        return data


def run_wrk(
    target: Target,
    base_url: str,
    script_dir: Path,
    *,
    seconds: float,
    connections: int,
    threads: int,
    timeout_s: float = 5.0,
) -> Result:
    """Load ``target`` for ``seconds``; raise if wrk fails or prints no result."""
    script = script_dir / f"{target.name}.lua"
    script.write_text(target.lua())
    command = [
        WRK,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={timeout_s:g}s",
        "-s",
        str(script),
        f"{base_url}{target.path}",
    ]
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    for line in completed.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            values = [float(v) for v in line.split()[1:]]
            (requests, duration_us, connect, read, write, status, timeouts) = values[:7]
            p50, p90, p99, latency_max = (v / 1000 for v in values[7:])
            return Result(
                target=target.name,
                requests=int(requests),
                seconds=duration_us / 1e6,
                errors_connect=int(connect),
                errors_read=int(read),
                errors_write=int(write),
                non_2xx=int(status),
                timeouts=int(timeouts),
                p50_ms=p50,
                p90_ms=p90,
                p99_ms=p99,
                max_ms=latency_max,
            )
    raise RuntimeError(
        f"wrk gave no result for {target.name} (exit {completed.returncode}):\n"
        f"{completed.stdout[-2000:]}\n{completed.stderr[-2000:]}"
    )
