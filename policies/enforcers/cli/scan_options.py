"""The command line of a scan, shared by ``imageaccess scan`` and ``imageaccess check``.

Both read build files the same way, so they take the same options and refuse the same input
with the same message (exit status 2).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping, Sequence

_PLATFORM = re.compile(r"[a-z0-9_]+/[a-z0-9_]+(?:/[a-z0-9_.]+)?", re.IGNORECASE)


class UsageError(ValueError):
    """Invalid command-line input found after argparse (exit status 2)."""


def add_paths(parser: argparse.ArgumentParser) -> None:
    """The ``PATH...`` to scan."""
    parser.add_argument(
        "paths", nargs="*", metavar="PATH", help="Dockerfile, Compose file or directory"
    )


def add_scan_options(parser: argparse.ArgumentParser, *, verb: str) -> None:
    """The options that shape a scan, shared by ``scan`` and ``check``."""
    parser.add_argument(
        "-f",
        "--compose-file",
        action="append",
        default=[],
        metavar="FILE",
        help="a Compose project made of these files merged in order, like docker compose -f "
        "(repeatable)",
    )
    parser.add_argument(
        "--build-arg",
        action="append",
        default=[],
        metavar="K=V",
        help="override a global ARG of Dockerfiles scanned on their own (repeatable); "
        "K alone takes the value from the environment",
    )
    parser.add_argument(
        "--env-file",
        action="append",
        default=[],
        metavar="FILE",
        help="Compose env file replacing .env (repeatable, later files win)",
    )
    parser.add_argument(
        "--profile",
        action="append",
        default=[],
        metavar="PROFILE",
        help=f"only {verb} Compose services without profiles or in these profiles (repeatable)",
    )
    parser.add_argument(
        "--platform",
        default="linux/amd64",
        help="target platform for TARGETPLATFORM/TARGETARCH... (default: linux/amd64)",
    )


def require_paths(args: argparse.Namespace) -> None:
    """Refuse a command line that names nothing to scan."""
    if not args.paths and not args.compose_file:
        raise UsageError("give at least one PATH or --compose-file")


def parse_build_args(values: Sequence[str], environ: Mapping[str, str]) -> dict[str, str]:
    """``--build-arg`` values as ``docker build`` reads them: ``K=V``, or ``K`` from ``environ``."""
    args: dict[str, str] = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not key:
            raise UsageError(f"invalid --build-arg {value!r}: expected K=V")
        if sep:
            args[key] = val
        elif key in environ:
            args[key] = environ[key]
    return args


def check_platform(platform: str) -> None:
    """Refuse a ``--platform`` that is not ``os/arch[/variant]``."""
    if not _PLATFORM.fullmatch(platform):
        raise UsageError(f"invalid --platform {platform!r}: expected os/arch[/variant]")
