"""Logging helpers: tokens must never reach a log line."""

from __future__ import annotations

import logging
import re

# Any typed token (personal or organization) and Basic credentials in a logged header.
_SECRET = re.compile(r"(dckr_(?:pat|oat)_)[A-Za-z0-9_-]+|(Basic|Bearer)\s+[A-Za-z0-9+/=._-]+")


def redact(text: str) -> str:
    """Replace token secrets and Authorization credentials in ``text`` with a mask."""
    return _SECRET.sub(lambda m: f"{m.group(1)}***" if m.group(1) else f"{m.group(2)} ***", text)


class RedactTokensFilter(logging.Filter):
    """Rewrite each record's message so token secrets never reach a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        return True
