"""One reading of the ``Authorization`` header for the decision API and the token service."""

from __future__ import annotations

import base64
from http import HTTPStatus
from typing import Any

import pytest
from django.test import Client

from orgs.credentials import MALFORMED_BASIC, authorization_credentials, basic_credentials
from orgs.tokens import GENERIC_FAILURE, TokenError
from tests.conftest import Cast


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", None),
        ("Token abc", None),
        ("Bearer dckr_pat_x", (None, "dckr_pat_x")),
        ("bearer   dckr_pat_x  ", (None, "dckr_pat_x")),
        (f"Basic {b64('mike:dckr_pat_x')}", ("mike", "dckr_pat_x")),
        (f"BASIC {b64('mike:a:b')}", ("mike", "a:b")),
    ],
)
def test_headers_that_parse(header: str, expected: Any) -> None:
    assert authorization_credentials(header) == expected
    assert authorization_credentials(header.encode("latin-1")) == expected


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("Basic !!!", MALFORMED_BASIC),
        ("Basic é", MALFORMED_BASIC),
        ("Basic " + base64.b64encode(b"mike:\xff").decode(), MALFORMED_BASIC),
        (f"Basic {b64('no-colon')}", GENERIC_FAILURE),
        (f"Basic {b64(':secret')}", GENERIC_FAILURE),
        (f"Basic {b64('mike:')}", GENERIC_FAILURE),
        ("Bearer", GENERIC_FAILURE),
        ("Bearer a b", GENERIC_FAILURE),
    ],
)
def test_headers_that_are_refused(header: str, message: str) -> None:
    with pytest.raises(TokenError) as refused:
        authorization_credentials(header)
    assert refused.value.message == message


def test_the_token_service_reads_basic_only() -> None:
    assert basic_credentials("Bearer dckr_pat_x") is None


@pytest.mark.parametrize(
    "header",
    ["Basic !!!", "Basic é", f"Basic {b64('no-colon')}", f"Basic {b64(':secret')}"],
)
def test_the_api_and_the_token_service_refuse_a_bad_header_alike(
    cast: Cast, client: Client, header: str
) -> None:
    api = client.post(
        "/api/v1/decisions",
        {"images": ["nginx"]},
        content_type="application/json",
        HTTP_AUTHORIZATION=header,
    )
    registry = client.get(
        "/v2/token",
        {"service": "mirror.test", "scope": "repository:library/nginx:pull"},
        HTTP_AUTHORIZATION=header,
    )
    assert api.status_code == registry.status_code == HTTPStatus.UNAUTHORIZED
    assert api.json()["error"]["message"] == registry.json()["errors"][0]["message"]
