"""Find Dockerfiles and Compose files under the given paths and scan them all.

Directories are walked **recursively** (a monorepo keeps its Dockerfiles in sub-folders),
in sorted order for stable output, without following directory symlinks and skipping
``.git``, ``node_modules`` and other vendored/VCS folders (:data:`SKIPPED_DIRS`).

Names recognised while walking:

* Dockerfiles: ``Dockerfile``, ``*.Dockerfile``, ``Dockerfile.*`` (case-insensitive, but not
  ``*.dockerignore``);
* Compose files: ``compose.yaml``, ``compose.yml``, ``docker-compose.yaml``,
  ``docker-compose.yml``.

A file named explicitly on the command line is always scanned: as Compose if its name is a
Compose name or ends in ``.yml``/``.yaml``, otherwise as a Dockerfile.

Compose files are scanned first. A Dockerfile that one of them builds is scanned in that
context (with the service's ``build.args``) and is not scanned again on its own, so a
Dockerfile whose ``FROM`` needs a build arg does not produce a spurious error.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

from policies.scan.compose import dedupe, scan_compose
from policies.scan.dockerfile import ScanError, ScanResult, scan_dockerfile

__all__ = ["COMPOSE_NAMES", "SKIPPED_DIRS", "classify", "discover", "scan_paths"]

FileKind = Literal["dockerfile", "compose"]

COMPOSE_NAMES = frozenset(
    {"compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"}
)
SKIPPED_DIRS = frozenset(
    {".git", ".hg", ".svn", "node_modules", ".venv", "__pycache__", ".tox", ".mypy_cache"}
)


def classify(name: str) -> FileKind | None:
    """The kind of build file a base name denotes while walking a directory, or ``None``."""
    if name in COMPOSE_NAMES:
        return "compose"
    lower = name.lower()
    if lower.endswith(".dockerignore"):
        return None
    if lower == "dockerfile" or lower.endswith(".dockerfile") or lower.startswith("dockerfile."):
        return "dockerfile"
    return None


def _explicit_kind(path: str) -> FileKind:
    name = os.path.basename(path)
    kind = classify(name)
    if kind is not None:
        return kind
    return "compose" if name.lower().endswith((".yml", ".yaml")) else "dockerfile"


def discover(
    paths: Iterable[str], errors: list[ScanError] | None = None
) -> list[tuple[str, FileKind]]:
    """List ``(path, kind)`` for every build file under ``paths``, in a stable order.

    A missing path is reported into ``errors`` (when given) and otherwise skipped.
    """
    found: list[tuple[str, FileKind]] = []
    seen: set[str] = set()

    def add(path: str, kind: FileKind) -> None:
        key = os.path.abspath(path)
        if key not in seen:
            seen.add(key)
            found.append((path, kind))

    for root in paths:
        if os.path.isfile(root):
            add(root, _explicit_kind(root))
            continue
        if not os.path.isdir(root):
            if errors is not None:
                errors.append(ScanError(root, None, "no such file or directory"))
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            # Pruning in place stops os.walk from descending into skipped folders.
            dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS)
            for name in sorted(filenames):
                kind = classify(name)
                if kind is not None:
                    add(os.path.join(dirpath, name), kind)
    return found


def scan_paths(
    paths: Sequence[str],
    *,
    build_args: Mapping[str, str] | None = None,
    env_files: Sequence[str] | None = None,
    profiles: Sequence[str] | None = None,
    platform: str = "linux/amd64",
    environ: Mapping[str, str] | None = None,
) -> ScanResult:
    """Discover and scan every build file under ``paths``; one combined :class:`ScanResult`.

    ``build_args`` apply to Dockerfiles scanned on their own; Dockerfiles built by a Compose
    service use that service's ``build.args`` instead.
    """
    result = ScanResult()
    files = discover(paths, result.errors)
    built: set[str] = set()
    for path, kind in files:
        if kind == "compose":
            result.extend(
                scan_compose(
                    path=path,
                    env_files=env_files,
                    profiles=profiles,
                    environ=environ,
                    platform=platform,
                    dockerfiles_seen=built,
                )
            )
    for path, kind in files:
        if kind != "dockerfile" or os.path.abspath(path) in built:
            continue
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                text = handle.read()
        except OSError as exc:
            result.errors.append(ScanError(path, None, f"cannot read file: {exc.strerror}"))
            continue
        result.extend(scan_dockerfile(text, path=path, build_args=build_args, platform=platform))
    return dedupe(result)
