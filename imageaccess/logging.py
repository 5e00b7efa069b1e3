"""Logging helpers: credentials must never reach a log line.

Two layers, so that no handler is forgotten:

- ``configure`` (Django's ``LOGGING_CONFIG``) applies ``settings.LOGGING``, where every
  logger a server writes to (Django's, Celery's, granian's and gunicorn's access loggers)
  ends at a handler carrying ``RedactTokensFilter``;
- it also installs a log record factory that redacts each record when it is made, so a
  handler attached outside that configuration (Celery's worker replaces the root handlers,
  a server may configure its loggers again) still receives only the mask.
"""

from __future__ import annotations

import logging
import logging.config
import re
from collections.abc import Callable
from typing import Any

MASK = "***"

# Names of query, form, cookie and JSON fields that carry a credential: any name containing
# one of these words (``new_password1``, ``refresh_token``, ``x_api_key``, ``sessionid``).
_SECRET_NAME = (
    r"[\w.-]*(?:token|passw|pwd|secret|api[_-]?key|apikey|session|signature|credential)[\w.-]*"
    r"|key|code|auth|authorization|pass"
)
_EQUALS = r"(?:=|%3[Dd])"
_AMP_OR_END = r"[^&;\s\"'<>]*?(?=%26|&|;|\s|\"|'|<|>|$)"

_RULES: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    # Typed tokens (``dckr_pat_``, ``dckr_oat_`` and any later kind), wherever they appear.
    (re.compile(r"\b(dckr_[a-z]+_)[A-Za-z0-9_-]+"), rf"\1{MASK}"),
    # Authorization header values.
    (
        re.compile(r"(?i)\b(basic|bearer|digest|negotiate)(\s+|%20|\+)[A-Za-z0-9+/=._~:-]+"),
        rf"\1\2{MASK}",
    ),
    # Passwords in URLs: scheme://user:password@host.
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@/\s]+@"), rf"\1{MASK}@"),
    # JSON and Python reprs: "password": "...", 'refresh_token': '...'.
    (
        re.compile(rf"(?i)([\"'](?:{_SECRET_NAME})[\"']\s*:\s*)([\"'])(?:\\.|(?!\2).)*\2"),
        rf"\1\2{MASK}\2",
    ),
    # Query strings, form bodies, cookies, also percent-encoded inside another URL.
    (
        re.compile(rf"(?i)((?:^|[?&;\s\"'(]|%3[Ff]|%26)(?:{_SECRET_NAME}){_EQUALS}){_AMP_OR_END}"),
        rf"\1{MASK}",
    ),
    # Signed JWTs (registry tokens): header.payload.signature.
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), f"eyJ{MASK}"),
    # One-time secrets carried in paths: invitation links, password reset and email
    # confirmation keys (also inside an encoded ?next=).
    (
        re.compile(r"((?:/|%2[Ff])(?:invitations|confirm-email|key)(?:/|%2[Ff]))[^/\s?&#%\"'<>]+"),
        rf"\1{MASK}",
    ),
]


def redact(text: str) -> str:
    """Replace every credential in ``text`` (tokens, passwords, keys, secrets) with a mask."""
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


def redact_record(record: logging.LogRecord) -> None:
    """Redact ``record`` in place: its message, and the text of its exception and stack."""
    try:
        message = record.getMessage()
    except Exception:  # a malformed record is the handler's to report
        return
    redacted = redact(message)
    if redacted != message:
        record.msg = redacted
        record.args = None
    if record.exc_info and not record.exc_text:
        # Exception messages quote what they were given; format once, redacted, and the
        # formatters reuse exc_text instead of formatting the traceback again.
        record.exc_text = redact(_EXCEPTION_FORMATTER.formatException(record.exc_info))
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


_EXCEPTION_FORMATTER = logging.Formatter()


class RedactTokensFilter(logging.Filter):
    """Rewrite each record so credentials never reach the handler it is attached to."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def _redacting_factory(previous: Callable[..., logging.LogRecord]) -> Callable[..., Any]:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        redact_record(record)
        return record

    factory.redacts_credentials = True  # type: ignore[attr-defined]
    return factory


def install_record_redaction() -> None:
    """Redact every log record of this process when it is made (idempotent)."""
    current = logging.getLogRecordFactory()
    if not getattr(current, "redacts_credentials", False):
        logging.setLogRecordFactory(_redacting_factory(current))


def configure(config: dict[str, Any]) -> None:
    """Django's ``LOGGING_CONFIG``: apply ``settings.LOGGING`` and redact every record."""
    install_record_redaction()
    logging.config.dictConfig(config)
