"""Property tests for the shared input layer: whatever comes in, the answer is a clean refusal.

Each property states the class of input it closes: any bytes as a JSON body, structures nested
to any depth, any text in a one-line or a multi-line field, any date or time in any offset,
any pagination cursor, any organization name in a mail subject. No database: these are the
pure pieces the views share (the views themselves are in ``tests/test_bad_input.py``).
"""

from __future__ import annotations

import base64
import datetime as dt
import io
from typing import Any

import orjson
import pytest
from django.core.exceptions import ValidationError
from django.core.mail.message import forbid_multi_line_headers
from django.utils.dateparse import parse_datetime
from hypothesis import example, given, settings
from hypothesis import strategies as st
from rest_framework import serializers
from rest_framework.exceptions import APIException, ParseError
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from imageaccess.errors import APIError
from imageaccess.input_rules import (
    EARLIEST_DATE,
    LATEST_DATE,
    validate_date_in_range,
    validate_datetime_in_range,
    validate_multiline,
    validate_single_line,
)
from imageaccess.mail import MAX_SUBJECT, mail_subject
from imageaccess.pagination import NewestFirstPagination
from imageaccess.parsers import MAX_JSON_DEPTH, StrictJSONParser, nesting_exceeds
from orgs.forms import end_of_day

PROPERTY = settings(max_examples=300, deadline=None, derandomize=True)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),  # what orjson writes
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.text(alphabet='[]{}"\\,:', max_size=8),  # brackets inside strings do not nest
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=40,
)


def depth_of(value: Any) -> int:
    """Levels of arrays and objects, by plain recursion (the model the check must agree with)."""
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    return 0


@PROPERTY
@given(json_values, st.integers(min_value=1, max_value=8))
def test_the_depth_check_agrees_with_counting_levels(value: Any, limit: int) -> None:
    for text in (orjson.dumps(value), orjson.dumps(value, option=orjson.OPT_INDENT_2)):
        assert nesting_exceeds(text, limit) == (depth_of(value) > limit)


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1_000, 100_000])
def test_the_depth_check_never_recurses_whatever_the_depth(depth: int) -> None:
    body = b'{"k": [' * depth + b"1" + b"]}" * depth
    assert nesting_exceeds(body, MAX_JSON_DEPTH)
    assert not nesting_exceeds(b'{"k": [' * 16 + b"1" + b"]}" * 16, MAX_JSON_DEPTH)


def parse(body: bytes) -> Any:
    return StrictJSONParser().parse(io.BytesIO(body))


@PROPERTY
@given(st.one_of(st.binary(max_size=64), json_values.map(orjson.dumps)))
@example(b"[" * 2_000 + b"]" * 2_000)
@example(b'{"a": ' + b"[" * 1_000 + b"]" * 1_000 + b"}")
@example(b'"\\ud800"')
@example(b"\xff\xfe")
def test_any_bytes_parse_or_are_refused_as_malformed(body: bytes) -> None:
    try:
        data = parse(body)
    except (ParseError, APIError) as exc:
        refused: APIException | None = exc
    else:
        refused = None
        assert depth_of(data) <= MAX_JSON_DEPTH
    assert refused is None or refused.status_code == 400


@PROPERTY
@given(st.text())
@example("Acme\nBcc: x@example.com")
@example("a\u2028b")
@example("a\x85b")
def test_one_line_text_passes_exactly_when_it_has_no_breaks_or_control_characters(
    text: str,
) -> None:
    clean = all(not (ch < " " or "\x7f" <= ch <= "\x9f" or ch in "\u2028\u2029") for ch in text)
    try:
        validate_single_line(text)
    except ValidationError as exc:
        message = exc.messages[0]
    else:
        message = ""
        assert len(text.splitlines()) <= 1
    assert clean == (message == "")
    assert clean or "(found U+" in message


@PROPERTY
@given(st.text())
@example("line one\r\nline two\tend")
def test_multi_line_text_keeps_tab_and_line_breaks_and_nothing_else_of_the_controls(
    text: str,
) -> None:
    clean = all(ch in "\t\n\r" or not (ch < " " or "\x7f" <= ch <= "\x9f") for ch in text)
    try:
        validate_multiline(text)
    except ValidationError:
        assert not clean
    else:
        assert clean


any_offset = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: dt.timezone(dt.timedelta(minutes=minutes))
)


@PROPERTY
@given(st.dates())
@example(dt.date.max)
@example(dt.date.min)
def test_an_accepted_date_survives_every_computation_the_product_makes(day: dt.date) -> None:
    try:
        validate_date_in_range(day)
    except ValidationError:
        assert not EARLIEST_DATE <= day <= LATEST_DATE
        return
    # The day after (filters, expiry at the end of the day), and the day in UTC.
    end_of_day(day)
    start = dt.datetime.combine(day, dt.time.min, dt.UTC)
    assert start + dt.timedelta(days=1) > start - dt.timedelta(days=1)


@PROPERTY
@given(st.datetimes(), any_offset)
@example(dt.datetime.max, dt.timezone(dt.timedelta(hours=-14)))
@example(dt.datetime.min, dt.timezone(dt.timedelta(hours=14)))
def test_an_accepted_time_in_any_offset_converts_to_utc_and_back(
    moment: dt.datetime, offset: dt.timezone
) -> None:
    aware = moment.replace(tzinfo=offset)
    try:
        validate_datetime_in_range(aware)
    except ValidationError:
        return
    utc = aware.astimezone(dt.UTC)
    for zone in (dt.timezone(dt.timedelta(hours=14)), dt.timezone(dt.timedelta(hours=-14))):
        (utc + dt.timedelta(days=1)).astimezone(zone)
        (utc - dt.timedelta(days=1)).astimezone(zone)


@PROPERTY
@given(st.text(max_size=300))
@example("Acme\r\nBcc: everyone@example.com")
@example("a\u2028b\x85c\x0bd")
def test_a_mail_subject_is_one_line_whatever_it_is_built_from(text: str) -> None:
    subject = mail_subject(text)

    assert len(subject) <= MAX_SUBJECT
    assert len(subject.splitlines()) <= 1
    forbid_multi_line_headers("Subject", subject, "utf-8")  # what Django checks before sending


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def cursor_texts() -> st.SearchStrategy[str]:
    moments = st.one_of(
        st.text(max_size=30),
        st.datetimes(timezones=any_offset).map(str),
        st.sampled_from(["9999-12-31 23:59:59+14:00", "0001-01-01 00:00:00-14:00"]),
    )
    querystrings = st.lists(
        st.tuples(st.sampled_from(["o", "r", "p", "x"]), moments), max_size=4
    ).map(lambda pairs: "&".join(f"{key}={value}" for key, value in pairs))
    return st.one_of(
        st.text(max_size=40),
        st.binary(max_size=48).map(b64),
        querystrings.map(lambda text: b64(text.encode("utf-8", "surrogatepass"))),
    )


@PROPERTY
@given(cursor_texts())
@example(b64(b"p=x"))
@example(b64(b"p=9999-12-31 23:59:59+14:00"))
def test_any_cursor_decodes_to_a_usable_position_or_is_a_400(cursor: str) -> None:
    request = Request(APIRequestFactory().get("/", {"cursor": cursor}))
    try:
        decoded = NewestFirstPagination().decode_cursor(request)
    except serializers.ValidationError:
        return  # a 400 naming the cursor
    if decoded is not None and decoded.position is not None:
        # What the database is given: a time with an offset, inside the calendar.
        position = parse_datetime(str(decoded.position))
        assert position is not None
        assert position.tzinfo is not None
        validate_datetime_in_range(position)
