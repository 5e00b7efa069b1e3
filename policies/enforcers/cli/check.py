"""``imageaccess check``: scan build files, then ask the decision API about every image.

Usage::

    IMAGEACCESS_TOKEN=... imageaccess check --url URL [--org SLUG]... [--format text|json|sarif]
        [--output FILE] [--build-arg K=V]... [--env-file F]... [--profile P]...
        [--platform OS/ARCH[/VARIANT]] [-f COMPOSE_FILE]... [--timeout SECONDS] PATH...

The command scans ``PATH...`` exactly like ``imageaccess scan``, asks
``POST URL/api/v1/decisions`` about each distinct image (at most 100 per request, the API's
limit) with the personal access token from ``IMAGEACCESS_TOKEN``, and maps every decision back
to each ``file:line`` that uses the image.

Text output (the default) prints one Docker-style line per denied use, a ``warning:`` line per
use that audit mode lets through but would deny, an ``error:`` line per invalid reference or
scan problem, then a summary::

    Dockerfile:3: image access denied: community images not allowed (someuser/custom-image)
    3 images checked in 2 files: 2 allowed, 1 denied

``--format json`` prints ``{"images": [...], "errors": [...], "summary": {...}}`` and
``--format sarif`` a SARIF 2.1.0 log for code-scanning tools (:mod:`policies.enforcers.cli.sarif`).
When the report goes to ``--output FILE`` or is machine-readable, the text lines are also
written to stderr so a CI log still shows what was denied.

Exit status: 0 when every image is allowed; 1 when any is denied; 2 on bad input (a scan
error, an invalid reference, a missing token, a bad URL or argument) or when the server cannot
answer (unreachable, timed out, an HTTP error): CI must then treat the images as unchecked.

Standard library only, and no Django: CI runners install the package without a database or
settings, and ``tests/enforcers/cli/test_check_cli.py`` proves Django is never imported.
"""

from __future__ import annotations

import argparse
import contextlib
import email.utils
import http.client
import importlib.metadata
import json
import math
import os
import re
import socket
import ssl
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.message import Message
from typing import IO, Any, Literal, TextIO

from policies.enforcers.cli import sarif
from policies.enforcers.cli.scan_options import (
    UsageError,
    add_paths,
    add_scan_options,
    check_platform,
    parse_build_args,
    require_paths,
)
from policies.engine.scanners.discover import discover, scan_paths
from policies.engine.scanners.results import ImageUse, ScanError

__all__ = [
    "BATCH_SIZE",
    "EXIT_DENIED",
    "EXIT_ERROR",
    "EXIT_OK",
    "TOKEN_ENV",
    "CheckError",
    "CheckReport",
    "DecisionClient",
    "Finding",
    "add_parser",
    "build_parser",
    "build_report",
    "decisions_endpoint",
    "main",
    "retry_delay",
    "run",
]

EXIT_OK = 0
EXIT_DENIED = 1
EXIT_ERROR = 2

TOKEN_ENV = "IMAGEACCESS_TOKEN"
DECISIONS_PATH = "/api/v1/decisions"
# The decision API refuses more than 100 images in one call (MAX_IMAGES_PER_CALL).
BATCH_SIZE = 100
# The API allows at most 20 organizations per call, each a Django slug of 64 characters.
MAX_ORGS = 20
_SLUG = re.compile(r"[-a-zA-Z0-9_]{1,64}")
DEFAULT_TIMEOUT = 30.0
# 429/503 are retried this many times; Retry-After is honoured but capped, because a CI job
# waiting minutes on a busy server is worse than failing fast with "retry later".
MAX_RETRIES = 3
MAX_RETRY_WAIT = 5.0
# A decision response for 100 images is a few tens of KiB; refuse to buffer a runaway body.
MAX_RESPONSE_BYTES = 16 * 1024 * 1024
# Progress is only worth drawing when a scan is big enough for the user to wonder.
PROGRESS_MIN_FILES = 20
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

FindingKind = Literal["denied", "would-deny", "invalid-reference", "scan-error"]
Decision = dict[str, Any]


class CheckError(Exception):
    """A problem that stops the check before a report can be made (exit status 2)."""


