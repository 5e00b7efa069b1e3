"""The personal access tokens page."""

from __future__ import annotations

import datetime as dt
from http import HTTPStatus
from typing import Any

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from orgs.models import ActivityLog, PersonalAccessToken
from orgs.tokens import find_token
from tests.conftest import Cast
from tests.pages import client_for, messages_of

TOKENS = "/settings/tokens/"  # the documented address; reverse() needs the fixture URLconf


def create(client: Client, **data: str) -> Any:
    return client.post(TOKENS, {"name": "laptop", "scope": "read", "expiry": "30", **data})


def test_new_token_is_shown_once_then_only_its_suffix(cast: Cast) -> None:
    client = client_for(cast.mike)

    response = create(client)

    assert response.status_code == HTTPStatus.OK
    token = PersonalAccessToken.objects.get(user=cast.mike)
    plaintext = response.context["new_token"].plaintext
    assert plaintext.startswith("dckr_pat_")
    assert plaintext.endswith(token.last_chars)
    assert plaintext in response.text
    assert "This is the only time the token is shown." in response.text
    assert 'data-copy="new-token-value"' in response.text
    assert find_token(plaintext) == token

    # Nothing keeps the plaintext: not the session, not a cookie, not the next page.
    assert plaintext not in str(dict(client.session.items()))
    assert all(plaintext not in morsel.value for morsel in client.cookies.values())
    again = client.get(TOKENS)
    assert plaintext not in again.text
    assert f"dckr_pat_…{token.last_chars}" in again.text


def test_every_token_response_is_no_store(cast: Cast) -> None:
    client = client_for(cast.mike)
    responses = [client.get(TOKENS), create(client), create(client, name="")]
    token = PersonalAccessToken.objects.filter(user=cast.mike).first()
    assert token is not None
    responses.append(client.post(reverse("token-revoke", kwargs={"pk": token.pk})))
    responses.append(client_for(None).get(TOKENS))
    for response in responses:
        assert "no-store" in response["Cache-Control"], response


def test_token_list_shows_scope_dates_and_status(cast: Cast) -> None:
    client = client_for(cast.mike)
    create(client, name="ci", scope="public_read", expiry="none")
    html = client.get(TOKENS).text
    assert "Public repository read-only" in html
    assert "Never" in html  # expires and last used
    assert "Active" in html
    assert timezone.localdate().strftime("%-d %b %Y") in html


def test_expiry_choices(cast: Cast) -> None:
    client = client_for(cast.mike)
    now = timezone.now()
    create(client, name="forever", expiry="none")
    create(client, name="ninety", expiry="90")
    day = timezone.localdate() + dt.timedelta(days=200)
    create(client, name="custom", expiry="custom", expires_on=day.isoformat())
    tokens = {t.name: t for t in PersonalAccessToken.objects.filter(user=cast.mike)}
    assert tokens["forever"].expires_at is None
    assert abs(tokens["ninety"].expires_at - (now + dt.timedelta(days=90))) < dt.timedelta(
        minutes=1
    )
    assert timezone.localtime(tokens["custom"].expires_at).date() == day + dt.timedelta(days=1)


def test_custom_expiry_is_validated(cast: Cast) -> None:
    client = client_for(cast.mike)
    assert "Pick the date" in create(client, expiry="custom").text
    too_far = timezone.localdate() + dt.timedelta(days=400)
    response = create(client, expiry="custom", expires_on=too_far.isoformat())
    assert "The expiry date can be at most one year ahead." in response.text
    past = timezone.localdate() - dt.timedelta(days=2)
    response = create(client, expiry="custom", expires_on=past.isoformat())
    assert "The expiry date must be in the future." in response.text
    assert not PersonalAccessToken.objects.filter(user=cast.mike).exists()


def test_revoke_with_confirmation(cast: Cast) -> None:
    client = client_for(cast.mike)
    create(client)
    token = PersonalAccessToken.objects.get(user=cast.mike)
    assert "data-confirm=" in client.get(TOKENS).text

    response = client.post(reverse("token-revoke", kwargs={"pk": token.pk}))

    assert response["Location"] == TOKENS
    assert "was revoked" in messages_of(response)[0]
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert "Revoked" in client.get(TOKENS).text
    assert ActivityLog.objects.filter(action="token.revoked", actor=cast.mike).exists()


def test_someone_elses_token_cannot_be_revoked(cast: Cast) -> None:
    create(client_for(cast.mike))
    token = PersonalAccessToken.objects.get(user=cast.mike)
    response = client_for(cast.olivia).post(reverse("token-revoke", kwargs={"pk": token.pk}))
    assert response.status_code == HTTPStatus.NOT_FOUND
    token.refresh_from_db()
    assert token.revoked_at is None


def test_tokens_page_lists_only_your_tokens(cast: Cast) -> None:
    create(client_for(cast.olivia), name="olivias-secret-laptop")
    assert "olivias-secret-laptop" not in client_for(cast.mike).get(TOKENS).text
