"""The database backend bounds every wait on a frozen server and then fails fast."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.faults.services import private_postgres

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]

# Runs in a child process: Django configured against the private cluster, as a server is.
PROBE = """
import json, sys, time
import django
django.setup()
from django.db import close_old_connections, connection
from imageaccess.postgresql.base import breaker, configure
configure(timeout=1.0, breaker_seconds=2)

def query():
    close_old_connections()
    started = time.monotonic()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        outcome = "ok"
    except Exception as exc:
        outcome = type(exc).__name__ + ": " + str(exc)
    finally:
        connection.close_if_unusable_or_obsolete()
    return {"outcome": outcome, "seconds": round(time.monotonic() - started, 3)}

results = {"warm": query()}
print("frozen?", flush=True)
sys.stdin.readline()
results["frozen"] = [query() for _ in range(3)]
results["breaker_open"] = breaker.is_open
print("thawed?", flush=True)
sys.stdin.readline()
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    result = query()
    if result["outcome"] == "ok":
        break
    time.sleep(0.2)
results["recovered"] = result
print(json.dumps(results), flush=True)
"""


def test_a_frozen_server_costs_one_bound_then_fails_fast_and_recovers() -> None:
    with private_postgres() as postgres:
        env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEACCESS_")}
        env |= {"DATABASE_URL": postgres.url, "DJANGO_SETTINGS_MODULE": "imageaccess.settings"}
        child = subprocess.Popen(
            [sys.executable, "-c", PROBE],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdin is not None
        assert child.stdout is not None
        try:
            assert child.stdout.readline().strip() == "frozen?"
            postgres.freeze()
            try:
                child.stdin.write("\n")
                child.stdin.flush()
                assert child.stdout.readline().strip() == "thawed?"
            finally:
                postgres.thaw()
            child.stdin.write("\n")
            child.stdin.flush()
            results = json.loads(child.stdout.readline())
        finally:
            child.kill()
            child.wait(timeout=10)
    assert results["warm"]["outcome"] == "ok"
    first, *rest = results["frozen"]
    assert first["outcome"].startswith("OperationalError")
    assert 0.9 < first["seconds"] < 2.0  # the bound, not silence
    for later in rest:  # the breaker answers without waiting on the server
        assert "unavailable" in later["outcome"]
        assert later["seconds"] < 0.1
    assert results["breaker_open"] is True
    assert results["recovered"]["outcome"] == "ok"