def tool_version() -> str:
    """The installed ``imageaccess`` distribution's version (``0+unknown`` from a checkout)."""
    try:
        return importlib.metadata.version("imageaccess")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def _printable(text: str) -> str:
    # Reasons and messages come from the server and paths from the file system: escape
    # control characters so neither can rewrite a terminal or forge extra CI log lines.
    return text if text.isprintable() else json.dumps(text)[1:-1]


# --------------------------------------------------------------------------------------------
# Arguments


def _configure(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    add_paths(parser)
    parser.add_argument(
        "--url",
        required=True,
        help="base URL of the imageaccess server, e.g. https://imageaccess.example.com",
    )
    parser.add_argument(
        "--org",
        action="append",
        default=[],
        metavar="SLUG",
        help="decide under this organization (repeatable; default: all of the token "
        "owner's organizations, strictest wins)",
    )
    parser.add_argument(
        "--format",
        choices=("text", "json", "sarif"),
        default="text",
        help="report format (default: text)",
    )
    parser.add_argument(
        "--output", metavar="FILE", help="write the report to FILE instead of stdout"
    )
    add_scan_options(parser, verb="check")
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"network timeout per request (default: {DEFAULT_TIMEOUT:g})",
    )
    parser.set_defaults(func=run)
    return parser


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``check`` subcommand on the top-level dispatcher's ``subparsers``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "check",
        help="check the images of build files against the decision API",
        description="Scan Dockerfiles and Compose projects and ask the imageaccess server "
        f"whether each image may be pulled. The token is read from {TOKEN_ENV}. "
        "Exit status: 0 all allowed, 1 any denied, 2 bad input or server unreachable.",
    )
    return _configure(parser)


def build_parser() -> argparse.ArgumentParser:
    """A standalone parser for ``check`` (tests, and use without the dispatcher)."""
    return _configure(argparse.ArgumentParser(prog="imageaccess check"))


@dataclass(frozen=True)
class Options:
    """Validated settings for one run."""

    endpoint: str
    base_url: str
    token: str
    orgs: tuple[str, ...]
    build_args: dict[str, str]
    timeout: float


def decisions_endpoint(url: str) -> tuple[str, str]:
    """``(endpoint, base_url)`` for ``--url``; :class:`CheckError` when it is not usable.

    ``url`` is the server's base URL, possibly below a path prefix; the full endpoint URL
    (ending in ``/api/v1/decisions``) is accepted too.
    """
    if not url or any(ch.isspace() or not ch.isprintable() for ch in url):
        raise CheckError(f"invalid --url {_printable(url)!r}: empty or contains spaces")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CheckError(f"invalid --url {url!r}: expected http://HOST[:PORT] or https://...")
    if parts.username is not None or parts.password is not None:
        # Credentials in a URL end up in logs and proxies; the token has its own variable.
        raise CheckError(f"invalid --url: do not put credentials in it, set {TOKEN_ENV}")
    if parts.query or parts.fragment:
        raise CheckError(f"invalid --url {url!r}: a base URL has no query or fragment")
    try:
        parts.port  # noqa: B018 (urlsplit validates the port lazily, on access)
    except ValueError:
        raise CheckError(f"invalid --url {url!r}: bad port") from None
    path = parts.path.rstrip("/")
    if path.endswith(DECISIONS_PATH):
        path = path[: -len(DECISIONS_PATH)]
    base = urllib.parse.urlunsplit((parts.scheme, parts.netloc, path + "/", "", ""))
    endpoint = urllib.parse.urlunsplit((parts.scheme, parts.netloc, path + DECISIONS_PATH, "", ""))
    return endpoint, base


def _validate(args: argparse.Namespace, environ: Mapping[str, str]) -> Options:
    try:
        require_paths(args)
    except UsageError as exc:
        raise CheckError(str(exc)) from None
    endpoint, base = decisions_endpoint(args.url)
    token = environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise CheckError(f"{TOKEN_ENV} is not set: export a personal access token in it")
    if any(not ch.isprintable() or ch.isspace() for ch in token) or not token.isascii():
        # Never echo the token itself: this message can land in a public CI log.
        raise CheckError(f"{TOKEN_ENV} contains spaces or control characters")
    orgs = tuple(dict.fromkeys(args.org))
    for org in orgs:
        if not _SLUG.fullmatch(org):
            raise CheckError(f"invalid --org {_printable(org)!r}: expected an organization slug")
    if len(orgs) > MAX_ORGS:
        raise CheckError(f"too many --org options: at most {MAX_ORGS}")
    try:
        check_platform(args.platform)
        if not (math.isfinite(args.timeout) and args.timeout > 0):
            raise CheckError(f"invalid --timeout {args.timeout!r}: expected a positive number")
        build_args = parse_build_args(args.build_arg, environ)
    except UsageError as exc:
        raise CheckError(str(exc)) from None
    return Options(
        endpoint=endpoint,
        base_url=base,
        token=token,
        orgs=orgs,
        build_args=build_args,
        timeout=float(args.timeout),
    )


