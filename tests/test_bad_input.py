"""Bad input on every public endpoint: a clear 4xx with a message, never a 500 or a partial write.

Each class of hostile input has a table here, run against every field or parameter it applies
to: arrays and objects nested ~1,000 deep (Python recurses on them), values of the wrong type,
NUL (PostgreSQL refuses it in text), other control characters, dates at the ends of the
calendar (date arithmetic overflows), pagination cursors nobody issued, huge integers, bodies
that are not JSON objects, wrong content types, invalid UTF-8. The last part sweeps every URL
the resolver knows with generic junk, so a new endpoint without a row fails a test.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from imageaccess.parsers import MAX_JSON_DEPTH
from orgs.models import ActivityLog, Organization, PersonalAccessToken
from policies.events.usage_reports import utc_today
from policies.models import AccessRequest, RepositoryException
from policies.services import update_policy
from tests.conftest import Cast, bearer
from tests.events.bulk_events import Pull, add_events
from tests.pages import World, client_for, make_world, messages_of

pytestmark = pytest.mark.django_db

DECISIONS = "/api/v1/decisions"
POLICY = "/api/v1/orgs/acme/image-access"
EXCEPTIONS = "/api/v1/orgs/acme/exceptions"
EVENTS = "/api/v1/orgs/acme/events"
REQUESTS = "/api/v1/orgs/acme/access-requests"
BAD_REQUEST = HTTPStatus.BAD_REQUEST


def nested(depth: int) -> str:
    """JSON text of ``depth`` arrays inside each other: ``[[[...]]]``."""
    return "[" * depth + "]" * depth


DEEP = nested(1000)  # what an attacker sends: Python's own recursion limit is 1000
SHALLOW = nested(MAX_JSON_DEPTH - 2)  # passes the body's depth limit, still not a string


def api_for(token: str) -> APIClient:
    client = APIClient(raise_request_exception=False)
    return bearer(client, token)


def send(client: APIClient, method: str, url: str, body: bytes | str, **extra: Any) -> Any:
    content_type = extra.pop("content_type", "application/json")
    data = body.encode() if isinstance(body, str) else body
    return getattr(client, method)(url, data=data, content_type=content_type, **extra)


def error_of(response: Any) -> dict[str, Any]:
    assert response.status_code < 500, response.content[:500]
    body: dict[str, Any] = response.json()["error"]
    assert set(body) >= {"code", "message"}
    return body


@pytest.fixture
def world(cast: Cast) -> World:
    update_policy(org=cast.acme, actor=cast.olivia, changes={"enabled": True})
    return make_world(cast)


@pytest.fixture
def clients(world: World, tokens: dict[str, str]) -> dict[str, APIClient]:
    """An API client per operation: members file requests (an owner needs none), owners the rest."""
    owner, member = api_for(tokens["olivia"]), api_for(tokens["mike"])
    owners = dict.fromkeys(("decide", "policy", "exception", "approve", "decline"), owner)
    return {"request": member} | owners


@pytest.fixture
def owner(clients: dict[str, APIClient]) -> APIClient:
    return clients["exception"]


def writes() -> tuple[int, int, int, int]:
    """Row counts a refused request must leave as they were."""
    return (
        RepositoryException.objects.count(),
        AccessRequest.objects.count(),
        ActivityLog.objects.count(),
        PersonalAccessToken.objects.count(),
    )


# --- JSON bodies: every string field of every operation ---------------------------------------

# (operation, method, url, a valid body, the field to spoil: a key, or (key, index) in a list)
Field = str | tuple[str, int]
BODY_FIELDS: list[tuple[str, str, str, dict[str, Any], Field]] = [
    ("decide", "post", DECISIONS, {"images": ["nginx"]}, ("images", 0)),
    ("decide", "post", DECISIONS, {"image": "nginx"}, "image"),
    ("decide", "post", DECISIONS, {"image": "nginx", "orgs": ["acme"]}, ("orgs", 0)),
    ("decide", "post", DECISIONS, {"image": "nginx", "action": "pull"}, "action"),
    ("policy", "patch", POLICY, {"allow_community": True}, "allow_community"),
    ("exception", "post", EXCEPTIONS, {"repository": "someuser/tool"}, "repository"),
    ("exception", "post", EXCEPTIONS, {"repository": "someuser/tool", "reason": "ok"}, "reason"),
    (
        "exception",
        "post",
        EXCEPTIONS,
        {"repository": "someuser/tool", "expires_at": "2999-01-01T00:00:00Z"},
        "expires_at",
    ),
    ("request", "post", REQUESTS, {"repository": "x/y", "justification": "ci"}, "repository"),
    ("request", "post", REQUESTS, {"namespace": "xns", "justification": "ci"}, "namespace"),
    ("request", "post", REQUESTS, {"image_type": "community", "justification": "a"}, "image_type"),
    ("request", "post", REQUESTS, {"repository": "x/y", "justification": "ci"}, "justification"),
    ("approve", "post", "{request}/approve", {"comment": "ok"}, "comment"),
    ("decline", "post", "{request}/decline", {"comment": "no"}, "comment"),
]


def spoil(body: dict[str, Any], field: Field, value_json: str) -> str:
    """``body`` as JSON text with ``field`` replaced by the raw JSON ``value_json``."""
    marker = "\u2603SPOILED\u2603"
    spoiled = copy.deepcopy(body)
    if isinstance(field, tuple):
        key, index = field
        spoiled[key][index] = marker
    else:
        spoiled[field] = marker
    return json.dumps(spoiled).replace(json.dumps(marker), value_json)


def field_name(field: Field) -> str:
    return field[0] if isinstance(field, tuple) else field


def url_of(template: str, world: World) -> str:
    return template.replace("{request}", f"{REQUESTS}/{world.access_request.pk}")


BODY_IDS = [f"{op}-{field_name(field)}" for op, _, _, _, field in BODY_FIELDS]


WRONG_TYPES = {
    "nested-list": SHALLOW,
    "object": '{"a": {"b": [1]}}',
    "number": "5",
    "boolean": "true",
    "null": "null",
}
# Out of the range of a double: not JSON orjson reads.
HUGE_NUMBERS = ["1e400", "1" + "0" * 5000]
CONTROL_CHARACTERS = ["\x00", "\x01", "\x07", "\x1b", "\x7f", "\x85", "\x9b"]
# Fields holding free text a person reads: one line, or several (justification, comment).
SINGLE_LINE = {("exception", "reason")}
MULTI_LINE = {("request", "justification"), ("approve", "comment"), ("decline", "comment")}
# Names go through the reference parser, which refuses every control character itself.
PARSED_NAMES = {("exception", "repository"), ("request", "repository"), ("request", "namespace")}
# Fields that may be null, and booleans, for which true is the right type.
NULLABLE = {("exception", "expires_at")}
BOOLEANS = {("policy", "allow_community")}


@pytest.mark.parametrize(("op", "method", "url", "body", "field"), BODY_FIELDS, ids=BODY_IDS)
def test_hostile_values_in_any_field_are_a_400_naming_the_field(
    clients: dict[str, APIClient],
    world: World,
    op: str,
    method: str,
    url: str,
    body: Any,
    field: Field,
) -> None:
    client, name, before = clients[op], field_name(field), writes()
    target = url_of(url, world)

    def refused(value_json: str) -> dict[str, Any]:
        response = send(client, method, target, spoil(body, field, value_json))
        assert response.status_code == BAD_REQUEST, (value_json[:40], response.content[:300])
        assert writes() == before, value_json[:40]
        return error_of(response)

    # Arrays nested ~1,000 deep: refused by the body's depth limit, before any field sees them.
    error = refused(DEEP)
    assert error["code"] == "malformed_request"
    assert f"nested more than {MAX_JSON_DEPTH} levels deep" in error["message"]

    for kind, value in WRONG_TYPES.items():
        if (kind == "boolean" and (op, name) in BOOLEANS) or (
            kind == "null" and (op, name) in NULLABLE
        ):
            continue
        error = refused(value)
        assert error["code"] == "invalid_request", (kind, error)
        assert error["message"].startswith(f"{name}: "), (kind, error)

    for value in HUGE_NUMBERS:
        assert refused(value)["code"] == "malformed_request"

    for char in CONTROL_CHARACTERS:
        text = json.dumps(f"a{char}b")
        if op == "decide" and name in ("images", "image") and char != "\x00":
            # An image is judged per item: the item carries the reference parser's error.
            response = send(client, method, target, spoil(body, field, text))
            assert response.status_code == HTTPStatus.OK
            assert "invalid reference format" in response.json()["decisions"][0]["error"]
            continue
        error = refused(text)
        if (op, name) in PARSED_NAMES and char != "\x00":
            assert "invalid reference format" in error["message"], error
        else:
            assert error["message"].startswith(f"{name}: "), error
        if (op, name) in SINGLE_LINE | MULTI_LINE and char != "\x00":
            assert f"(found U+{ord(char):04X})" in error["message"]


@pytest.mark.parametrize(
    ("op", "url", "body", "field"),
    [
        ("exception", EXCEPTIONS, {"repository": "someuser/tool"}, "reason"),
        ("request", REQUESTS, {"repository": "x/y"}, "justification"),
    ],
)
def test_line_breaks_are_refused_in_one_line_fields_and_kept_in_multi_line_ones(
    clients: dict[str, APIClient], op: str, url: str, body: Any, field: str
) -> None:
    for index, char in enumerate(["\n", "\r\n", "\u2028", "\u2029"]):
        text = f"first line{char}second line"
        repository = f"{body['repository']}{index}"
        data = {**body, "repository": repository, field: text}
        response = clients[op].post(url, data, format="json")

        if field == "reason":
            assert response.status_code == BAD_REQUEST
            assert f"(found U+{ord(char[0]):04X})" in error_of(response)["message"]
        else:
            assert response.status_code == HTTPStatus.CREATED, response.content
            assert response.json()[field] == text


# --- JSON bodies: the body itself --------------------------------------------------------------

BODY_OPERATIONS = sorted({(op, method, url) for op, method, url, _, _ in BODY_FIELDS})
NOT_OBJECTS = [
    (b"[]", "invalid_request"),
    (b'"nginx"', "invalid_request"),
    (b"42", "invalid_request"),
    (b"null", "invalid_request"),
    (b"{", "malformed_request"),
    (b'{"image": "\xff\xfe"}', "malformed_request"),  # not UTF-8
    (b'{"image": "\\ud800"}', "malformed_request"),  # a lone surrogate
    (b'{"image": "nginx"} trailing', "malformed_request"),
    (b"\xef\xbb\xbf{}", "malformed_request"),  # a byte order mark
    (b"{" * 5000, "malformed_request"),
    (nested(MAX_JSON_DEPTH + 1).encode(), "malformed_request"),
]
OTHER_CONTENT_TYPES = [
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/xml",
    "application/json; charset=latin-1",
    "application/\x00json",
]


@pytest.mark.parametrize(("op", "method", "url"), BODY_OPERATIONS)
def test_a_body_that_is_not_a_json_object_is_a_400(
    clients: dict[str, APIClient], world: World, op: str, method: str, url: str
) -> None:
    before = writes()
    for body, code in NOT_OBJECTS:
        response = send(clients[op], method, url_of(url, world), body)

        assert response.status_code == BAD_REQUEST, (body[:20], response.content)
        assert error_of(response)["code"] == code, body[:20]
        assert writes() == before


@pytest.mark.parametrize(("op", "method", "url"), BODY_OPERATIONS)
def test_a_body_of_another_content_type_is_refused_with_a_message(
    clients: dict[str, APIClient], world: World, op: str, method: str, url: str
) -> None:
    before = writes()
    body = "image=nginx&repository=x%2Fy&justification=ci&comment=ok"
    for content_type in OTHER_CONTENT_TYPES:
        response = send(clients[op], method, url_of(url, world), body, content_type=content_type)

        assert response.status_code in (BAD_REQUEST, HTTPStatus.UNSUPPORTED_MEDIA_TYPE)
        error = error_of(response)
        if response.status_code == HTTPStatus.UNSUPPORTED_MEDIA_TYPE:
            assert error["message"] == "send the request body as application/json"
        assert writes() == before


def test_a_duplicate_key_means_its_last_value_on_every_path(owner: APIClient, world: World) -> None:
    # Both the lean decision path and the full one read JSON with orjson: the last value wins,
    # as in JavaScript and Go, so a body means the same thing whichever path reads it.
    lean = send(owner, "post", DECISIONS, '{"image": "nginx", "image": "someuser/tool"}')
    full = send(
        owner,
        "post",
        DECISIONS,
        '{"image": "nginx", "image": "someuser/tool"}',
        HTTP_ACCEPT="application/json; indent=2",
    )
    assert lean.status_code == full.status_code == HTTPStatus.OK
    assert lean.json()["decisions"][0]["image"] == "someuser/tool"
    assert full.json()["decisions"][0]["image"] == "someuser/tool"

    created = owner.post(
        EXCEPTIONS,
        b'{"repository": "a/b", "repository": "someuser/tool"}',
        content_type="application/json",
    )
    assert created.status_code == HTTPStatus.CREATED
    assert created.json()["repository"] == "someuser/tool"


# --- Dates at the ends of the calendar ---------------------------------------------------------

EXTREME_MOMENTS = [
    "9999-12-31T23:59:59+14:00",
    "9999-12-31T23:59:59-14:00",
    "9999-12-31T23:59:59.999999Z",
    "9999-01-01T00:00:00Z",
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00-14:00",
    "0001-01-01T00:00:00Z",
    "10000-01-01T00:00:00Z",
    "2026-02-30T00:00:00Z",
    "2026-01-01T24:00:00Z",
    "2026-01-01T00:00:00+25:00",
]


def test_an_exception_expiry_outside_the_calendar_we_compute_with_is_a_400(
    owner: APIClient, world: World
) -> None:
    before = writes()
    for moment in EXTREME_MOMENTS:
        response = owner.post(
            EXCEPTIONS, {"repository": "someuser/tool", "expires_at": moment}, format="json"
        )

        assert response.status_code == BAD_REQUEST, (moment, response.content)
        assert error_of(response)["message"].startswith("expires_at: ")
        assert writes() == before
    # The organization's exceptions and decisions still read (no stored value breaks them).
    assert owner.get(EXCEPTIONS).status_code == HTTPStatus.OK


def test_the_latest_accepted_expiry_is_stored_listed_and_decided(
    owner: APIClient, world: World
) -> None:
    response = owner.post(
        EXCEPTIONS,
        {"repository": "someuser/tool", "expires_at": "9998-12-31T23:59:59+14:00"},
        format="json",
    )
    assert response.status_code == HTTPStatus.CREATED, response.content
    assert response.json()["expires_at"] == "9998-12-31T09:59:59Z"
    assert owner.get(EXCEPTIONS).status_code == HTTPStatus.OK
    decided = owner.post(DECISIONS, {"image": "someuser/tool"}, format="json").json()
    assert decided["decisions"][0]["allowed"] is True


@pytest.mark.parametrize(
    "day", ["9999-12-31", "0001-01-01", "10000-01-01", "2026-02-30", "-2026-01-01", "2026-1-1x"]
)
def test_an_event_day_filter_outside_the_calendar_is_a_400(owner: APIClient, day: str) -> None:
    response = owner.get(EVENTS, {"day": day})

    assert response.status_code == BAD_REQUEST
    assert error_of(response)["message"].startswith("day: ")


@pytest.mark.parametrize("day", ["9998-12-31", "1900-01-01"])
def test_the_first_and_last_days_of_the_calendar_filter_to_nothing(
    owner: APIClient, day: str
) -> None:
    response = owner.get(EVENTS, {"day": day})

    assert response.status_code == HTTPStatus.OK
    assert response.json()["results"] == []


# --- Pagination cursors, page sizes, other query parameters ------------------------------------


def b64(text: str | bytes) -> str:
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    return base64.b64encode(raw).decode()


FORGED_CURSORS = [
    b64("p=x"),
    b64("p="),
    b64("p=2026-13-01 00:00:00+00:00"),
    b64("p=2026-01-01 00:00:00"),  # no offset: a naive time is ambiguous
    b64("p=9999-12-31 23:59:59+14:00"),
    b64("p=0001-01-01 00:00:00+14:00"),
    b64("p=0001-01-01 00:00:00-14:00"),
    b64("p=\x00"),
    b64("p=" + "9" * 5000),
    b64("r=x"),
    b64("o=-1"),
    b64("o=" + "9" * 5000),
    b64("o=1&o=2&p=x&p=y"),
    b64(b"\xff\xfe\x00"),
    b64("p=\udc00"),
    "not base64!",
    "%00",
]
# Cursors that decode to the defaults (first page, newest first): nothing to refuse.
HARMLESS_CURSORS = ["", "=", b64("r=2"), "A" * 10_000]


@pytest.mark.parametrize("url", [EVENTS, REQUESTS])
def test_a_forged_cursor_is_a_400_that_says_to_follow_the_links(
    owner: APIClient, world: World, url: str
) -> None:
    add_events(world.cast.acme, Pull("mike", "library/nginx", "official"), count=3, day=utc_today())
    for cursor in FORGED_CURSORS:
        response = owner.get(url, {"cursor": cursor})

        assert response.status_code == BAD_REQUEST, (cursor[:40], response.content)
        assert error_of(response)["message"] == (
            "cursor: invalid cursor: follow a page's next or previous link"
        )


@pytest.mark.parametrize("url", [EVENTS, REQUESTS])
def test_a_cursor_that_decodes_to_the_defaults_reads_the_first_page(
    owner: APIClient, world: World, url: str
) -> None:
    add_events(world.cast.acme, Pull("mike", "library/nginx", "official"), day=utc_today())
    for cursor in HARMLESS_CURSORS:
        response = owner.get(url, {"cursor": cursor})
        assert response.status_code == HTTPStatus.OK, cursor[:20]
        assert response.json()["results"]


def test_cursors_the_api_issued_still_page_through_everything(
    owner: APIClient, world: World
) -> None:
    add_events(world.cast.acme, Pull("mike", "library/nginx", "official"), count=7, day=utc_today())
    seen: list[int] = []
    url: str | None = f"{EVENTS}?page_size=2"
    while url:
        page = owner.get(url)
        assert page.status_code == HTTPStatus.OK
        seen += [event["id"] for event in page.json()["results"]]
        url = page.json()["next"]
    assert len(seen) == len(set(seen)) == 7


BAD_QUERY_PARAMETERS = [
    ("page_size", "9" * 30),
    ("page_size", "9" * 5000),
    ("page_size", "-1"),
    ("page_size", "1e3"),
    ("page_size", "\x00"),
    ("status", "\x00"),
    ("user", "a\x00b"),
    ("repository", "\x00"),
    ("days", "9" * 5000),
    ("category", "%ed%b3%bf"),  # a surrogate, encoded as UTF-8 would not
    ("unknown", "1"),
]


@pytest.mark.parametrize("url", [EVENTS, REQUESTS])
def test_a_query_parameter_that_does_not_parse_is_a_400_naming_it(
    owner: APIClient, world: World, url: str
) -> None:
    for name, value in BAD_QUERY_PARAMETERS:
        raw = "%" in value  # already percent-encoded, as a client could send it
        response = owner.get(f"{url}?{name}={value}") if raw else owner.get(url, {name: value})

        assert response.status_code == BAD_REQUEST, (name, value[:20], response.content)
        assert error_of(response)["message"].startswith(f"{name}: ")


@pytest.mark.parametrize("pk", ["0", "9" * 30, "9" * 400])
def test_ids_beyond_any_row_are_a_404(owner: APIClient, world: World, pk: str) -> None:
    assert owner.get(f"{EXCEPTIONS}/{pk}").status_code == HTTPStatus.NOT_FOUND
    assert owner.delete(f"{EXCEPTIONS}/{pk}").status_code == HTTPStatus.NOT_FOUND
    response = owner.post(f"{REQUESTS}/{pk}/approve", {}, format="json")
    assert response.status_code == HTTPStatus.NOT_FOUND


# --- Pages (forms) -----------------------------------------------------------------------------


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "99999-01-01"])
def test_an_exception_expiry_day_outside_the_calendar_is_a_form_error(
    world: World, day: str
) -> None:
    client = client_for(world.cast.olivia)
    before = writes()

    response = client.post(
        "/orgs/acme/exceptions/", {"repository": "someuser/tool", "expires_on": day}
    )

    assert response.status_code == HTTPStatus.OK
    assert response.context["form"].errors["expires_on"]
    assert writes() == before


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
def test_a_token_expiry_day_outside_the_calendar_is_a_form_error(world: World, day: str) -> None:
    client = client_for(world.cast.mike)
    before = writes()

    response = client.post(
        "/settings/tokens/",
        {"name": "laptop", "scope": "read", "expiry": "custom", "expires_on": day},
    )

    assert response.status_code == HTTPStatus.OK
    (message,) = response.context["form"].errors["expires_on"]
    assert "9998-12-31" in message or "future" in message
    assert writes() == before


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
@pytest.mark.parametrize("export", [False, True])
def test_an_event_list_day_outside_the_calendar_shows_nothing(
    world: World, day: str, export: bool
) -> None:
    add_events(world.cast.acme, Pull("mike", "library/nginx", "official"), day=utc_today())
    client = client_for(world.cast.olivia)

    params = {"day": day, "format": "csv"} if export else {"day": day}
    response = client.get("/orgs/acme/usage/events/", params)

    assert response.status_code == HTTPStatus.OK
    if export:
        assert response.getvalue().count(b"\n") == 1  # the header only
    else:
        assert list(response.context["events"]) == []
        assert response.context["filter_form"].errors["day"]


@pytest.mark.parametrize(
    "name",
    [
        "Acme\nBcc: everyone@example.com",
        "Acme\r\nSubject: hi",
        "Acme\x00",
        "Acme\x1b[31m",
        "Acme\u2028Corp",
        "Ac\x85me",
    ],
)
def test_an_organization_name_with_control_characters_is_a_form_error(
    world: World, name: str
) -> None:
    client = client_for(world.cast.olivia)

    renamed = client.post("/orgs/acme/settings/", {"name": name})
    created = client.post("/orgs/", {"name": name, "slug": "newco", "plan": "business"})

    for response in (renamed, created):
        assert response.status_code == HTTPStatus.OK
        assert response.context["form"].errors["name"]
    assert Organization.objects.get(slug="acme").name == "Acme Corp"
    assert not Organization.objects.filter(slug="newco").exists()


@pytest.mark.parametrize(
    ("url", "data", "field"),
    [
        ("/orgs/acme/exceptions/", {"repository": "someuser/tool", "reason": "a\x07b"}, "reason"),
        ("/settings/tokens/", {"name": "lap\ntop", "scope": "read", "expiry": "30"}, "name"),
        (
            "/orgs/acme/my-access/",
            {"kind": "repository", "repository": "x/y", "justification": "a\x1bb"},
            "justification",
        ),
    ],
)
def test_control_characters_in_page_text_fields_are_a_form_error(
    world: World, url: str, data: dict[str, str], field: str
) -> None:
    client = client_for(world.cast.mike if "my-access" in url else world.cast.olivia)
    before = writes()

    response = client.post(url, data)

    assert response.status_code == HTTPStatus.OK
    assert "U+00" in str(response.context["form"].errors[field])
    assert writes() == before


@pytest.mark.parametrize("decision", ["approve", "decline"])
def test_a_decision_comment_with_control_characters_decides_nothing_and_says_why(
    world: World, decision: str
) -> None:
    client = client_for(world.cast.olivia)
    before = writes()

    response = client.post(
        f"/orgs/acme/requests/{world.access_request.pk}/{decision}/", {"comment": "ok\x1b[2J"}
    )

    assert response.status_code == HTTPStatus.FOUND
    assert messages_of(response) == [
        "The comment was not saved: must not contain control characters (found U+001B)"
    ]
    world.access_request.refresh_from_db()
    assert world.access_request.status == AccessRequest.Status.PENDING
    assert writes() == before


# --- Every URL, generic junk -------------------------------------------------------------------

# Path arguments by name: real objects, ids beyond any row, secrets nobody issued.
PATH_VALUES: dict[str, list[str]] = {
    "slug": ["acme", "no-such-org"],
    "pk": ["{pk}", "9" * 30],
    "secret": ["{secret}", "x" * 300, "%00", "%ff%fe"],
    "key": ["x", "%00"],
    "uidb36": ["1", "zzzzzzzzzzzzzzzzzzzzzzzzzz"],
}
HOSTILE_QUERIES = [
    "cursor=" + b64("p=x"),
    "page=" + "9" * 30,
    "page_size=" + "9" * 5000,
    "day=9999-12-31",
    "days=" + "9" * 5000,
    "user=%00&repository=%00&format=csv",
    "next=%00&repository=%00&namespace=%00&image_type=%00",
    "scope=repository:%00:pull&service=%00&account=%00",
    "format=%00",
    "%ff%fe=%ff%fe",
]
FORM_FIELDS = [
    "name",
    "slug",
    "plan",
    "invitee",
    "role",
    "repository",
    "reason",
    "expires_on",
    "kind",
    "image_type",
    "justification",
    "comment",
    "confirm",
    "scope",
    "expiry",
    "enforce_sign_in",
    "require_two_factor",
    "login",
    "password",
    "email",
    "password1",
    "password2",
    "username",
    "code",
    "action",
    "grant_type",
    "service",
    "client_id",
    "refresh_token",
]
HOSTILE_VALUES = [
    "a\x00b",
    "Acme\r\nBcc: x@example.com",
    "\x1b\x7f\x85",
    "9999-12-31",
    "0001-01-01",
    "9" * 5000,
]


def _routes(
    patterns: list[URLPattern | URLResolver], prefix: str = ""
) -> Iterator[tuple[str, URLPattern]]:
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, route)
        else:
            yield route, pattern


def public_routes() -> list[str]:
    """Every route of the site except Django's admin (staff only, Django's own forms)."""
    return sorted(
        route
        for route, _ in _routes(get_resolver().url_patterns)
        if not route.startswith(("admin/", "static/"))
    )


ARGUMENT = re.compile(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>[^)]*\)")


def concrete_urls(route: str, world: World) -> list[str]:
    """``route`` with each argument replaced by every value of ``PATH_VALUES``."""
    urls = ["/" + route.replace("^", "").replace("$", "")]
    for match in ARGUMENT.finditer(route):
        name = match.group(1) or match.group(2)
        assert name in PATH_VALUES, f"add sample values for the URL argument {name!r} ({route})"
        urls = [
            url.replace(match.group(0), value, 1) for url in urls for value in PATH_VALUES[name]
        ]
    pk = str(world.access_request.pk)
    return [url.replace("{pk}", pk).replace("{secret}", world.invitation_secret) for url in urls]


def test_every_route_is_swept(world: World) -> None:
    # The sweep below reads the resolver itself: a new URL is swept without a new row, and
    # an argument name without sample values fails here.
    for route in public_routes():
        assert concrete_urls(route, world)


def _check(response: Any, what: str) -> None:
    assert response.status_code < 500, f"{what}: {response.status_code}"
    if hasattr(response, "streaming_content"):
        b"".join(response.streaming_content)


@pytest.mark.parametrize("route", public_routes())
def test_no_route_answers_junk_with_a_server_error(
    world: World, tokens: dict[str, str], route: str
) -> None:
    # The API as an owner's token sees it, pages as an owner's session; every URL also once
    # anonymously, and each further sample of the path arguments once.
    if route.startswith(("api/", "v2/")):
        client: Client = api_for(tokens["olivia"])
    else:
        client = client_for(world.cast.olivia)
        client.raise_request_exception = False
    anonymous = Client(raise_request_exception=False)
    first, *others = concrete_urls(route, world)
    for query in HOSTILE_QUERIES:
        _check(client.get(f"{first}?{query}"), f"GET {first}?{query}")
    for value in HOSTILE_VALUES:
        data = dict.fromkeys(FORM_FIELDS, value)
        _check(client.post(first, data), f"POST {first} form {value[:20]!r}")
    for body in (DEEP, '{"a": ' + DEEP + "}", "[]", "{"):
        response = client.post(first, body, content_type="application/json")
        _check(response, f"POST {first} {body[:10]}")
    raw = b"name=\xff\xfe&comment=\xc0\x80"
    form = "application/x-www-form-urlencoded"
    _check(client.post(first, raw, content_type=form), f"POST {first} invalid UTF-8")
    junk = dict.fromkeys(FORM_FIELDS, HOSTILE_VALUES[0])
    for url in [first, *others]:
        for who in (client, anonymous):
            _check(who.get(f"{url}?{HOSTILE_QUERIES[0]}"), f"GET {url}")
            _check(who.post(url, junk), f"POST {url}")
