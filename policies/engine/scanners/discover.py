"""Find Dockerfiles and Compose projects under the given paths and scan them all.

Directories are walked **recursively** (a monorepo keeps its build files in sub-folders),
in sorted order for stable output, without following directory symlinks and skipping
``.git``, ``node_modules`` and other vendored/VCS folders (:data:`SKIPPED_DIRS`).

Names recognised while walking (case-insensitive, because Docker Desktop's macOS and Windows
file systems are, and a name that builds there must be checked here):

* Dockerfiles: ``Dockerfile`` and ``Containerfile`` (Podman's name), ``*.Dockerfile``,
  ``Dockerfile.*`` and the same with ``Containerfile``, but not ``*.dockerignore`` /
  ``*.containerignore``. A file whose name merely contains ``dockerfile`` or
  ``containerfile`` (``Dockerfile-dev``, ``prod_dockerfile``), or ends in a source-code or
  document extension (``dockerfile.go``, ``Dockerfile.md``), is scanned when BuildKit would
  build it: its first instruction is ``FROM`` or ``ARG``, or it names a frontend
  (``# syntax=``).
* Compose files: ``compose.yaml``, ``compose.yml``, ``docker-compose.yaml``,
  ``docker-compose.yml`` (and Podman's ``podman-compose.*``, ``container-compose.*``), their
  ``*.override.*`` forms, and any other ``*.yml`` / ``*.yaml`` whose top-level ``services``
  are all Compose services (each with an ``image`` string, a ``build``, an ``extends`` or a
  ``provider``), a
  file someone may pass to ``docker compose -f`` or ``docker stack deploy -c``.

A file named explicitly on the command line is always scanned: as Compose if its name is a
Compose name or ends in ``.yml``/``.yaml``/``.json``, otherwise as a Dockerfile.

Which Compose projects are scanned (the union, so that no way of running Compose in the
checkout is left out):

* every Compose file on its own (``docker compose -f FILE``), except a file that only ever
  comes after another one in the projects below (an override file beside a main file, a later
  ``COMPOSE_FILE`` entry): such a fragment is read merged, and on its own only when it has a
  main Compose name or is named on the command line;
* for every directory holding a Compose file, what ``docker compose`` run there loads on its
  own: the first main file (``compose.yaml``, ``compose.yml``, ``docker-compose.yml``,
  ``docker-compose.yaml``) merged with the first override file beside it;
* ``COMPOSE_FILE`` (split on ``COMPOSE_PATH_SEPARATOR``, default ``:``) from a directory's
  ``.env``, relative to that directory, and from the environment, relative to the current
  directory;
* the files given with ``compose_files`` (``--compose-file``), merged in order.

Dockerfiles are scanned on their own (with ``build_args``) even when a Compose service builds
them with other ``build.args``, because ``docker build`` uses the defaults; the errors of that
stand-alone scan are dropped for a Dockerfile a Compose service builds (an ``ARG`` without a
default then only means the plain build fails, which pulls nothing).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import yaml

from policies.engine.scanners.compose import (
    DockerfileCache,
    DotenvError,
    dedupe,
    parse_dotenv,
    scan_compose_project,
)
from policies.engine.scanners.dockerfile_parser import detect_syntax
from policies.engine.scanners.results import ScanError, ScanResult

__all__ = [
    "COMPOSE_NAMES",
    "DEFAULT_COMPOSE_FILES",
    "DEFAULT_OVERRIDE_FILES",
    "SKIPPED_DIRS",
    "classify",
    "discover",
    "scan_paths",
]

FileKind = Literal["dockerfile", "compose"]

# compose-go's auto-discovery names, in its order of preference.
DEFAULT_COMPOSE_FILES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
DEFAULT_OVERRIDE_FILES = (
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
)
_PODMAN_COMPOSE = ("podman-compose", "container-compose")
COMPOSE_NAMES = frozenset(
    {
        *DEFAULT_COMPOSE_FILES,
        *(f"{base}.{ext}" for base in _PODMAN_COMPOSE for ext in ("yml", "yaml")),
    }
)
OVERRIDE_NAMES = frozenset(
    {
        *DEFAULT_OVERRIDE_FILES,
        *(f"{base}.override.{ext}" for base in _PODMAN_COMPOSE for ext in ("yml", "yaml")),
    }
)
SKIPPED_DIRS = frozenset(
    {".git", ".hg", ".svn", "node_modules", ".venv", "__pycache__", ".tox", ".mypy_cache"}
)
_BUILD_FILE_WORDS = ("dockerfile", "containerfile")
_IGNORE_SUFFIXES = (".dockerignore", ".containerignore")
# `dockerfile.go` is a Go file and `Dockerfile.md` a document far more often than a build
# file: with these extensions the name alone does not decide, the content does.
_SOURCE_EXTENSIONS = frozenset(
    [
        "go",
        "py",
        "rs",
        "js",
        "ts",
        "mjs",
        "cjs",
        "jsx",
        "tsx",
        "java",
        "kt",
        "kts",
        "rb",
        "php",
        "c",
        "h",
        "cc",
        "cpp",
        "hpp",
        "cs",
        "swift",
        "scala",
        "md",
        "rst",
        "adoc",
        "html",
        "css",
        "json",
        "yml",
        "yaml",
        "toml",
        "xml",
        "ini",
        "cfg",
        "sh",
        "bash",
        "ps1",
        "bat",
    ]
)
# A top-level `services:` key followed by a block or flow mapping (not a list, which is what
# GitLab CI's `services:` holds).
_SERVICES_KEY = re.compile(
    r"^services[ \t]*:[ \t]*(?:\{|(?:#[^\n]*)?\r?\n(?:[ \t]*(?:#[^\n]*)?\r?\n)*[ \t]+[^\s#-])",
    re.MULTILINE,
)
# Files are sniffed whole up to this size; a larger one is treated as a build file (and then
# fails the scan if it is not one) rather than skipped, so padding cannot hide a file.
_SNIFF_CHARS = 32 << 20
_YamlLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def classify(name: str) -> FileKind | None:
    """The kind of build file a base name denotes while walking a directory, or ``None``.

    Names that only *may* be build files (see the module docstring) are ``None`` here; the
    walk decides them by content.
    """
    lower = name.lower()
    if lower in COMPOSE_NAMES or lower in OVERRIDE_NAMES:
        return "compose"
    if lower.endswith(_IGNORE_SUFFIXES):
        return None
    for word in _BUILD_FILE_WORDS:
        if lower == word or lower.endswith("." + word):
            return "dockerfile"
        if lower.startswith(word + ".") and lower.rsplit(".", 1)[1] not in _SOURCE_EXTENSIONS:
            return "dockerfile"
    return None


def _explicit_kind(path: str) -> FileKind:
    name = os.path.basename(path)
    kind = classify(name)
    if kind is not None:
        return kind
    return "compose" if name.lower().endswith((".yml", ".yaml", ".json")) else "dockerfile"


def _read_head(path: str) -> tuple[str, bool] | None:
    """The start of a file and whether there is more, or ``None`` if it cannot be read."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read(_SNIFF_CHARS)
            return text, bool(handle.read(1))
    except OSError:
        return None


