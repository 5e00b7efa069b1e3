"""Liveness and readiness probes."""

from __future__ import annotations

from http import HTTPStatus
from unittest import mock

import pytest
from django.db import OperationalError
from django.test import Client


def test_healthz_touches_neither_database_nor_cache(client: Client) -> None:
    # No django_db mark: pytest-django makes any database access raise here.
    with mock.patch("django.core.cache.cache.get", side_effect=AssertionError("cache used")):
        response = client.get("/healthz")
    assert response.status_code == HTTPStatus.OK
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_answers_ok_when_database_and_cache_answer(client: Client) -> None:
    response = client.get("/readyz")
    assert response.status_code == HTTPStatus.OK


@pytest.mark.django_db
def test_readyz_names_the_failing_database(client: Client) -> None:
    with mock.patch("django.db.backends.utils.CursorWrapper.execute", side_effect=OperationalError):
        response = client.get("/readyz")
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert "database" in response.json()["failing"]
    assert response["Retry-After"]


@pytest.mark.django_db
def test_readyz_names_the_failing_cache(client: Client) -> None:
    with mock.patch("django.core.cache.cache.set", side_effect=ConnectionError):
        response = client.get("/readyz")
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json()["failing"] == {"cache": "ConnectionError"}
