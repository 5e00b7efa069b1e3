"""Building mail safely from text people typed."""

from __future__ import annotations

import re

# Any run of whitespace (line breaks of every kind included) or control characters.
_BREAKS = re.compile(r"[\s\x00-\x1f\x7f-\x9f]+")
MAX_SUBJECT = 200


def mail_subject(text: str) -> str:
    """``text`` as a mail subject: one line, no control characters, at most 200 characters.

    A subject with a line break makes Django refuse the whole message (a header injection
    guard), so an organization name or a repository that slipped past validation (an older
    row, the Django admin) must not stop an email: every break and control character becomes
    one space.
    """
    subject = _BREAKS.sub(" ", text).strip()
    return subject if len(subject) <= MAX_SUBJECT else subject[: MAX_SUBJECT - 1] + "…"