def _looks_like_dockerfile(path: str) -> bool:
    """Whether BuildKit would build a file: its first instruction is ``FROM`` or ``ARG``, or
    it names a frontend (which then reads the rest in a format of its own)."""
    head = _read_head(path)
    if head is None:
        return False
    text, truncated = head
    if detect_syntax(text) is not None:
        return True
    for raw in text.lstrip("\ufeff").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        word = line.split(None, 1)[0].upper()
        return word in ("FROM", "ARG")
    return truncated


def _looks_like_compose(path: str) -> bool:
    """Whether a YAML file's ``services`` are all services Compose would accept."""
    head = _read_head(path)
    if head is None:
        return False
    text, truncated = head
    if truncated:
        return True
    if not _SERVICES_KEY.search(text):
        return False
    try:
        documents = list(yaml.load_all(text, Loader=_YamlLoader))
    except (yaml.YAMLError, RecursionError, ValueError, TypeError):
        return False  # Compose cannot load it either
    for document in documents:
        if not isinstance(document, dict):
            continue
        services = document.get("services")
        if not isinstance(services, dict) or not services:
            continue
        if all(
            isinstance(spec, dict)
            and (
                isinstance(spec.get("image"), str)
                or any(key in spec for key in ("build", "extends", "provider"))
            )
            for spec in services.values()
        ):
            return True
    return False


