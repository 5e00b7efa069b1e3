"""Credentials never reach a log line: every spelling, every logger, every handler.

The redaction is tested three ways: the text rules (each way a credential can be written),
the logging configuration (every configured logger ends at a redacting handler) and a handler
attached outside our configuration (as Celery, granian or gunicorn attach theirs).
"""

from __future__ import annotations

import io
import logging
import urllib.parse

import pytest
from django.conf import settings

from imageaccess.logging import RedactTokensFilter, redact

PAT = "dckr_pat_" + "S3cr3tS3cr3tS3cr3tS3cr3tS3cr3t"
OAT = "dckr_oat_" + "0rgS3cr3t0rgS3cr3t0rgS3cr3t00"
JWT = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJtaWtlIn0.c2lnbmF0dXJlc2lnbmF0dXJl"
SECRETS_IN_TEXT = [
    # Typed tokens anywhere: query, header, message, JSON.
    (f"GET /healthz?token={PAT} 200", PAT[9:]),
    (f"token was {OAT}", OAT[9:]),
    # Authorization header values, any case of the scheme.
    ("Authorization: Basic bWlrZTpzM2NyM3QtcGFzcw==", "bWlrZTpzM2NyM3QtcGFzcw=="),
    ("authorization: bearer opaque-s3cr3t-value", "opaque-s3cr3t-value"),
    ("BEARER UPPERCASE-S3CR3T", "UPPERCASE-S3CR3T"),
    # Query strings and form bodies: the parameter names that carry credentials.
    ("GET /v2/token?refresh_token=abc.def:ghi-s3cr3t&scope=x", "abc.def:ghi-s3cr3t"),
    ("GET /cb?access_token=AT-s3cr3t-1 HTTP/1.1", "AT-s3cr3t-1"),
    ("POST /accounts/login/ login=mike&password=hunter2-s3cr3t", "hunter2-s3cr3t"),
    ("GET /x?a=1&Password=Mixed-Case-S3cr3t", "Mixed-Case-S3cr3t"),
    ("GET /x?client_secret=cs-s3cr3t&id_token=it-s3cr3t", "cs-s3cr3t"),
    ("GET /x?client_secret=cs-s3cr3t&id_token=it-s3cr3t", "it-s3cr3t"),
    ("GET /x?api_key=k-s3cr3t", "k-s3cr3t"),
    ("GET /x?new_password1=np-s3cr3t", "np-s3cr3t"),
    ("Cookie: csrftoken=c-s3cr3t; sessionid=sess-s3cr3t", "sess-s3cr3t"),
    # The same parameters percent-encoded inside another URL (a ?next= redirect).
    ("GET /accounts/login/?next=%2Fx%3Ftoken%3Dnested-s3cr3t", "nested-s3cr3t"),
    # JSON and Python reprs of bodies.
    ('{"username": "mike", "password": "json-s3cr3t"}', "json-s3cr3t"),
    ("{'refresh_token': 'repr-s3cr3t'}", "repr-s3cr3t"),
    # Passwords in connection URLs (DATABASE_URL, REDIS_URL in an error message).
    ("could not connect to postgres://app:pg-s3cr3t@db:5432/app", "pg-s3cr3t"),
    ("redis://:redis-s3cr3t@cache:6379/0 refused", "redis-s3cr3t"),
    # Registry JWTs.
    (f"issued {JWT}", JWT.split(".", 1)[1]),
    # One-time secrets in paths: invitation links, password reset and email confirmation keys.
    ("GET /invitations/inv-s3cr3t_Abc/ 302", "inv-s3cr3t_Abc"),
    ("GET /accounts/login/?next=%2Finvitations%2Finv-s3cr3t_Enc%2F", "inv-s3cr3t_Enc"),
    ("GET /accounts/password/reset/key/1-reset-s3cr3t/ 302", "reset-s3cr3t"),
    ("GET /accounts/confirm-email/confirm-s3cr3t/ 200", "confirm-s3cr3t"),
]


@pytest.mark.parametrize(("text", "secret"), SECRETS_IN_TEXT)
def test_redact_removes_every_spelling_of_a_credential(text: str, secret: str) -> None:
    redacted = redact(text)
    assert secret not in redacted
    assert "***" in redacted


@pytest.mark.parametrize(
    "text",
    [
        "GET /healthz 200",
        "GET /api/v1/orgs/acme/image-access?page_size=50 200",
        "policy.updated by olivia: allow_community False -> True",
        "image access denied: community images not allowed",
    ],
)
def test_redact_leaves_ordinary_lines_alone(text: str) -> None:
    assert redact(text) == text


def reconfigure_logging() -> None:
    """Apply the project's logging settings again, as Django does at start-up."""
    from django.utils.log import configure_logging

    configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)


def _handlers_reached(logger: logging.Logger) -> list[logging.Handler]:
    """Every handler a record logged on ``logger`` is offered to (propagation included)."""
    handlers: list[logging.Handler] = []
    current: logging.Logger | None = logger
    while current is not None:
        handlers.extend(current.handlers)
        if not current.propagate:
            break
        current = current.parent
    return handlers


# The loggers a server, a worker or Django itself writes request lines and errors to.
SERVER_LOGGERS = [
    "",
    "django",
    "django.request",
    "django.server",
    "django.security.csrf",
    "celery",
    "celery.app.trace",
    "granian.access",
    "_granian",
    "gunicorn.access",
    "gunicorn.error",
    "imageaccess",
    "orgs.tokens",
    "policies.enforcers.token_service.token_endpoint",
]


