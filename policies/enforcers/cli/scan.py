"""``imageaccess scan``: list every image the given Dockerfiles / Compose projects pull.

Usage::

    imageaccess scan [--json] [--build-arg K=V]... [--env-file F]... [--profile P]...
                     [--platform OS/ARCH[/VARIANT]] [-f COMPOSE_FILE]... PATH...

Text output is one ``file:line: kind image`` line per pull (kind: ``syntax`` for the BuildKit
frontend, ``from``, ``copy-from``, ``mount-from``, ``compose``, ``cache-from``), then one
``file:line: error: message`` line per problem. ``--json`` prints::

    {"images": [{"image", "reference", "file", "line", "kind"}],
     "errors": [{"file", "line", "message"}]}

where ``reference`` is the fully normalised reference (``docker.io/library/nginx:latest``).

Exit status: 0 when the scan found no error; 2 when it found any error or the command line
was invalid (a malformed ``--build-arg`` or ``--platform``, nothing to scan). CI should treat
2 as "cannot vouch for the images used". Runs without Django.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from policies.enforcers.cli.scan_options import (
    UsageError,
    add_paths,
    add_scan_options,
    check_platform,
    parse_build_args,
    require_paths,
)
from policies.engine.reference import parse_docker_ref
from policies.engine.scanners.discover import scan_paths
from policies.engine.scanners.results import ImageUse, ScanError, ScanResult

__all__ = [
    "EXIT_ERRORS",
    "EXIT_OK",
    "add_parser",
    "build_parser",
    "main",
    "run",
]

EXIT_OK = 0
EXIT_ERRORS = 2


def _configure(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    add_paths(parser)
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    add_scan_options(parser, verb="scan")
    parser.set_defaults(func=run)
    return parser


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``scan`` subcommand on the top-level dispatcher's ``subparsers``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "scan",
        help="list the images Dockerfiles and Compose files pull",
        description="List every image the given Dockerfiles and Compose projects pull.",
    )
    return _configure(parser)


def build_parser() -> argparse.ArgumentParser:
    """A standalone parser for ``scan`` (tests, and use without the dispatcher)."""
    return _configure(argparse.ArgumentParser(prog="imageaccess scan"))


def _reference(image: str) -> str:
    # The scanners report only images that parse (the others are errors).
    return str(parse_docker_ref(image))


def _location(file: str, line: int | None) -> str:
    return f"{file}:{line}" if line is not None else file


def _as_json(result: ScanResult) -> dict[str, list[dict[str, Any]]]:
    def image(use: ImageUse) -> dict[str, Any]:
        return {
            "image": use.image,
            "reference": _reference(use.image),
            "file": use.file,
            "line": use.line,
            "kind": use.kind,
        }

    def error(err: ScanError) -> dict[str, Any]:
        return {"file": err.file, "line": err.line, "message": err.message}

    return {
        "images": [image(use) for use in result.images],
        "errors": [error(err) for err in result.errors],
    }


def _print(result: ScanResult, as_json: bool, out: TextIO) -> None:
    if as_json:
        json.dump(_as_json(result), out, indent=2)
        out.write("\n")
        return
    for use in result.images:
        out.write(f"{_location(use.file, use.line)}: {use.kind} {use.image}\n")
    for err in result.errors:
        out.write(f"{_location(err.file, err.line)}: error: {err.message}\n")


def run(args: argparse.Namespace) -> int:
    """Run the scan described by parsed ``args``; print the result; return the exit code."""
    try:
        require_paths(args)
        build_args = parse_build_args(args.build_arg, os.environ)
        check_platform(args.platform)
    except UsageError as exc:
        print(f"imageaccess scan: {exc}", file=sys.stderr)
        return EXIT_ERRORS
    result = scan_paths(
        args.paths,
        build_args=build_args,
        env_files=args.env_file or None,
        profiles=args.profile or None,
        platform=args.platform,
        compose_files=args.compose_file,
    )
    _print(result, args.json, sys.stdout)
    return EXIT_ERRORS if result.errors else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` with the standalone parser and run the scan."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad usage; keep that status
        return int(exc.code) if isinstance(exc.code, int) else EXIT_ERRORS
    return run(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
