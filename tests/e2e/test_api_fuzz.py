"""Schemathesis fuzzes every operation of ``/api/schema/`` against a real server.

Three passes, each deterministic (the same requests every run, so CI cannot pass or fail by
luck), all with a demo member's and a demo owner's token; no answer may be a 5xx, and every
documented answer must match its schema:

- what schemathesis generates from the schema (valid and invalid requests);
- the same generation with one body field or query parameter replaced by a hostile value:
  arrays and objects nested 1,000 deep, control characters, dates at the ends of the
  calendar, integers beyond 64 bits, lone surrogates, forged pagination cursors;
- an exhaustive table read from the schema: every body property and query parameter of
  every operation gets each class of hostile value once.

The server is private to this module, since fuzzing the owner's endpoints changes data.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
)
from schemathesis.hooks import GLOBAL_HOOK_DISPATCHER

from tests.e2e.served_app import ServedApp, serve_app

pytestmark = pytest.mark.e2e
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@pytest.fixture(scope="module")
def fuzzed_app() -> Iterator[ServedApp]:
    with serve_app(workers=2) as app:
        yield app


@pytest.fixture(scope="module")
def api_schema(fuzzed_app: ServedApp) -> Any:
    return schemathesis.openapi.from_url(f"{fuzzed_app.base_url}/api/schema/?format=json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    # The same examples every run: CI must not pass or fail by luck. (Run locally with
    # --hypothesis-seed to explore further.)
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_api_answers_every_generated_request_without_5xx(case: Any, fuzzed_app: ServedApp) -> None:
    # A member (most writes are refused) and an owner (writes go through).
    for who in ("mike", "olivia"):
        case.call_and_validate(
            base_url=fuzzed_app.base_url,
            headers={"Authorization": f"Bearer {fuzzed_app.token(who)}"},
            checks=CHECKS,
        )


# --- Hostile values in every field -------------------------------------------------------------
#
# Schemathesis generates values that fit the schema (and some that do not), but it would take
# far more examples than CI can afford to stumble on the classes of input that broke the API
# before: arrays nested a thousand deep inside a string field, control characters, dates at
# the ends of the calendar, cursors nobody issued, integers beyond 64 bits, lone surrogates.
# These hooks put one such value into each generated request (one body field, one query
# parameter), on the demo organization, so every example reaches the validation it probes.

DEMO_ORG = "acme"
DEEP = 1_000


class RawJSON(str):
    """JSON text to splice into a body as it is: arrays nested 1,000 deep cannot even be
    encoded by the client's own (recursive) JSON encoder, so they travel as text."""


MARK = "\u2603hostile\u2603"
DEEP_ARRAYS = RawJSON("[" * DEEP + "]" * DEEP)
DEEP_OBJECTS = RawJSON('{"a": ' * DEEP + "1" + "}" * DEEP)


def b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8", "surrogatepass")).decode()


EXTREME_DATES = ["9999-12-31", "0001-01-01", "10000-01-01", "2026-02-30", "9998-12-31"]
EXTREME_MOMENTS = [
    "9999-12-31T23:59:59+14:00",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00-14:00",
    "9999-12-31T23:59:59.999999Z",
]
# Text any query parameter or body field may receive.
hostile_text = st.one_of(
    st.text(st.characters(categories=["Cc", "Zl", "Zp"]), min_size=1, max_size=3).map(
        lambda controls: f"a{controls}b"
    ),
    st.sampled_from(EXTREME_DATES + EXTREME_MOMENTS),
    st.integers(min_value=2**63).map(str),
)
# What a JSON body field may receive besides: nesting, huge numbers, a lone surrogate (JSON
# can escape one, UTF-8 cannot hold it).
hostile_json: st.SearchStrategy[Any] = st.one_of(
    hostile_text,
    st.sampled_from([DEEP_ARRAYS, DEEP_OBJECTS, "\ud800"]),
    st.integers(min_value=2**64),
    st.just([None, {"": []}]),
)
forged_cursors = st.one_of(
    st.text(st.characters(codec="utf-8"), max_size=20),
    st.binary(max_size=32).map(lambda raw: base64.b64encode(raw).decode()),
    st.one_of(st.text(max_size=12), st.sampled_from(EXTREME_MOMENTS)).map(
        lambda position: b64(f"p={position}")
    ),
    st.sampled_from([b64("o=-1"), b64("r=x"), b64("o=" + "9" * 400)]),
)


