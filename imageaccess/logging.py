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

# Every rule runs in time linear in the text (possessive quantifiers, starts anchored at the
# beginning of a run, no nested backtracking): log lines quote what clients send, such as a
# 404's path, so a crafted line must not cost more than reading it. Each rule also has a
# cheap substring test, so an ordinary line costs a few ``in`` checks.

# Typed tokens (``dckr_pat_``, ``dckr_oat_`` and any later kind), wherever they appear.
_TYPED_TOKEN = re.compile(r"\b(dckr_[a-z]++_)[A-Za-z0-9_-]++")
# Authorization header values, any case of the scheme.
_AUTH_SCHEME = re.compile(
    r"(?i)\b(basic|bearer|digest|negotiate)(\s++|%20|\+)[A-Za-z0-9+/=._~:-]++"
)
_AUTH_WORDS = ("basic", "bearer", "digest", "negotiate")
# Passwords in URLs: scheme://user:password@host.
_USERINFO = re.compile(r"(?i)(?<![a-z0-9+.-])([a-z][a-z0-9+.-]*+://[^:/@\s]*+:)[^@/\s]++@")
# JSON and Python reprs: "password": "...", 'refresh_token': '...'.
_QUOTED_FIELD = re.compile(
    r"""(["'])([\w.-]{1,100})\1(\s*+:\s*+)(?:"(?:[^"\\]|\\.)*+"|'(?:[^'\\]|\\.)*+')"""
)
# A field name of a query string, form body or cookie (also percent-encoded inside another
# URL, as in ``?next=%2Fx%3Ftoken%3D...``), up to its ``=``; its value ends at the next of:
_FIELD_NAME = re.compile(
    r"(?i)(?:^|(?<=[?&;\s\"'(,])|(?<=%3F)|(?<=%26)|(?<=%20))([\w.-]++)(?:=|%3D)"
)
_VALUE_END = re.compile(r"(?i)%26|[&;\s\"'<>]")
# Names carrying a credential: any containing one of these words (``new_password1``,
# ``refresh_token``, ``x_api_key``, ``sessionid``), and a few short ones exactly.
_SECRET_WORD = re.compile(r"token|passw|pwd|secret|api[_-]?key|apikey|session|signature|credential")
_SECRET_NAMES = frozenset({"key", "code", "auth", "authorization", "pass"})
# Signed JWTs (registry tokens): header.payload.signature.
_JWT = re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{4,}+\.[A-Za-z0-9_-]{4,}+\.[A-Za-z0-9_-]*+")
# One-time secrets carried in paths: invitation links, password reset and email
# confirmation keys (also inside an encoded ?next=).
_PATH_SECRET = re.compile(
    r"((?:/|%2[Ff])(?:invitations|confirm-email|key)(?:/|%2[Ff]))[^/\s?&#%\"'<>]++"
)


def _is_secret_name(name: str) -> bool:
    lowered = name.lower()
    return lowered in _SECRET_NAMES or _SECRET_WORD.search(lowered) is not None


def _mask_quoted_field(match: re.Match[str]) -> str:
    if not _is_secret_name(match[2]):
        return match[0]
    quote = match[0][-1]
    return f"{match[1]}{match[2]}{match[1]}{match[3]}{quote}{MASK}{quote}"


def _mask_field_values(text: str) -> str:
    """Mask the value of every credential-named ``name=value`` field in ``text``."""
    parts: list[str] = []
    done = 0  # text before this index is already in ``parts``
    for match in _FIELD_NAME.finditer(text):
        if match.start() < done or not _is_secret_name(match[1]):
            continue  # inside a value masked already, or an ordinary field
        end_of_value = _VALUE_END.search(text, match.end())
        stop = end_of_value.start() if end_of_value else len(text)
        parts.append(text[done : match.end()])
        parts.append(MASK)
        done = stop
    if not parts:
        return text
    parts.append(text[done:])
    return "".join(parts)


def redact(text: str) -> str:
    """Replace every credential in ``text`` (tokens, passwords, keys, secrets) with a mask."""
    if "dckr_" in text:
        text = _TYPED_TOKEN.sub(rf"\1{MASK}", text)
    lowered = text.lower()
    if any(word in lowered for word in _AUTH_WORDS):
        text = _AUTH_SCHEME.sub(rf"\1\2{MASK}", text)
    if "://" in text:
        text = _USERINFO.sub(rf"\1{MASK}@", text)
    if ":" in text and ('"' in text or "'" in text):
        text = _QUOTED_FIELD.sub(_mask_quoted_field, text)
    if "=" in text or "%3d" in lowered:
        text = _mask_field_values(text)
    if "eyJ" in text:
        text = _JWT.sub(f"eyJ{MASK}", text)
    if "invitations" in text or "confirm-email" in text or "key" in text:
        text = _PATH_SECRET.sub(rf"\1{MASK}", text)
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