@dataclass
class _Found:
    """What a walk found: build files in order, and the directories that hold projects."""

    files: list[tuple[str, FileKind]] = field(default_factory=list)
    # Directories holding a Compose file or a `.env`, in the order found (a dict as a set).
    project_dirs: dict[str, None] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    listings: dict[str, list[str]] = field(default_factory=dict)  # sorted names per directory
    explicit: set[str] = field(default_factory=set)  # files named on the command line

    def add(self, path: str, kind: FileKind) -> None:
        # One spelling per file (`./a/Dockerfile` is `a/Dockerfile`), so that a Dockerfile
        # reached by a walk and by a Compose build is one file in the report.
        path = os.path.normpath(path)
        key = os.path.abspath(path)
        if key in self.seen:
            return
        self.seen.add(key)
        self.files.append((path, kind))
        if kind == "compose":
            self.project_dirs.setdefault(os.path.dirname(path) or ".")


def _walk(paths: Iterable[str], errors: list[ScanError] | None) -> _Found:
    found = _Found()
    for root in paths:
        if os.path.isfile(root):
            found.add(root, _explicit_kind(root))
            found.explicit.add(os.path.normpath(root))
            continue
        if not os.path.isdir(root):
            if errors is not None:
                errors.append(ScanError(root, None, "no such file or directory"))
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            # Pruning in place stops os.walk from descending into skipped folders.
            dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS)
            filenames.sort()
            dirpath = os.path.normpath(dirpath)
            found.listings[dirpath] = filenames
            for name in filenames:
                path = os.path.join(dirpath, name)
                kind = classify(name)
                if kind is None:
                    lower = name.lower()
                    if name == ".env":
                        found.project_dirs.setdefault(dirpath)
                        continue
                    if any(word in lower for word in _BUILD_FILE_WORDS):
                        if not lower.endswith(_IGNORE_SUFFIXES) and _looks_like_dockerfile(path):
                            kind = "dockerfile"
                    elif lower.endswith((".yml", ".yaml")) and _looks_like_compose(path):
                        kind = "compose"
                if kind is not None:
                    found.add(path, kind)
    return found


def discover(
    paths: Iterable[str], errors: list[ScanError] | None = None
) -> list[tuple[str, FileKind]]:
    """List ``(path, kind)`` for every build file under ``paths``, in a stable order.

    Override files count as ``compose``. A missing path is reported into ``errors`` (when
    given) and otherwise skipped.
    """
    return _walk(paths, errors).files


def _split_compose_file(value: str, separator: str | None) -> list[str]:
    sep = separator or os.pathsep
    return [part for part in value.split(sep) if part]


def _dotenv_compose_file(
    directory: str, environ: Mapping[str, str], errors: list[ScanError]
) -> list[str] | None:
    """``COMPOSE_FILE`` of ``directory/.env``, split and relative to ``directory``."""
    path = os.path.join(directory, ".env")
    if not os.path.isfile(path):
        return None
    head = _read_head(path)
    if head is None or "COMPOSE_FILE" not in head[0]:
        return None
    text = head[0]
    try:
        values = parse_dotenv(text, environ.get)
    except DotenvError as exc:
        errors.append(ScanError(path, exc.line, exc.message))
        return None
    value = values.get("COMPOSE_FILE")
    if value is None:
        return None
    separator = environ.get("COMPOSE_PATH_SEPARATOR") or values.get("COMPOSE_PATH_SEPARATOR")
    return [os.path.join(directory, part) for part in _split_compose_file(value, separator)]


def _first_present(directory: str, names: Sequence[str], listing: Sequence[str]) -> str | None:
    present = set(listing)
    for name in names:
        if name in present:
            return os.path.join(directory, name)
    by_lower = {name.lower(): name for name in reversed(listing)}
    for name in names:  # a case-insensitive file system finds `Compose.yaml` too
        actual = by_lower.get(name)
        if actual is not None:
            return os.path.join(directory, actual)
    return None


