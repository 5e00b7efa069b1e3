"""Small helpers shared by the scanner tests."""

from __future__ import annotations

from collections.abc import Mapping

from policies.engine.scanners.dockerfile_stages import scan_dockerfile
from policies.engine.scanners.results import ScanResult


def scan(text: str, build_args: Mapping[str, str] | None = None, **kw: str) -> ScanResult:
    """Scan a Dockerfile given as text under the name ``Dockerfile``."""
    return scan_dockerfile(text, build_args=build_args, **kw)


def pulls(result: ScanResult) -> list[tuple[str, int, str]]:
    """The (image, line, kind) triples of a result, in order."""
    return [(use.image, use.line, use.kind) for use in result.images]


def messages(result: ScanResult) -> list[tuple[int | None, str]]:
    """The (line, message) pairs of a result's errors."""
    return [(err.line, err.message) for err in result.errors]
