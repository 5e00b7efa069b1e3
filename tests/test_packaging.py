"""What a user installing imageaccess relies on: pinned dependencies, hashed lock files, a license.

Only files of the checkout are read (no network, no installed metadata): the dependencies in
pyproject.toml, the lock files under requirements/, LICENSE, the Dockerfile and the Makefile.
"""

from __future__ import annotations

import re
import tomllib
from functools import cache
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
BUILD_LOCK = ROOT / "requirements" / "build.txt"
RUNTIME_LOCK = ROOT / "requirements" / "runtime.txt"
TEST_LOCK = ROOT / "requirements" / "test.txt"
LOCKS = [BUILD_LOCK, RUNTIME_LOCK, TEST_LOCK]

HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


@cache
def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def direct_requirements(*extras: str) -> list[Requirement]:
    project = pyproject()["project"]
    specs = list(project["dependencies"])
    for extra in extras:
        specs += project["optional-dependencies"][extra]
    return [Requirement(spec) for spec in specs]


@cache
def lock_entries(path: Path) -> list[str]:
    """The requirement entries of a lock file, each with its continuation lines joined."""
    entries: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line and not pending:
            continue
        continued = line.endswith("\\")
        pending += " " + line.rstrip("\\").strip()
        if not continued:
            entries.append(pending.strip())
            pending = ""
    assert not pending, f"{path.name} ends inside a continued line"
    return entries


@cache
def lock_pins(path: Path) -> dict[str, str]:
    """Normalized project name -> pinned version, for every entry of the lock file."""
    pins: dict[str, str] = {}
    for entry in lock_entries(path):
        requirement = Requirement(entry.split(" --hash", 1)[0])
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"{path.name}: {entry[:80]} is not pinned with =="
        pins[canonicalize_name(requirement.name)] = specifier.version
    return pins


@pytest.mark.parametrize("extras", [(), ("test", "bench")], ids=["runtime", "test"])
def test_every_direct_dependency_is_pinned_and_locked_at_its_version(extras: tuple) -> None:
    lock = TEST_LOCK if extras else RUNTIME_LOCK
    pins = lock_pins(lock)
    for requirement in direct_requirements(*extras):
        (specifier,) = requirement.specifier  # exactly one specifier...
        assert specifier.operator == "==", f"{requirement} is not pinned with =="  # ...an ==
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is missing from {lock.name}: run `make lock`"
        assert pins[name] == specifier.version, (
            f"{lock.name} has {requirement.name}=={pins[name]}, pyproject.toml wants "
            f"{specifier.version}: run `make lock`"
        )


def test_the_optional_dependencies_are_the_test_and_bench_extras() -> None:
    # test.txt is compiled for exactly these extras; a new extra needs a lock of its own.
    assert set(pyproject()["project"]["optional-dependencies"]) == {"test", "bench"}


def test_the_build_lock_pins_the_build_system() -> None:
    pins = lock_pins(BUILD_LOCK)
    for spec in pyproject()["build-system"]["requires"]:
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is missing from build.txt: run `make lock`"
        assert requirement.specifier.contains(pins[name]), f"build.txt: {name}=={pins[name]}"
    assert "pip" in pins


@pytest.mark.parametrize("lock", LOCKS, ids=lambda path: path.name)
def test_every_entry_of_the_lock_has_hashes(lock: Path) -> None:
    entries = lock_entries(lock)
    assert entries, f"{lock.name} is empty"
    for entry in entries:
        requirement, _, hashes = entry.partition(" --hash")
        assert not entry.startswith("-"), f"{lock.name}: option line {entry[:60]!r}"
        assert "://" not in requirement, f"{lock.name}: URL in {entry[:80]!r}"
        assert hashes, f"{lock.name}: no --hash for {requirement!r}"
        leftovers = HASH.sub("", "--hash" + hashes).strip()
        assert not leftovers, f"{lock.name}: {requirement}: not a sha256 hash: {leftovers!r}"


def test_packages_shared_by_the_locks_have_one_version() -> None:
    # The image runs exactly the versions the tests ran with.
    test_pins = lock_pins(TEST_LOCK)
    for lock in (RUNTIME_LOCK, BUILD_LOCK):
        for name, version in lock_pins(lock).items():
            if lock is RUNTIME_LOCK:
                assert name in test_pins, f"{name} is in runtime.txt but not in test.txt"
            if name in test_pins:
                assert test_pins[name] == version, f"{name}: {lock.name} {version}, test.txt"


def test_the_project_is_distributed_under_the_apache_license() -> None:
    license_text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in license_text[:200]
    assert "Version 2.0, January 2004" in license_text
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in license_text
    assert "END OF TERMS AND CONDITIONS" in license_text
    assert pyproject()["project"]["license"] == "Apache-2.0"
    assert "Copyright 2026 The imageaccess authors" in (ROOT / "NOTICE").read_text()


def pip_installs(text: str) -> list[str]:
    """Each `pip install` command of a Dockerfile or Makefile, continuation lines joined."""
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    joined = re.sub(r"\\\n\s*", " ", code)
    return [m.group(0) for m in re.finditer(r"pip install[^\n&;]*", joined)]


def test_the_dockerfile_installs_the_runtime_lock_with_hashes() -> None:
    installs = pip_installs((ROOT / "Dockerfile").read_text())
    assert any(
        "--require-hashes" in cmd and "-r requirements/runtime.txt" in cmd for cmd in installs
    ), installs
    for cmd in installs:
        # Anything not hash-checked must bring no dependencies of its own (the project itself).
        assert "--require-hashes" in cmd or "--no-deps" in cmd, cmd


def test_make_installs_from_the_locks_with_hashes() -> None:
    makefile = (ROOT / "Makefile").read_text()
    installs = [cmd for cmd in pip_installs(makefile) if "uv==" not in cmd]
    for lock in ("BUILD_LOCK", "RUNTIME_LOCK", "TEST_LOCK"):
        assert any(f"--require-hashes -r $({lock})" in cmd for cmd in installs), lock
    for cmd in installs:
        assert "--require-hashes" in cmd or "--no-deps" in cmd, cmd
    # The install stamps depend on the lock files, so a changed lock reinstalls.
    assert re.search(r"^\$\(VENV\)/\.installed:.*\$\(RUNTIME_LOCK\)", makefile, re.M)
    assert re.search(r"^\$\(VENV\)/\.installed-test:.*\$\(TEST_LOCK\)", makefile, re.M)
    assert re.search(r"^\$\(VENV\)/\.installed-build:.*\$\(BUILD_LOCK\)", makefile, re.M)
