"""Policy changes reach every process at once; a caller can wait for a version to be in effect."""

from __future__ import annotations

import time
from http import HTTPStatus

import pytest
from rest_framework.test import APIClient

from policies import policy_api, snapshot_store
from policies.services import update_policy
from policies.snapshot_store import store
from tests.conftest import Cast, bearer

pytestmark = pytest.mark.django_db
URL = "/api/v1/orgs/acme/image-access"


def test_a_write_answers_the_version_and_waiting_for_it_answers_at_once(
    cast: Cast, tokens: dict[str, str]
) -> None:
    owner = bearer(APIClient(), tokens["olivia"])
    written = owner.patch(URL, {"enabled": True}, format="json").json()
    started = time.monotonic()
    read = bearer(APIClient(), tokens["mike"]).get(URL, {"version": written["version"]})
    assert read.status_code == HTTPStatus.OK
    assert read.json()["version"] == written["version"]
    assert time.monotonic() - started < 1.0


def test_waiting_for_a_version_returns_once_it_is_in_effect(
    cast: Cast, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    version = bearer(APIClient(), tokens["olivia"]).get(URL).json()["version"]
    store.named_orgs(["acme"])  # this process decides with the current version
    pauses: list[float] = []

    def another_write_lands_while_waiting(seconds: float) -> None:
        # The change arrives while the request waits, as another server's write would.
        if not pauses:
            update_policy(org=cast.acme, actor=cast.olivia, changes={"allow_community": True})
        pauses.append(seconds)

    monkeypatch.setattr(snapshot_store.time, "sleep", another_write_lands_while_waiting)
    read = bearer(APIClient(), tokens["mike"]).get(URL, {"version": version + 1})
    assert read.status_code == HTTPStatus.OK
    assert read.json()["allow_community"] is True
    assert read.json()["version"] == version + 1
    assert len(pauses) == 1  # answered as soon as the version was in effect


def test_a_version_not_reached_in_time_is_a_503_with_retry_after(
    cast: Cast, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(policy_api, "VERSION_WAIT_SECONDS", 0.2)
    response = bearer(APIClient(), tokens["mike"]).get(URL, {"version": 99})
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.headers["Retry-After"]
    error = response.json()["error"]
    assert error["code"] == "version_not_in_effect"
    assert error["message"].startswith("policy version 99 is not in effect on this server yet")


@pytest.mark.parametrize("bad", ["x", "-1", "1.5", "", "٣", "9" * 40])
def test_a_malformed_version_is_a_400(cast: Cast, tokens: dict[str, str], bad: str) -> None:
    response = bearer(APIClient(), tokens["mike"]).get(URL, {"version": bad})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"]["message"] == "version must be a whole number"
