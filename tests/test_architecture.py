"""The arrows between the rooms are checked by import-linter, and the checker does catch a
forbidden import; the engine and the Django-free CLI commands run where Django is absent."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("imageaccess", "orgs", "policies")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    """Run ``lint-imports`` on the packages under ``root`` with the contracts of ``root``."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    selected = [arg for contract in contracts for arg in ("--contract", contract)]
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(root / "pyproject.toml"), *selected],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_contracts_hold() -> None:
    result = lint_imports(REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


# (file to write or extend, the import it gains, the contract it breaks)
VIOLATIONS = [
    ("policies/engine/classify.py", "import django.conf", "engine-pure"),
    ("policies/engine/decide.py", "import orgs.roles", "engine-pure"),
    ("policies/engine/reference.py", "import policies.models", "policies-rooms"),
    ("policies/services.py", "import policies.events.rollups", "policies-rooms"),
    ("policies/access_requests.py", "import policies.console.forms", "policies-rooms"),
    ("policies/events/rollups.py", "import policies.enforcers.decision_api", "policies-rooms"),
    ("policies/console/charts.py", "import policies.enforcers.cli.ref", "policies-rooms"),
    ("policies/enforcers/enforcer_urls.py", "import policies.console.views", "policies-rooms"),
    ("policies/stray.py", "", "policies-rooms"),  # a module placed in no room
    ("orgs/tenancy.py", "import policies.models", "orgs-before-policies"),
    ("imageaccess/views.py", "import orgs.models", "imageaccess-knows-no-app"),
]


@pytest.mark.parametrize(("path", "statement", "contract"), VIOLATIONS)
def test_a_forbidden_import_breaks_a_contract(
    tmp_path: Path, path: str, statement: str, contract: str
) -> None:
    for package in PACKAGES:
        shutil.copytree(
            REPO_ROOT / package,
            tmp_path / package,
            ignore=shutil.ignore_patterns("__pycache__", "fixtures"),
        )
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / path
    assert target.exists() or not statement, f"{path} is gone: name a module that exists"
    existing = target.read_text() if target.exists() else '"""A stray module."""\n'
    target.write_text(existing + (f"\n{statement}  # noqa\n" if statement else ""))

    result = lint_imports(tmp_path, contract)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 broken" in result.stdout, result.stdout
    offender = path.removesuffix(".py").replace("/", ".")
    assert statement == "" or f"{offender} -> " in result.stdout, result.stdout


DJANGO_ABSENT = textwrap.dedent(
    """
    import importlib, io, json, pkgutil, sys, contextlib

    class NoDjango:
        def find_spec(self, name, path=None, target=None):
            if name == "django" or name.startswith("django."):
                raise ModuleNotFoundError(f"No module named {name!r}")
            return None

    sys.meta_path.insert(0, NoDjango())
    import policies.engine
    for module in pkgutil.walk_packages(policies.engine.__path__, "policies.engine."):
        importlib.import_module(module.name)

    from policies.enforcers.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["ref", "--json", "nginx"]) == 0
        assert main(["scan", "--json", sys.argv[1]]) == 0
    lines = out.getvalue()
    assert '"reference": "docker.io/library/nginx:latest"' in lines, lines
    assert '"image": "python:3.12-slim"' in lines, lines
    assert not [m for m in sys.modules if m.split(".")[0] == "django"]
    """
)


def test_the_engine_and_the_cli_run_without_django(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM python:3.12-slim\nRUN true\n")
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", DJANGO_ABSENT, str(dockerfile)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_two_modules_of_policies_share_a_name() -> None:
    names: dict[str, list[str]] = {}
    for path in (REPO_ROOT / "policies").rglob("*.py"):
        relative = path.relative_to(REPO_ROOT)
        if path.name == "__init__.py" or "migrations" in relative.parts:
            continue
        if relative.parts[:3] == ("policies", "management", "commands"):
            continue  # Django names a command by its module
        names.setdefault(path.stem, []).append(str(relative))
    shared = {name: paths for name, paths in names.items() if len(paths) > 1}
    assert not shared, shared