def _plan_projects(
    found: _Found,
    environ: Mapping[str, str],
    cwd: str,
    compose_files: Sequence[str],
    errors: list[ScanError],
) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """Every Compose project to scan: ``(files merged in order, .env directories)``."""
    merged: dict[tuple[str, ...], tuple[str, ...]] = {}

    def add(files: Sequence[str], dotenv_dirs: Sequence[str]) -> None:
        if files:
            key = tuple(os.path.normpath(f) for f in files)
            merged.setdefault(key, tuple(dotenv_dirs))

    listings = found.listings
    for directory in found.project_dirs:
        if directory not in listings:  # the directory of a file named on the command line
            try:
                listings[directory] = sorted(os.listdir(directory))
            except OSError:
                listings[directory] = []
    for directory in found.project_dirs:
        listing = listings.get(directory, [])
        from_dotenv = _dotenv_compose_file(directory, environ, errors)
        if from_dotenv:
            add(from_dotenv, [directory])
        main = _first_present(directory, DEFAULT_COMPOSE_FILES, listing)
        if main is not None:
            override = _first_present(directory, DEFAULT_OVERRIDE_FILES, listing)
            add([main] if override is None else [main, override], [directory])
    from_environ = environ.get("COMPOSE_FILE")
    if from_environ:
        parts = _split_compose_file(from_environ, environ.get("COMPOSE_PATH_SEPARATOR"))
        add([os.path.join(cwd, part) for part in parts], [cwd])
    if compose_files:
        add(list(compose_files), [cwd])
    # A file that only ever comes after another one in a project is a fragment (an override):
    # it is read merged, not on its own, unless it has a main Compose name or was named on the
    # command line.
    fragments = {file for files in merged for file in files[1:]}
    alone: dict[tuple[str, ...], tuple[str, ...]] = {}
    for path, kind in found.files:
        if kind != "compose":
            continue
        key = os.path.normpath(path)
        name = os.path.basename(path).lower()
        if key not in found.explicit and name not in COMPOSE_NAMES and key in fragments:
            continue
        alone.setdefault((key,), ())
    return [*alone.items(), *((k, v) for k, v in merged.items() if k not in alone)]


def scan_paths(
    paths: Sequence[str],
    *,
    build_args: Mapping[str, str] | None = None,
    env_files: Sequence[str] | None = None,
    profiles: Sequence[str] | None = None,
    platform: str = "linux/amd64",
    environ: Mapping[str, str] | None = None,
    compose_files: Sequence[str] | None = None,
    cwd: str | None = None,
) -> ScanResult:
    """Discover and scan every build file and Compose project under ``paths``.

    ``build_args`` apply to Dockerfiles scanned on their own; a Compose service's build
    uses that service's ``build.args``. ``compose_files`` form one more project, merged in
    order. ``environ`` (default ``os.environ``) supplies ``COMPOSE_FILE`` and interpolation
    variables; ``cwd`` (default the current directory) is where ``COMPOSE_FILE`` from the
    environment is relative to.
    """
    environ = os.environ if environ is None else environ
    cwd = os.curdir if cwd is None else cwd
    result = ScanResult()
    found = _walk(paths, result.errors)
    built: set[str] = set()
    cache = DockerfileCache()
    for files, dotenv_dirs in _plan_projects(
        found, environ, cwd, list(compose_files or []), result.errors
    ):
        result.extend(
            scan_compose_project(
                files,
                env_files=env_files,
                dotenv_dirs=dotenv_dirs,
                profiles=profiles,
                environ=environ,
                platform=platform,
                dockerfiles_seen=built,
                dockerfile_cache=cache,
            )
        )
    for path, kind in found.files:
        if kind != "dockerfile":
            continue
        scanned = cache.scan(path, dict(build_args or {}), platform)
        if scanned is None:
            error = cache.read_error(path)
            result.errors.append(ScanError(path, None, f"cannot read file: {error}"))
            continue
        if os.path.abspath(path) in built:
            result.images.extend(scanned.images)
        else:
            result.extend(scanned)
    return dedupe(result)
