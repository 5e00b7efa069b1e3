"""The ``imageaccess`` console script.

Subcommands live in their own modules and expose ``add_parser(subparsers)``; each registers
a ``func(args) -> int`` default. No subcommand needs Django (``authz`` serves the Docker
daemon's authorization plugin).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every subcommand registered."""
    from policies.enforcers.cli import authz, check, ref, scan

    parser = argparse.ArgumentParser(
        prog="imageaccess",
        description="Inspect image references, scan build files, check them against policy and "
        "guard a Docker daemon.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (ref, scan, check, authz):
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse ``argv`` and run the chosen subcommand, returning its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
