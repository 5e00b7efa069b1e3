"""The production server's access log (``make serve``: granian) never shows a credential.

The server is started exactly as an operator starts it, ``make serve`` with the access log
switched on through granian's own variable (``GRANIAN_LOG_ACCESS_ENABLED=1``) and a line format that
also prints the query string, then sent requests carrying credentials every way a client can
put them in a URL or header. Its whole output (access log, Django's request log, errors) is
searched for the secrets.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e import harness
from tests.e2e.served_app import (
    BASE_DIR,
    Database,
    app_environment,
    http_request,
    run_manage,
)

pytestmark = pytest.mark.e2e

PAT = "dckr_pat_" + "AccessLogS3cr3tAccessLogS3cr3t"
SECRETS = {
    "pat": PAT[len("dckr_pat_") :],
    "password": "pw-S3cr3t-in-query",
    "refresh": "rt-S3cr3t-in-query",
    "access": "at-S3cr3t-in-query",
    "basic": "basic-S3cr3t-password",
    "bearer": "bearer-S3cr3t-opaque",
    "invitation": "inv1tationS3cr3tInPath",
    "reset": "reset-S3cr3t-in-path",
}
# The access log format of a careful operator who wants the query string as well.
ACCESS_LOG_FORMAT = '%(addr)s "%(method)s %(path)s?%(query_string)s %(protocol)s" %(status)d'


@dataclass
class ServedByMake:
    """``make serve`` running in its own process group; ``output`` reads all it printed."""

    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def make_serve() -> Iterator[ServedByMake]:
    make = harness.require_program("make")
    workdir = Path(tempfile.mkdtemp(prefix="ia-access-log-"))
    data_dir = workdir / "data"
    data_dir.mkdir()
    process: subprocess.Popen[bytes] | None = None
    # A database of its own on the test run's PostgreSQL (SQLite without one), as served_app.
    database = Database.create(os.environ.get("DATABASE_URL"))
    try:
        env = app_environment(data_dir, database)
        env.update(
            {
                "IMAGEACCESS_LOG_LEVEL": "INFO",
                "GRANIAN_LOG_ACCESS_ENABLED": "1",
                "GRANIAN_LOG_ACCESS_FMT": ACCESS_LOG_FORMAT,
                "WEB_CONCURRENCY": "1",
            }
        )
        migrated = run_manage(env, "migrate", "--noinput", "-v0")
        assert migrated.ok, str(migrated)
        venv = Path(sys.executable).parent.parent
        port = harness.free_port()
        log_path = workdir / "serve.log"
        argv = [
            make,
            "--no-print-directory",
            # The virtualenv running the tests is already installed: never reinstall it here.
            "-o",
            f"{venv}/.installed",
            "-o",
            f"{venv}/bin/python",
            "serve",
            f"VENV={venv}",
            f"BIND={harness.LOCALHOST}:{port}",
        ]
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=BASE_DIR,
                start_new_session=True,
            )
        served = ServedByMake(f"http://{harness.LOCALHOST}:{port}", process, log_path)
        _wait_until_ready(served)
        yield served
    finally:
        if process is not None:
            harness.stop_process(process)
        database.drop()
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_until_ready(served: ServedByMake, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if served.process.poll() is not None:
            pytest.fail(f"make serve exited:\n{served.output()[-4000:]}")
        try:
            if http_request("GET", f"{served.base_url}/healthz", timeout=2).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail(f"make serve did not answer /healthz in {timeout}s:\n{served.output()[-4000:]}")


def test_make_serve_access_log_never_shows_credentials(make_serve: ServedByMake) -> None:
    base = make_serve.base_url
    basic = base64.b64encode(f"mike:{SECRETS['basic']}".encode()).decode()
    requests = [
        ("GET", f"/healthz?token={PAT}", {}),
        (
            "GET",
            f"/healthz?password={SECRETS['password']}&refresh_token={SECRETS['refresh']}"
            f"&access_token={SECRETS['access']}",
            {},
        ),
        ("GET", f"/api/v1/me?token={PAT}", {"Authorization": f"Bearer {PAT}"}),
        ("GET", "/api/v1/me", {"Authorization": f"Basic {basic}"}),
        ("GET", "/api/v1/me", {"Authorization": f"Bearer {SECRETS['bearer']}"}),
        ("POST", f"/v2/token?service=x&refresh_token={SECRETS['refresh']}", {}),
        ("GET", f"/invitations/{SECRETS['invitation']}/", {}),
        ("GET", f"/accounts/password/reset/key/1-{SECRETS['reset']}/", {}),
    ]
    for method, path, headers in requests:
        http_request(method, f"{base}{path}", headers=headers)
    # An access line is written after its response: wait for the last request's line.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "/password/reset/key/" not in make_serve.output():
        time.sleep(0.1)
    output = make_serve.output()
    assert "/healthz?token=***" in output, output[-3000:]  # the access log is on
    assert "/invitations/***/" in output
    assert "/password/reset/key/***/" in output
    for name, secret in SECRETS.items():
        assert secret not in output, f"the {name} secret reached the server's output"
