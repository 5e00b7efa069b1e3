"""Build-file scanners: every image a Dockerfile or Compose project pulls.

Pure Python (no Django): ``dockerfile`` and ``compose`` follow BuildKit's and Compose's own
parsing rules, ``discover`` finds the build files under a path and scans them as Compose and
BuildKit would.
"""