def _spoil(body: dict[str, Any], key: str, value: Any, inside_list: bool) -> Any:
    """``body`` with ``key`` (or its first item, for a list) replaced by ``value``."""
    spoiled = dict(body)
    current = spoiled[key]
    slot = MARK if isinstance(value, RawJSON) else value
    if inside_list and isinstance(current, list) and current:
        spoiled[key] = [slot, *current[1:]]
    else:
        spoiled[key] = slot
    if not isinstance(value, RawJSON):
        return spoiled
    # Bytes are sent as they are (schemathesis does not encode them again).
    return json.dumps(spoiled).replace(json.dumps(MARK), value).encode()


def flatmap_body(context: Any, body: Any) -> st.SearchStrategy[Any]:
    """The generated body with one field (or the first item of a list field) made hostile."""
    if not isinstance(body, dict) or not body:
        return st.one_of(st.just(body), hostile_json.filter(lambda v: not isinstance(v, RawJSON)))
    keys = st.sampled_from(sorted(body))
    return st.builds(_spoil, st.just(body), keys, hostile_json, st.booleans())


def flatmap_query(context: Any, query: Any) -> st.SearchStrategy[Any]:
    """One parameter of the operation, hostile, and nothing else (so no other parameter's
    refusal answers first); list operations get a forged cursor as often."""
    names = sorted(p.name for p in context.operation.query) if context.operation else []
    if not names:
        return st.just(query)
    one_hostile = st.builds(lambda name, value: {name: value}, st.sampled_from(names), hostile_text)
    if "cursor" not in names:
        return one_hostile
    return st.one_of(one_hostile, forged_cursors.map(lambda cursor: {"cursor": cursor}))


def map_path_parameters(context: Any, path_parameters: Any) -> Any:
    """The demo organization (a random slug only reaches the 404) and ids that may exist."""
    parameters = dict(path_parameters or {})
    if "slug" in parameters:
        parameters["slug"] = DEMO_ORG
    if isinstance(parameters.get("id"), int):
        parameters["id"] = parameters["id"] % 8
    return parameters


@pytest.fixture(scope="module")
def hostile_api_schema(fuzzed_app: ServedApp) -> Any:
    """The same schema, fuzzing phase only (the hooks act on generated cases; the examples
    and coverage phases ran in the test above), with bodies that fit the schema, so that the
    one hostile field is what the API has to answer."""
    loaded = schemathesis.openapi.from_url(f"{fuzzed_app.base_url}/api/schema/?format=json")
    loaded.config.phases.update(phases=["fuzzing"])
    loaded.config.generation.update(modes=[GenerationMode.POSITIVE])
    return loaded


hostile_schema = schemathesis.pytest.from_fixture("hostile_api_schema")


# The hooks mark the test function itself, so they go under ``parametrize``.
@hostile_schema.parametrize()
@GLOBAL_HOOK_DISPATCHER.apply(flatmap_body)
@GLOBAL_HOOK_DISPATCHER.apply(flatmap_query)
@GLOBAL_HOOK_DISPATCHER.apply(map_path_parameters)
@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_api_answers_generated_requests_with_one_hostile_value_without_5xx(
    case: Any, fuzzed_app: ServedApp
) -> None:
    for who in ("mike", "olivia"):
        case.call_and_validate(
            base_url=fuzzed_app.base_url,
            headers={"Authorization": f"Bearer {fuzzed_app.token(who)}"},
            checks=CHECKS,
        )


