"""Build-file scanners: every image a Dockerfile or Compose project pulls.

Pure Python (no Django). See :mod:`policies.scan.dockerfile`, :mod:`policies.scan.compose`
and :mod:`policies.scan.discover`.
"""

from policies.scan.compose import scan_compose, scan_compose_project
from policies.scan.discover import discover, scan_paths
from policies.scan.dockerfile import ImageUse, ScanError, ScanResult, scan_dockerfile

__all__ = [
    "ImageUse",
    "ScanError",
    "ScanResult",
    "discover",
    "scan_compose",
    "scan_compose_project",
    "scan_dockerfile",
    "scan_paths",
]
