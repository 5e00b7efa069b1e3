"""Private PostgreSQL and Redis servers that a test may stop and start for real.

The shared services of the machine (and of CI) must keep running for the rest of the suite,
so fault tests run their own: an ``initdb`` cluster under ``postgres`` on a free port, and a
``redis-server`` on another. Stopping them is a real outage for the app that uses them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.e2e import harness


def _postgres_bin() -> Path:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), reverse=True)
    if not candidates:
        harness.require_program("postgres")  # skips, or fails under CI=true
    return candidates[0].parent


def _wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def _wait_closed(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                pass
        except OSError:
            return
        time.sleep(0.1)
    raise TimeoutError(f"127.0.0.1:{port} still listens after {timeout}s")


def _as_postgres(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@dataclass
class PrivatePostgres:
    """A throw-away cluster; ``stop()`` and ``start()`` are real outages and recoveries."""

    port: int
    root: Path
    process: subprocess.Popen[bytes] | None = field(default=None)
    frozen: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        self.process = subprocess.Popen(
            _as_postgres(
                [
                    str(_postgres_bin() / "postgres"),
                    "-D",
                    str(self.root / "data"),
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.root),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "fsync=off",
                ]
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        _wait_port(self.port)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # the port opens before it accepts logins
            ready = subprocess.run(
                [str(_postgres_bin() / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
                check=False,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        raise TimeoutError("private PostgreSQL did not become ready")

    def _cluster_pids(self) -> list[int]:
        """The postmaster and every process it forked (backends leave its process group)."""
        postmaster = int((self.root / "data" / "postmaster.pid").read_text().split()[0])
        children = []
        for status in Path("/proc").glob("[0-9]*/status"):
            with contextlib.suppress(OSError):
                fields = dict(
                    line.split(":\t", 1)
                    for line in status.read_text().splitlines()
                    if ":\t" in line
                )
                if fields.get("PPid", "").strip() == str(postmaster):
                    children.append(int(status.parent.name))
        return [postmaster, *children]

    def freeze(self) -> None:
        """Stop every process of the cluster (SIGSTOP): connections stay open, nothing answers.

        This is a hung server as a client sees it in a network partition that still
        acknowledges TCP, or a frozen disk: no error, only silence.
        """
        self.frozen = self._cluster_pids()
        for pid in self.frozen:
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in self.frozen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        self.frozen = []

    def stop(self) -> None:
        self.thaw()
        if self.process is not None and self.process.poll() is None:
            # The whole group: runuser does not pass signals on to postgres.
            os.killpg(self.process.pid, signal.SIGINT)  # fast shutdown
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
            with contextlib.suppress(OSError):
                _wait_closed(self.port)
        self.process = None


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """initdb a cluster in a temp dir and run it on a free port; removed afterwards."""
    bin_dir = _postgres_bin()
    root = Path(tempfile.mkdtemp(prefix="ia-pg-"))
    try:
        shutil.chown(root, "postgres") if os.geteuid() == 0 else None
        subprocess.run(
            _as_postgres(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(root / "data"),
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
        server = PrivatePostgres(port=harness.free_port(), root=root)
        server.start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class PrivateRedis:
    """A ``redis-server`` on a free port; volatile unless ``appendonly`` (then in ``root``)."""

    port: int
    appendonly: bool = False
    maxmemory_policy: str = "noeviction"
    appendfsync: str = "always"
    root: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None)
    frozen: bool = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [
            harness.require_program("redis-server"),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--maxmemory-policy",
            self.maxmemory_policy,
        ]
        if self.root is not None:
            args += ["--dir", str(self.root), "--appendfsync", self.appendfsync]
        self.process = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        _wait_port(self.port)

    def stop(self) -> None:
        """A clean shutdown (SIGTERM): Redis writes what it persists before it exits."""
        self.thaw()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    def kill(self) -> None:
        """A crash (SIGKILL): only what Redis had already written to disk survives."""
        self.thaw()
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None
        _wait_closed(self.port)

    def freeze(self) -> None:
        """SIGSTOP: connections stay open and nothing answers."""
        if self.process is not None:
            os.kill(self.process.pid, signal.SIGSTOP)
            self.frozen = True

    def thaw(self) -> None:
        if self.frozen and self.process is not None:
            os.kill(self.process.pid, signal.SIGCONT)
        self.frozen = False


@contextlib.contextmanager
def private_redis(
    *, appendonly: bool = False, maxmemory_policy: str = "noeviction", appendfsync: str = "always"
) -> Iterator[PrivateRedis]:
    """A private Redis; with ``appendonly`` its data lives in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="ia-redis-") as root:
        server = PrivateRedis(
            port=harness.free_port(),
            appendonly=appendonly,
            maxmemory_policy=maxmemory_policy,
            appendfsync=appendfsync,
            root=Path(root),
        )
        server.start()
        try:
            yield server
        finally:
            server.stop()