# --------------------------------------------------------------------------------------------
# The decision API client


def retry_delay(retry_after: str | None, attempt: int, *, now: datetime | None = None) -> float:
    """Seconds to wait before retry ``attempt`` (1-based) given a ``Retry-After`` header.

    Seconds or an HTTP date are honoured up to :data:`MAX_RETRY_WAIT`; without a usable
    header the wait doubles from one second.
    """
    fallback = min(float(2 ** (attempt - 1)), MAX_RETRY_WAIT)
    if retry_after is None:
        return fallback
    value = retry_after.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_WAIT)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return fallback
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(delta, 0.0), MAX_RETRY_WAIT)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: urllib would replay the token to the new host and turn POST into GET."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _envelope_message(body: bytes) -> str | None:
    """The ``error.message`` of the API's error envelope, if ``body`` is one."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(data.get("detail"), str):  # a proxy or framework default, not ours
            return str(data["detail"])
    return None


def _envelope_code(body: bytes) -> str | None:
    """The ``error.code`` of the API's error envelope, if ``body`` is one."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    error = data.get("error") if isinstance(data, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


def _network_reason(exc: BaseException, timeout: float) -> str:
    reason: object = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, TimeoutError):
        return f"timed out after {timeout:g} s"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve the host name ({reason.strerror})"
    if isinstance(reason, ssl.SSLCertVerificationError):
        return f"TLS certificate verification failed ({reason.verify_message})"
    if isinstance(reason, ssl.SSLError):
        return f"TLS error ({reason.reason or reason})"
    if isinstance(reason, http.client.RemoteDisconnected):
        return "the server closed the connection without answering"
    if isinstance(reason, ConnectionResetError):
        return "connection reset by the server"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror.lower()
    return str(reason) or type(reason).__name__


def _headers(message: Message | None) -> dict[str, str]:
    # Header names are case-insensitive; a plain dict with lower-case keys keeps that simple.
    return {name.lower(): value for name, value in (message.items() if message else [])}


def _read_limited(stream: IO[bytes]) -> bytes:
    body = stream.read(MAX_RESPONSE_BYTES + 1)
    if len(body) > MAX_RESPONSE_BYTES:
        raise CheckError(f"the server's answer is larger than {MAX_RESPONSE_BYTES} bytes")
    return body


