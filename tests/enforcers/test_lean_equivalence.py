"""The lean decision path answers exactly like DRF's, and the lean WSGI handler like Django's.

Production serves the hot paths through ``imageaccess.wsgi.LeanWSGIHandler`` and the
decision view's lean dispatch; these tests prove both answer what the full stack answers.
"""

from __future__ import annotations

import base64
import io
import json
import sys
from typing import Any
from unittest import mock

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from orgs.ratelimit import failed_token_auth
from policies.enforcers.decision_api import DecisionView
from policies.services import update_policy

pytestmark = pytest.mark.django_db
URL = "/api/v1/decisions"

BODIES: list[Any] = [
    {"images": ["nginx", "someuser/custom-image", "bitnami/redis:7", "ghcr.io/a/b", "Foo"]},
    {"image": "nginx"},
    {"image": "nginx", "orgs": ["acme"]},
    {"image": "nginx", "orgs": []},
    {"image": "nginx", "orgs": ["globex"], "action": "pull"},
    {"images": [" nginx "]},
    {"image": ""},
    {"images": []},
    {"images": "nginx"},
    {"images": [1]},
    {"images": ["nginx"] * 101},
    {"images": ["nginx"] * 100},
    {"image": "nginx", "images": ["x"]},
    {"image": "nginx", "colour": "blue"},
    {"image": "x" * 1024},
    {"image": "x" * 1025},
    {"image": "nginx", "orgs": "acme"},
    {"image": "nginx", "orgs": ["not a slug!"]},
    {"image": "nginx", "orgs": None},
    {"image": "nginx", "action": "push"},
    {"image": "nginx", "action": None},
    {"image": "ngin\u00e9x"},
    {"image": "nginx\u2028"},
    [1, 2],
    {},
    None,
]


def post(api: APIClient, body: Any, *, lean: bool, **extra: Any) -> Any:
    content_type = extra.pop("content_type", "application/json")
    data = json.dumps(body).encode()
    if lean:
        return api.post(URL, data=data, content_type=content_type, **extra)
    with mock.patch.object(DecisionView, "_lean_dispatch", return_value=None):
        return api.post(URL, data=data, content_type=content_type, **extra)


def assert_same(lean: Any, drf: Any) -> None:
    assert (lean.status_code, lean.content) == (drf.status_code, drf.content)
    assert dict(lean.headers.items()) == dict(drf.headers.items())


@pytest.mark.parametrize("body", BODIES)
def test_every_body_gets_the_same_answer(cast: Any, tokens: dict[str, str], body: Any) -> None:
    update_policy(org=cast.acme, actor=cast.olivia, changes={"enabled": True})
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['mike']}")
    assert_same(post(api, body, lean=True), post(api, body, lean=False))


@pytest.mark.parametrize(
    "extra",
    [
        {"HTTP_ACCEPT": "application/json"},
        {"HTTP_ACCEPT": "*/*"},
        {"HTTP_ACCEPT": "text/html"},
        {"HTTP_ACCEPT": "application/json; indent=4"},
        {"content_type": "application/json; charset=utf-8"},
        {"content_type": "application/json; charset=latin-1"},
        {"content_type": "text/plain"},
        {"HTTP_AUTHORIZATION": "Bearer dckr_pat_wrong"},
        {"HTTP_AUTHORIZATION": "Bearer dckr_oat_x"},
        {"HTTP_AUTHORIZATION": "Basic !!!"},
        {"HTTP_AUTHORIZATION": "Token x"},
        {"HTTP_AUTHORIZATION": ""},
    ],
)
def test_every_header_gets_the_same_answer(
    cast: Any, tokens: dict[str, str], extra: dict[str, str]
) -> None:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['mike']}")
    lean = post(api, {"image": "nginx"}, lean=True, **dict(extra))
    failed_token_auth.clear()
    cache.clear()
    assert_same(lean, post(api, {"image": "nginx"}, lean=False, **dict(extra)))


def test_basic_credentials_get_the_same_answer(cast: Any, tokens: dict[str, str]) -> None:
    raw = base64.b64encode(f"mike:{tokens['mike']}".encode()).decode()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Basic {raw}")
    body = {"image": "nginx"}
    assert_same(post(api, body, lean=True), post(api, body, lean=False))


def _environ(path: str, method: str, body: bytes, query: str, auth: str) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_AUTHORIZATION": auth,
    }


def _serve(app: Any, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        seen["status"], seen["headers"] = status, sorted(headers)

    body = b"".join(app(environ, start_response))
    return seen["status"], seen["headers"], body


def test_lean_handler_answers_like_the_full_stack(
    cast: Any, tokens: dict[str, str], tmp_path: Any, settings: Any
) -> None:
    from imageaccess import wsgi
    from policies.enforcers.token_service.signing import signing_key

    settings.REGISTRY_KEY_FILE = tmp_path / "key.pem"
    signing_key.cache_clear()
    bearer = f"Bearer {tokens['mike']}"
    basic = "Basic " + base64.b64encode(f"mike:{tokens['mike']}".encode()).decode()
    scope = "service=x&scope=repository:library/nginx:pull"
    cases = [
        (URL, "POST", b'{"image": "nginx"}', "", bearer),
        (URL, "POST", b'{"image": ""}', "", bearer),
        (URL, "POST", b'{"image": "nginx"}', "", "Bearer nope"),
        (URL, "GET", b"", "", bearer),
        ("/v2/token", "GET", b"", scope, basic),
        ("/v2/token", "GET", b"", scope, "Basic bad"),
    ]
    assert {URL, "/v2/token"} == wsgi.LEAN_PATHS

    def comparable(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        # Tokens differ in length (signatures, jti); only the session middleware varies on
        # cookies.
        return [h for h in headers if h[0] != "Content-Length" and h != ("Vary", "Cookie")]

    for case in cases:
        lean = _serve(wsgi.application, _environ(*case))
        full = _serve(wsgi.django_application, _environ(*case))
        assert lean[0] == full[0], case
        assert comparable(lean[1]) == comparable(full[1]), case
        if case[0] == URL:
            assert lean[2] == full[2], case