@pytest.mark.parametrize("name", SERVER_LOGGERS)
def test_every_handler_of_every_server_logger_redacts(name: str) -> None:
    reconfigure_logging()
    logger = logging.getLogger(name)
    handlers = [h for h in _handlers_reached(logger) if type(h).__module__ != "_pytest.logging"]
    assert handlers, f"{name or 'root'} reaches no handler: its lines would be lost"
    for handler in handlers:
        assert any(isinstance(f, RedactTokensFilter) for f in handler.filters), (
            f"{name or 'root'} reaches {handler!r} without the redaction filter"
        )


def test_loggers_that_servers_configure_before_django_are_taken_over() -> None:
    """granian and gunicorn give their access loggers their own handlers before the app
    loads; Django's configuration must replace them, or those lines skip the filter."""
    foreign = logging.StreamHandler(io.StringIO())
    for name in ("granian.access", "gunicorn.access", "django.server"):
        logging.getLogger(name).addHandler(foreign)
    reconfigure_logging()
    for name in ("granian.access", "gunicorn.access", "django.server"):
        assert foreign not in logging.getLogger(name).handlers


def test_a_handler_attached_outside_our_configuration_still_gets_redacted_records() -> None:
    """Celery's worker replaces the root handlers with its own; granian configures its own
    loggers again in each worker. Records are redacted when they are made, so any handler
    anyone attaches sees only the mask."""
    reconfigure_logging()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("test.foreign.handler")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("GET /x?token=%s", PAT)
        logger.warning("%(method)s %(path)s", {"method": "GET", "path": f"/y?access_token={PAT}"})
        try:
            raise ValueError(f"bad credentials {PAT}")
        except ValueError:
            logger.exception("failed with Bearer %s", "opaque-s3cr3t-value")
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert PAT[9:] not in output
    assert "opaque-s3cr3t-value" not in output
    assert "GET /x?token=***" in output
    assert "GET /y?access_token=***" in output
    assert "ValueError: bad credentials dckr_pat_***" in output
    assert "ValueError" in output  # the traceback itself is kept


def test_filter_redacts_exception_text_and_leaves_clean_records_untouched() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "plain %s", ("text",), None)
    assert RedactTokensFilter().filter(record)
    assert (record.msg, record.args) == ("plain %s", ("text",))
    try:
        raise RuntimeError(f"token {PAT}")
    except RuntimeError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom", None, sys.exc_info())
    RedactTokensFilter().filter(record)
    text = logging.Formatter().format(record)
    assert PAT[9:] not in text
    assert "RuntimeError" in text


def test_logging_configuration_is_installed_through_settings() -> None:
    assert settings.LOGGING_CONFIG == "imageaccess.logging.configure"
    configured = settings.LOGGING["loggers"]
    assert isinstance(configured, dict)
    for name in ("django", "django.request", "django.server", "celery", "granian.access"):
        assert name in configured, name


def test_query_string_helper_round_trip() -> None:
    """A URL built by a client library (urlencode) is redacted too."""
    line = "GET /x?" + urllib.parse.urlencode({"token": PAT, "refresh_token": "r/s3cr3t+=="})
    assert PAT[9:] not in redact(line)
    assert "r%2Fs3cr3t%2B%3D%3D" not in redact(line)


def test_celery_worker_logging_masks_credentials() -> None:
    """The worker sets its own root handlers up after Django's; run that set-up for real in a
    child process and log as a task and as the worker would."""
    import os
    import subprocess
    import sys

    code = (
        "import logging, django\n"
        "django.setup()\n"
        "from imageaccess.celery import app\n"
        "app.log.setup(loglevel='INFO', redirect_stdouts=False, colorize=False)\n"
        "assert not any(\n"
        "    isinstance(f, __import__('imageaccess.logging').logging.RedactTokensFilter)\n"
        "    for h in logging.getLogger().handlers for f in h.filters\n"
        "), 'celery was expected to replace the root handlers'\n"
        f"logging.getLogger('celery.app.trace').error('task failed for %s', {PAT!r})\n"
        f"logging.getLogger('policies.events.tasks').warning('GET /x?refresh_token=rt-s3cr3t')\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "imageaccess.settings"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=settings.BASE_DIR,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "task failed for dckr_pat_***" in output
    assert "refresh_token=***" in output
    assert PAT[9:] not in output
    assert "rt-s3cr3t" not in output


ADVERSARIAL_LINES = {
    "dash-separated words": "a-" * 32768,
    "JWT-like runs": "eyJa-" * 13107,
    "JWT-like segments": "eyJaaaa." * 8192,
    "URL-scheme-like run": "ab+" * 21845,
    "secret word repeated in one name": "?" + "token" * 13107,
    "names without values": " token_x" * 8192,
    "empty credential fields": " token=" * 9362,
    "unclosed JSON fields": '"token":"' * 7281,
    "path keys": "/key" * 16384,
    "schemes without values": "bearer " * 9362,
}


@pytest.mark.parametrize("text", ADVERSARIAL_LINES.values(), ids=ADVERSARIAL_LINES.keys())
def test_redaction_of_a_crafted_line_costs_no_more_than_reading_it(text: str) -> None:
    """A client chooses what some log lines quote (a 404's path): a 64 KB crafted line is
    redacted in milliseconds (rules that backtrack took 9 to 39 seconds on these)."""
    import time

    started = time.perf_counter()
    redact(text)
    assert time.perf_counter() - started < 0.5