@dataclass
class DecisionClient:
    """Asks ``POST /api/v1/decisions`` about images, one request per batch of 100."""

    endpoint: str
    token: str
    orgs: Sequence[str] = ()
    timeout: float = DEFAULT_TIMEOUT
    sleep: Callable[[float], None] = time.sleep
    requests_made: int = 0
    _opener: urllib.request.OpenerDirector = field(
        default_factory=lambda: urllib.request.build_opener(_NoRedirect), repr=False
    )

    def decide_all(
        self, images: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> dict[str, Decision]:
        """Decisions (or ``{"image", "error"}`` items) for ``images``, keyed by image."""
        decisions: dict[str, Decision] = {}
        for start in range(0, len(images), BATCH_SIZE):
            batch = images[start : start + BATCH_SIZE]
            for image, decision in zip(batch, self.decide(batch), strict=True):
                decisions[image] = decision
            if progress is not None:
                progress(start + len(batch))
        return decisions

    def decide(self, images: Sequence[str]) -> list[Decision]:
        """One request for at most :data:`BATCH_SIZE` images; retries 429 and 503."""
        payload: dict[str, Any] = {"images": list(images)}
        if self.orgs:
            payload["orgs"] = list(self.orgs)
        body = json.dumps(payload).encode()
        for attempt in range(1, MAX_RETRIES + 2):
            status, headers, answer = self._post(body)
            if status == 200:
                return self._parse(answer, images)
            if status in (429, 503) and attempt <= MAX_RETRIES:
                self.sleep(retry_delay(headers.get("retry-after"), attempt))
                continue
            raise CheckError(self._describe_status(status, headers, answer, attempt))
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    def _post(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(  # noqa: S310 (the scheme is checked: http/https)
            self.endpoint,
            data=body,
            method="POST",
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": f"imageaccess-check/{tool_version()}",
            },
        )
        self.requests_made += 1
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return response.status, _headers(response.headers), _read_limited(response)
        except urllib.error.HTTPError as exc:
            try:
                answer = _read_limited(exc)
            except (OSError, http.client.HTTPException):
                answer = b""
            return exc.code, _headers(exc.headers), answer
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            raise CheckError(
                f"cannot reach {self.endpoint}: {_network_reason(exc, self.timeout)}"
            ) from None

    def _describe_status(
        self, status: int, headers: Mapping[str, str], answer: bytes, attempt: int
    ) -> str:
        message = _envelope_message(answer)
        if message is None:
            text = answer.decode("utf-8", "replace").strip().splitlines()
            message = text[0][:200] if text and not text[0].lstrip().startswith("<") else ""
        message = _printable(message) or http.client.responses.get(status, "no message")
        if status == 401:
            return f"authentication failed (HTTP 401): {message}; check {TOKEN_ENV}"
        if status == 403:
            return f"forbidden (HTTP 403): {message}"
        if status == 400 and _envelope_code(answer) == "unknown_organization":
            return f"{message} (--org names an organization by its slug; check the spelling)"
        if status == 400:
            return f"the server rejected the request (HTTP 400): {message}"
        if status == 404:
            return f"HTTP 404 from {self.endpoint}: is --url the imageaccess server's base URL?"
        if status in (429, 503):
            what = "throttled" if status == 429 else "server unavailable"
            return f"{what} (HTTP {status}) after {attempt} attempts: {message}; retry later"
        if 300 <= status < 400:
            location = _printable(headers.get("location", "?"))
            return f"the server redirects to {location} (HTTP {status}); use that URL as --url"
        return f"HTTP {status} from {self.endpoint}: {message}"

    def _parse(self, answer: bytes, images: Sequence[str]) -> list[Decision]:
        try:
            data = json.loads(answer)
        except (ValueError, UnicodeDecodeError):
            raise CheckError(f"unexpected answer from {self.endpoint}: not JSON") from None
        decisions = data.get("decisions") if isinstance(data, dict) else None
        if not isinstance(decisions, list) or len(decisions) != len(images):
            raise CheckError(
                f"unexpected answer from {self.endpoint}: expected {len(images)} decisions"
            )
        for item in decisions:
            valid = isinstance(item, dict) and (
                isinstance(item.get("error"), str) or isinstance(item.get("allowed"), bool)
            )
            if not valid:
                raise CheckError(f"unexpected answer from {self.endpoint}: malformed decision")
        return decisions


# --------------------------------------------------------------------------------------------
# The report


@dataclass(frozen=True)
class Finding:
    """One thing to report at one place: a denial, an audit-mode warning or an error."""

    kind: FindingKind
    file: str
    line: int | None
    message: str
    image: str | None = None
    rule_id: str = "image-access/scan-error"
    decision: Decision | None = None

    @property
    def location(self) -> str:
        """``file:line``, or ``file`` when the line is unknown."""
        file = _printable(self.file)
        return f"{file}:{self.line}" if self.line is not None else file

    @property
    def text(self) -> str:
        """The line printed for this finding (without the location)."""
        if self.kind == "denied":
            return self.message
        prefix = "warning" if self.kind == "would-deny" else "error"
        return f"{prefix}: {self.message}"


@dataclass
class CheckReport:
    """Everything ``check`` found: decided uses, findings, counts and the exit status."""

    uses: list[tuple[ImageUse, Decision]]
    findings: list[Finding]
    files: int
    images: int
    allowed: int
    denied: int
    would_deny: int
    invalid: int
    scan_errors: int

    @property
    def exit_code(self) -> int:
        """2 for any error (the result cannot be trusted), else 1 for a denial, else 0."""
        if self.invalid or self.scan_errors:
            return EXIT_ERROR
        return EXIT_DENIED if self.denied else EXIT_OK

    def summary_line(self) -> str:
        """``3 images checked in 2 files: 2 allowed, 1 denied`` (+ warnings and errors)."""

        def count(n: int, word: str) -> str:
            return f"{n} {word}{'' if n == 1 else 's'}"

        line = (
            f"{count(self.images, 'image')} checked in {count(self.files, 'file')}: "
            f"{self.allowed} allowed, {self.denied} denied"
        )
        if self.would_deny:
            line += f", {self.would_deny} would be denied without audit mode"
        if self.invalid:
            line += f", {self.invalid} invalid"
        if self.scan_errors:
            line += f"; {count(self.scan_errors, 'scan error')}"
        return line

    def summary(self) -> dict[str, int]:
        """The counts as the JSON report's ``summary`` object."""
        return {
            "files": self.files,
            "images": self.images,
            "uses": len(self.uses),
            "allowed": self.allowed,
            "denied": self.denied,
            "would_deny": self.would_deny,
            "invalid": self.invalid,
            "scan_errors": self.scan_errors,
            "exit_code": self.exit_code,
        }


def rule_for(decision: Decision) -> str:
    """The SARIF rule id of a denied (or would-deny) decision."""
    reason = str(decision.get("reason") or "")
    if decision.get("sign_in_required") or reason.startswith("sign-in required"):
        return "image-access/sign-in-required"
    category = str(decision.get("category") or "unknown")
    return f"image-access/{category}"


def build_report(
    uses: Sequence[ImageUse],
    scan_errors: Sequence[ScanError],
    decisions: Mapping[str, Decision],
    files: int,
) -> CheckReport:
    """Map ``decisions`` (keyed by image) back onto every use and collect the findings."""
    # "./Dockerfile" (from scanning ".") reads better and matches SARIF URIs as "Dockerfile".
    uses = [replace(use, file=os.path.normpath(use.file)) for use in uses]
    findings: list[Finding] = [
        Finding("scan-error", os.path.normpath(err.file), err.line, _printable(err.message))
        for err in scan_errors
    ]
    decided: list[tuple[ImageUse, Decision]] = []
    for use in uses:
        decision = decisions[use.image]
        image = _printable(use.image)
        if "error" in decision:
            message = f"{_printable(str(decision['error']))} ({image})"
            findings.append(
                Finding(
                    "invalid-reference",
                    use.file,
                    use.line,
                    message,
                    use.image,
                    "image-access/invalid-reference",
                    decision,
                )
            )
            continue
        decided.append((use, decision))
        reason = _printable(str(decision.get("reason") or "image access denied"))
        if not decision["allowed"]:
            kind: FindingKind = "denied"
        elif decision.get("would_deny"):
            kind = "would-deny"
        else:
            continue
        findings.append(
            Finding(
                kind,
                use.file,
                use.line,
                f"{reason} ({image})",
                use.image,
                rule_for(decision),
                decision,
            )
        )
    findings.sort(key=lambda f: (f.file, f.line or 0))
    distinct = {use.image: decisions[use.image] for use in uses}
    verdicts = [d for d in distinct.values() if "error" not in d]
    return CheckReport(
        uses=decided,
        findings=findings,
        files=files,
        images=len(distinct),
        allowed=sum(1 for d in verdicts if d["allowed"]),
        denied=sum(1 for d in verdicts if not d["allowed"]),
        would_deny=sum(1 for d in verdicts if d["allowed"] and d.get("would_deny")),
        invalid=len(distinct) - len(verdicts),
        scan_errors=len(scan_errors),
    )


def render_text(report: CheckReport) -> str:
    """Docker-style lines, one per finding, then the summary."""
    lines = [f"{finding.location}: {finding.text}" for finding in report.findings]
    lines.append(report.summary_line())
    return "\n".join(lines) + "\n"


def render_json(report: CheckReport) -> str:
    """``{"images": [...], "errors": [...], "summary": {...}}``."""
    images = [
        {
            "image": use.image,
            "reference": decision.get("reference"),
            "file": use.file,
            "line": use.line,
            "kind": use.kind,
            "allowed": decision["allowed"],
            "would_deny": bool(decision.get("would_deny", False)),
            "reason": decision.get("reason"),
            "category": decision.get("category"),
            "org": decision.get("org"),
        }
        for use, decision in report.uses
    ]
    errors = [
        {
            "file": finding.file,
            "line": finding.line,
            "message": finding.message,
            "image": finding.image,
            "kind": finding.kind,
        }
        for finding in report.findings
        if finding.kind in ("invalid-reference", "scan-error")
    ]
    document = {"images": images, "errors": errors, "summary": report.summary()}
    return json.dumps(document, indent=2) + "\n"


def render(report: CheckReport, fmt: str, options: Options) -> str:
    """The report in ``fmt`` (``text``, ``json`` or ``sarif``)."""
    if fmt == "json":
        return render_json(report)
    if fmt == "sarif":
        log = sarif.build_log(
            report.findings,
            information_uri=options.base_url,
            version=tool_version(),
            exit_code=report.exit_code,
        )
        return json.dumps(log, indent=2) + "\n"
    return render_text(report)


def _write_atomically(path: str, text: str) -> None:
    # A half-written SARIF file would be uploaded as a broken analysis: write a sibling
    # temporary file and rename it over the target in one step.
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=".imageaccess-", dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


# --------------------------------------------------------------------------------------------
# Progress


class Progress:
    """A single ``\\r``-updated status line on a terminal; silent elsewhere."""

    def __init__(self, stream: TextIO, enabled: bool) -> None:
        self.stream = stream
        self.enabled = enabled
        self._width = 0

    def show(self, text: str) -> None:
        """Replace the status line with ``text``."""
        if not self.enabled:
            return
        padding = " " * max(self._width - len(text), 0)
        self.stream.write(f"\r{text}{padding}")
        self.stream.flush()
        self._width = len(text)

    def clear(self) -> None:
        """Erase the status line so the report starts on a clean line."""
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


# --------------------------------------------------------------------------------------------
# Running


def _files_checked(discovered: Iterable[str], uses: Iterable[ImageUse]) -> int:
    # Files found under PATH... plus Dockerfiles that a Compose file builds from elsewhere.
    return len({os.path.abspath(p) for p in discovered} | {os.path.abspath(u.file) for u in uses})


def run(
    args: argparse.Namespace,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Run the check described by parsed ``args``; print the report; return the exit code."""
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    env = os.environ if environ is None else environ
    try:
        options = _validate(args, env)
    except CheckError as exc:
        print(f"imageaccess check: error: {exc}", file=err)
        return EXIT_ERROR
    host = urllib.parse.urlsplit(options.endpoint).hostname or ""
    if options.endpoint.startswith("http://") and host not in _LOOPBACK_HOSTS:
        print(
            f"imageaccess check: warning: sending {TOKEN_ENV} over plain HTTP to {host}",
            file=err,
        )

    discovered = [path for path, _ in discover([*args.paths, *args.compose_file])]
    progress = Progress(err, _isatty(err) and len(discovered) > PROGRESS_MIN_FILES)
    progress.show(f"imageaccess: scanning {len(discovered)} files...")
    result = scan_paths(
        args.paths,
        build_args=options.build_args,
        env_files=args.env_file or None,
        profiles=args.profile or None,
        platform=args.platform,
        environ=env,
        compose_files=args.compose_file,
    )
    scan_errors = list(result.errors)
    if not discovered and not scan_errors:
        # A path with no build file is almost always a CI misconfiguration: never "pass" it.
        where = ", ".join(args.paths)
        scan_errors.append(ScanError(where, None, "no Dockerfile or Compose file found"))
    files = _files_checked(discovered, result.images)
    images = list(dict.fromkeys(use.image for use in result.images))

    client = DecisionClient(
        options.endpoint, options.token, options.orgs, options.timeout, sleep=sleep
    )
    try:
        decisions = client.decide_all(
            images,
            lambda done: progress.show(
                f"imageaccess: checked {done}/{len(images)} images in {files} files"
            ),
        )
    except CheckError as exc:
        progress.clear()
        print(f"imageaccess check: error: {exc}", file=err)
        return EXIT_ERROR
    progress.clear()

    report = build_report(result.images, scan_errors, decisions, files)
    text = render(report, args.format, options)
    if args.output:
        try:
            _write_atomically(args.output, text)
        except OSError as exc:
            print(f"imageaccess check: error: cannot write {args.output}: {exc}", file=err)
            return EXIT_ERROR
    else:
        out.write(text)
        out.flush()
    if args.output or args.format != "text":
        # The real report is in a file or machine-readable: keep the CI log informative.
        err.write(render_text(report))
    return report.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` with the standalone parser and run the check."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad usage; keep that status
        return int(exc.code) if isinstance(exc.code, int) else EXIT_ERROR
    return run(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
