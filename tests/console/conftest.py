"""Fixtures for the console page tests."""

from __future__ import annotations

import pytest
from django.urls import NoReverseMatch, reverse
from pytest_django.fixtures import SettingsWrapper


@pytest.fixture(autouse=True)
def console_urls(settings: SettingsWrapper) -> None:
    """Serve the per-user pages (tokens, invitations) even before the root URLconf mounts them."""
    try:
        reverse("tokens")
    except NoReverseMatch:
        settings.ROOT_URLCONF = "tests.console.urls"
