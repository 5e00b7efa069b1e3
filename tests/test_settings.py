"""Settings come from the environment; a malformed value stops start-up with a clear message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_django(env_overrides: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "IMAGEACCESS_"))}
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DJANGO_DEBUG", "maybe", "DJANGO_DEBUG must be 1 or 0"),
        ("DATABASE_URL", "mysql://x", "DATABASE_URL must be a URL starting with"),
        ("REDIS_URL", "localhost:6379", "REDIS_URL must be a URL starting with"),
        ("IMAGEACCESS_TOKEN_PEPPERS", "short", "IMAGEACCESS_TOKEN_PEPPERS must be"),
        ("IMAGEACCESS_EMAIL_VERIFICATION", "sometimes", "IMAGEACCESS_EMAIL_VERIFICATION must be"),
        ("DATABASE_CONN_MAX_AGE", "ten", "DATABASE_CONN_MAX_AGE must be a whole number"),
    ],
)
def test_malformed_variable_stops_start_up_naming_it(
    variable: str, value: str, message: str
) -> None:
    overrides = {variable: value}
    if variable == "DATABASE_CONN_MAX_AGE":
        overrides["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/postgres"
    result = run_django(overrides, "check")
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr.splitlines()[-1]


def test_production_requires_secret_key() -> None:
    result = run_django({"DJANGO_DEBUG": "0"}, "check")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG=0" in result.stderr


def test_secret_can_come_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s" * 20 + "0123456789abcdefghijklmnopqrstuvwxyz-from-file\n")
    result = run_django(
        {
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY_FILE": str(secret),
            "IMAGEACCESS_TOKEN_PEPPERS": "p1:0123456789abcdef0123",
        },
        "check",
    )
    assert result.returncode == 0, result.stderr


def test_check_deploy_is_clean_with_production_settings() -> None:
    result = run_django(
        {
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": "prod-" + "k3y!x9" * 10,
            "DJANGO_ALLOWED_HOSTS": "imageaccess.example.com",
            "IMAGEACCESS_TOKEN_PEPPERS": "p1:0123456789abcdef0123",
        },
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
