"""The system under test: a throwaway database, a Redis DB number, and a production server.

Everything here binds to loopback, and everything started is stopped by its process group
(the group of the process we started, never a name) within a bounded time.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = ROOT / ".venv" / "bin"
PYTHON = str(VENV_BIN / "python") if (VENV_BIN / "python").exists() else sys.executable
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"  # admin URL: creates the databases


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- PostgreSQL --------------------------------------------------------------------------------
@dataclass
class Database:
    """A fresh PostgreSQL database created for this run and dropped at its end."""

    admin_url: str
    name: str = field(default_factory=lambda: f"imageaccess_bench_{secrets.token_hex(4)}")

    @property
    def url(self) -> str:
        base, _, _ = self.admin_url.rpartition("/")
        return f"{base}/{self.name}"

    def _execute(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def create(self) -> None:
        self._execute(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        self._execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def scalar(self, sql: str) -> Any:
        import psycopg

        with psycopg.connect(self.url, connect_timeout=5) as conn:
            row = conn.execute(sql).fetchone()  # type: ignore[arg-type]
            return row[0] if row else None


# --- Redis -------------------------------------------------------------------------------------
def flush_redis(url: str) -> None:
    """Empty the dedicated Redis DB number of this run."""
    import redis

    redis.Redis.from_url(url, socket_timeout=5).flushdb()


def redis_stream_length(url: str, stream: str) -> int:
    import redis

    return int(redis.Redis.from_url(url, socket_timeout=5).xlen(stream))


# --- environment and management commands -------------------------------------------------------
def production_env(database_url: str, redis_url: str, data_dir: Path) -> dict[str, str]:
    """Production settings, as an operator would export them."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "IMAGEACCESS_", "GRANIAN_"))
        and key not in {"DATABASE_URL", "REDIS_URL", "WEB_CONCURRENCY", "BIND"}
    }
    env.update(
        {
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(48),
            "IMAGEACCESS_TOKEN_PEPPERS": f"bench1:{secrets.token_urlsafe(32)}",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "IMAGEACCESS_SSL_REDIRECT": "0",
            "IMAGEACCESS_DATA_DIR": str(data_dir),
            "IMAGEACCESS_LOG_LEVEL": "WARNING",
            # The machine's Redis keeps nothing on disk; production refuses that by default.
            "IMAGEACCESS_ALLOW_VOLATILE_REDIS": "1",
        }
    )
    return env