# --- Every field and parameter, every class: the exhaustive table ------------------------------
#
# The fuzzing above explores; this table guarantees. From the schema itself: for every body
# property of every operation, and every query parameter, each class of hostile value once,
# sent by a member and by an owner. A new field or parameter is covered without a new row.

HOSTILE_FIELD_VALUES: list[Any] = [
    DEEP_ARRAYS,
    DEEP_OBJECTS,
    "a\x00b",
    "a\x1b[31mb",
    "Acme\r\nBcc: everyone@example.com",
    "\ud800",
    2**70,
    *EXTREME_DATES[:2],
    *EXTREME_MOMENTS[:4],
]
HOSTILE_PARAMETER_VALUES = [
    "a\x00b",
    "a\x1bb",
    str(2**70),
    *EXTREME_DATES[:2],
    *EXTREME_MOMENTS[:4],
]
FORGED_CURSORS = [
    b64("p=x"),
    b64("p=0001-01-01T00:00:00+14:00"),
    b64("p=9999-12-31T23:59:59-14:00"),
    b64("o=-1&r=x"),
    "not base64!",
    "%00",
]


def _placeholder(spec: dict[str, Any], components: dict[str, Any]) -> Any:
    """A valid-looking value for a property of the schema (the value being spoiled is not)."""
    if "$ref" in spec:
        spec = components[spec["$ref"].rsplit("/", 1)[1]]
    kind = spec.get("type")
    if kind == "boolean":
        return True
    if kind == "array":
        return [_placeholder(spec.get("items", {}), components)]
    if spec.get("format") == "date-time":
        return "2999-01-01T00:00:00Z"
    if "enum" in spec:
        return spec["enum"][0]
    return "someuser/tool" if kind == "string" else 1


def _body_properties(definition: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    content = definition.get("requestBody", {}).get("content", {}).get("application/json")
    if not content:
        return {}
    spec = content["schema"]
    if "$ref" in spec:
        spec = components[spec["$ref"].rsplit("/", 1)[1]]
    return {
        name: _placeholder(prop, components)
        for name, prop in spec.get("properties", {}).items()
        if not prop.get("readOnly")
    }


def _hostile_cases(raw_schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """``(path, method, request parts)`` for every field and parameter, every hostile class."""
    components = raw_schema["components"]["schemas"]
    for path, operations in sorted(raw_schema["paths"].items()):
        for method, definition in sorted(operations.items()):
            base = _body_properties(definition, components)
            for name in base:
                for value in HOSTILE_FIELD_VALUES:
                    yield path, method, {"body": _spoil(base, name, value, inside_list=True)}
            for parameter in definition.get("parameters", []):
                if parameter["in"] != "query":
                    continue
                name = parameter["name"]
                values = HOSTILE_PARAMETER_VALUES + (FORGED_CURSORS if name == "cursor" else [])
                for value in values:
                    yield path, method, {"query": {name: value}}


def test_api_refuses_each_hostile_class_in_every_field_and_parameter_with_a_message(
    api_schema: Any, fuzzed_app: ServedApp
) -> None:
    raw_schema = api_schema.raw_schema
    failures: list[str] = []
    sent = 0
    for path, method, parts in _hostile_cases(raw_schema):
        operation = api_schema[path][method.upper()]
        path_parameters = {
            p.name: DEMO_ORG if p.name == "slug" else 1 for p in operation.path_parameters
        }
        for who in ("mike", "olivia"):
            case = operation.Case(
                path_parameters=path_parameters, media_type="application/json", **parts
            )
            response = case.call(
                base_url=fuzzed_app.base_url,
                headers={"Authorization": f"Bearer {fuzzed_app.token(who)}"},
            )
            sent += 1
            if response.status_code >= 500 or (
                "error" not in response.text and response.status_code >= 400
            ):
                failures.append(
                    f"{who} {method.upper()} {path} {str(parts)[:120]}: {response.status_code}"
                )
    assert sent > 500  # the table really covers the API
    assert not failures, "\n".join(failures)
