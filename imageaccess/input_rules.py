"""What the product accepts as free text and as dates, for forms, serializers and models alike.

Each rule is a Django validator (it raises ``django.core.exceptions.ValidationError``), so a
form shows it on the field and a DRF serializer turns it into a 400 naming the field.

- Text a person reads refuses control characters: on one line (names, reasons) every one of
  them, line breaks included; in several lines (justifications, comments) all but tab, line
  feed and carriage return. NUL is refused by Django and DRF already (PostgreSQL stores no NUL
  in text); the others would end up in mail headers, logs, CSV exports and terminals.
- Dates lie between ``EARLIEST_DATE`` and ``LATEST_DATE``. Python's calendar ends at year
  9999, so "the day after" or a time-zone shift of a date near either end overflows; a margin
  of a year keeps every computation the product makes on an accepted date inside it.
"""

from __future__ import annotations

import datetime as dt
import re

from django.core.exceptions import ValidationError

EARLIEST_DATE = dt.date(1900, 1, 1)
LATEST_DATE = dt.date(9998, 12, 31)
EARLIEST_MOMENT = dt.datetime.combine(EARLIEST_DATE, dt.time.min, tzinfo=dt.UTC)
LATEST_MOMENT = dt.datetime.combine(LATEST_DATE, dt.time.max, tzinfo=dt.UTC)
DATE_RANGE_MESSAGE = f"enter a date from {EARLIEST_DATE} to {LATEST_DATE}"

# C0 controls, DEL and C1 controls (Unicode category Cc), and the Unicode line and paragraph
# separators, which mail, logs and editors treat as line breaks.
_NOT_ON_ONE_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# The same, less the three characters text over several lines needs.
_NOT_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _refuse(match: re.Match[str] | None, what: str) -> None:
    if match is not None:
        raise ValidationError(
            f"{what} (found U+{ord(match.group()):04X})", code="control_character"
        )


def validate_single_line(value: str) -> None:
    """Refuse line breaks and other control characters in a one-line text (a name, a reason)."""
    _refuse(_NOT_ON_ONE_LINE.search(value), "must be one line without control characters")


def validate_multiline(value: str) -> None:
    """Refuse control characters other than tab and line breaks in a text of several lines."""
    _refuse(_NOT_IN_TEXT.search(value), "must not contain control characters")


def validate_date_in_range(value: dt.date) -> None:
    """Refuse a date (or the date of a time) outside ``EARLIEST_DATE``..``LATEST_DATE``."""
    if isinstance(value, dt.datetime):
        validate_datetime_in_range(value)
        return
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise ValidationError(DATE_RANGE_MESSAGE, code="date_out_of_range")


def validate_datetime_in_range(value: dt.datetime) -> None:
    """Refuse a time outside the accepted dates, compared in UTC (naive times count as UTC)."""
    # Comparing aware times subtracts them (a timedelta), so no offset can overflow here.
    moment = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    if not EARLIEST_MOMENT <= moment <= LATEST_MOMENT:
        raise ValidationError(DATE_RANGE_MESSAGE, code="date_out_of_range")