def manage(env: Mapping[str, str], *args: str, timeout: float = 180, nice: int = 0) -> str:
    """Run ``manage.py`` with ``env``; return stdout, raise with stderr on failure."""
    prefix = ["nice", "-n", str(nice)] if nice else []
    result = subprocess.run(
        [*prefix, PYTHON, "manage.py", *args],
        cwd=ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result.stdout


# --- HTTP --------------------------------------------------------------------------------------
def http(
    method: str,
    url: str,
    *,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10,
) -> tuple[int, Any]:
    """One request; returns (status, parsed JSON body or text)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (loopback)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


# --- servers -----------------------------------------------------------------------------------
APP = "imageaccess.wsgi:application"


def server_command(kind: str, host: str, port: int, workers: int, app: str = APP) -> list[str]:
    """The command line of a server ``kind`` (``serve`` is ``make serve`` itself).

    ``app`` (not for ``serve``) lets an experiment serve another WSGI callable.
    """
    bind = f"{host}:{port}"
    gunicorn = [str(VENV_BIN / "gunicorn"), app, "--bind", bind, "--workers", str(workers)]
    granian = [
        str(VENV_BIN / "granian"),
        "--interface",
        "wsgi",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-ws",
    ]
    commands = {
        "serve": ["make", "-s", "--no-print-directory", "serve"],
        "gunicorn-sync": gunicorn,
        "gunicorn-gthread": [*gunicorn, "--worker-class", "gthread", "--threads", "4"],
        "granian": [*granian, "--blocking-threads", "1", app],
        "granian-bt2": [*granian, "--blocking-threads", "2", app],
        "granian-bp": [*granian, "--blocking-threads", "1", "--backpressure", "16", app],
        "granian-default": [*granian, app],
    }
    if kind not in commands:
        raise SystemExit(f"unknown server {kind!r}: choose from {', '.join(commands)}")
    return commands[kind]


SERVER_LABELS = {
    "serve": "make serve",
    "gunicorn-sync": "gunicorn sync",
    "gunicorn-gthread": "gunicorn gthread (4 threads)",
    "granian": "granian WSGI --blocking-threads 1",
    "granian-bt2": "granian WSGI --blocking-threads 2",
    "granian-bp": "granian WSGI --blocking-threads 1 --backpressure 16",
    "granian-default": "granian WSGI (default threads)",
}


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def descendants(pid: int) -> list[int]:
    tree = _children()
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def rss_kb(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KB
    except (OSError, IndexError, ValueError):
        return 0


def cpu_seconds(pids: Sequence[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLK_TCK


def system_busy_seconds() -> float:
    """CPU time all cores spent busy since boot (``/proc/stat``)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def pids_named(*names: str) -> list[int]:
    """Processes whose command name is one of ``names`` (to account for their CPU)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                comm = Path(f"/proc/{entry}/comm").read_text().strip()
            except OSError:
                continue
            if comm in names:
                found.append(int(entry))
    return found


class CpuMeter:
    """Where CPU went during a measurement: the server, wrk, Redis + PostgreSQL, and the
    rest of the machine (other people's work: the noise of a shared machine)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.services = pids_named("redis-server", "postgres")

    def _sample(self) -> tuple[float, float, float, float, float]:
        self._workers = {pid: cpu_seconds([pid]) for pid in self.server.worker_pids()}
        children = os.times()
        return (
            time.monotonic(),
            system_busy_seconds(),
            self.server.cpu(),
            children.children_user + children.children_system,
            cpu_seconds(self.services),
        )

    def __enter__(self) -> CpuMeter:
        self._start = self._sample()
        self._workers_start = self._workers
        return self

    def __exit__(self, *exc: object) -> None:
        end = self._sample()
        wall, busy, server, wrk, services = (b - a for a, b in zip(self._start, end, strict=True))
        self.wall, self.server_s, self.wrk_s, self.services_s = wall, server, wrk, services
        self.other_cores = max(0.0, busy - server - wrk - services) / wall if wall else 0.0
        # Keep-alive connections stay with the worker that accepted them: an uneven split
        # leaves a core idle. Cores used by each worker show it.
        self.worker_cores = [
            (self._workers.get(pid, 0.0) - before) / wall if wall else 0.0
            for pid, before in sorted(self._workers_start.items())
        ]


class Server:
    """A production server process tree started in its own session."""

    def __init__(
        self, kind: str, env: Mapping[str, str], workers: int, log_dir: Path, app: str = APP
    ) -> None:
        self.kind = kind
        self.app = app
        self.host = "127.0.0.1"
        self.port = free_port()
        self.workers = workers
        self.base_url = f"http://{self.host}:{self.port}"
        self.env = dict(env)
        self.env["BIND"] = f"{self.host}:{self.port}"
        self.env["WEB_CONCURRENCY"] = str(workers)
        self.log_path = log_dir / f"server-{kind}-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> None:
        command = server_command(self.kind, self.host, self.port, self.workers, self.app)
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind} exited early:\n{self.log_tail()}")
            try:
                status, _ = http("GET", f"{self.base_url}/healthz", timeout=2)
                if status == 200 and len(self.worker_pids()) >= self.workers:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.kind} did not answer /healthz in {timeout}s:\n{self.log_tail()}")

    def worker_pids(self) -> list[int]:
        """Server worker processes: the leaves of the tree that run Python (not helpers)."""
        if self.process is None:
            return []
        tree = _children()
        pids = descendants(self.process.pid)
        leaves = [pid for pid in pids if pid not in tree]
        return [
            pid
            for pid in leaves
            if ("python" in cmdline(pid) or "granian" in cmdline(pid) or "gunicorn" in cmdline(pid))
            and "resource_tracker" not in cmdline(pid)
        ]

    def rss(self) -> dict[int, int]:
        return {pid: rss_kb(pid) for pid in self.worker_pids()}

    def cpu(self) -> float:
        if self.process is None:
            return 0.0
        return cpu_seconds([self.process.pid, *descendants(self.process.pid)])

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM the process group we started, SIGKILL it if it lingers."""
        if self.process is None:
            return
        pgid = self.process.pid  # start_new_session: the group id is the child's pid
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            if self._group_gone(pgid, wait):
                break
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            print(f"warning: {self.kind} (pid {pgid}) did not exit", file=sys.stderr)
        self.process = None
        self._log.close()

    def _group_gone(self, pgid: int, wait: float) -> bool:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.process is not None:
                self.process.poll()  # reap the leader so a zombie does not keep the group
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return True
            time.sleep(0.1)
        return False


def temp_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


@dataclass
class DemoStack:
    """A throwaway database and Redis DB with production settings, migrated, demo data loaded."""

    env: dict[str, str]
    db: Database
    redis_url: str
    work: Path  # a private directory, removed at the end
    seed: dict[str, Any]  # what ``seed_demo --json`` printed

    @property
    def tokens(self) -> dict[str, str]:
        """Each demo user's personal access token, by username."""
        return {name: info["token"] for name, info in self.seed["users"].items()}


@contextmanager
def demo_stack(
    postgres_admin_url: str, redis_url: str, prefix: str, *, keep_db: bool = False
) -> Iterator[DemoStack]:
    """Create, migrate and seed a fresh database (Redis DB flushed); drop both at the end."""
    work = temp_dir(prefix)
    db = Database(postgres_admin_url)
    flush_redis(redis_url)
    db.create()
    try:
        env = production_env(db.url, redis_url, work / "data")
        manage(env, "migrate", "--noinput")
        seed = json.loads(manage(env, "seed_demo", "--json"))
        yield DemoStack(env, db, redis_url, work, seed)
    finally:
        if not keep_db:
            db.drop()
        flush_redis(redis_url)
        shutil.rmtree(work, ignore_errors=True)


def run_as_child(script: str, env: Mapping[str, str]) -> int:
    """Run ``script --child`` with this process's arguments, in ``env``; its exit status."""
    command = [PYTHON, script, "--child", *sys.argv[1:]]
    return subprocess.run(command, cwd=ROOT, env=dict(env), timeout=900, check=False).returncode


def run_bench(script: str, redis_db: int, prefix: str) -> int:
    """A bench's parent side: a fresh demo stack, then ``script --child`` inside it."""
    redis_url = f"redis://127.0.0.1:6379/{redis_db}"
    with demo_stack(POSTGRES, redis_url, prefix) as stack:
        return run_as_child(script, stack.env)
