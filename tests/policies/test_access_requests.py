"""Access requests: filing, approving, declining (services), emails, and the pages."""

from __future__ import annotations

import datetime as dt
import smtplib
from collections.abc import Callable
from contextlib import AbstractContextManager
from http import HTTPStatus
from typing import Any

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.utils import timezone
from rest_framework.test import APIClient

from orgs.models import ActivityLog, Organization, TokenScope
from orgs.tokens import mint_token
from policies.access_requests import RequestError, approve_request, decline_request, file_request
from policies.decision_service import decide_images
from policies.events.event_rows import RequestContext
from policies.events.stream_drain import drain_stream
from policies.events.stream_writer import record_decisions
from policies.models import AccessRequest, ImageAccessPolicy, RepositoryException
from policies.services import add_exception, update_policy
from tests.conftest import Cast, bearer
from tests.pages import World, client_for, make_world, messages_of

pytestmark = pytest.mark.django_db
MY_ACCESS = "/orgs/acme/my-access/"
REQUESTS = "/orgs/acme/requests/"
CUSTOM = "someuser/custom-image"
Commit = Callable[..., AbstractContextManager[list[Callable[[], None]]]]


@pytest.fixture
def world(cast: Cast) -> World:
    """The console tests' world: the cast plus one object of each kind."""
    return make_world(cast)


@pytest.fixture
def enforced(cast: Cast) -> Cast:
    """acme enforces image access: official and verified publisher allowed, community not."""
    update_policy(org=cast.acme, actor=cast.olivia, changes={"enabled": True})
    return cast


@pytest.fixture
def commit(django_capture_on_commit_callbacks: Commit) -> Commit:
    """Run on-commit callbacks (the emails) as a real commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def file(cast: Cast, value: str = CUSTOM, *, kind: str = "repository", **extra: Any) -> Any:
    return file_request(
        org=cast.acme,
        requester=extra.pop("requester", cast.mike),
        kind=kind,
        value=value,
        justification=extra.pop("justification", "the build needs it"),
        **extra,
    )


def pull_allowed(cast: Cast, image: str, user: Any = None) -> bool:
    user = user or cast.mike
    (outcome,) = decide_images([image], user_id=user.pk, named_orgs=["acme"])
    assert outcome.decision is not None
    return outcome.decision.allowed


# --- Filing ------------------------------------------------------------------------------------


def test_member_files_a_repository_request_and_every_owner_is_emailed(
    enforced: Cast, commit: Commit
) -> None:
    with commit():
        request = file(enforced, review_url="https://ia.example/orgs/acme/requests/")

    assert (request.kind, request.value, request.status) == ("repository", CUSTOM, "pending")
    assert request.justification == "the build needs it"
    log = ActivityLog.objects.get(action="access_request.filed")
    assert (log.actor, log.org, log.target) == (
        enforced.mike,
        enforced.acme,
        f"repository {CUSTOM}",
    )
    assert log.after == {
        "kind": "repository",
        "value": CUSTOM,
        "justification": "the build needs it",
    }
    (message,) = mail.outbox
    assert message.to == ["olivia@example.com"]
    assert message.subject == f"mike asks for repository {CUSTOM} in Acme Corp"
    assert "the build needs it" in message.body
    assert "https://ia.example/orgs/acme/requests/" in message.body


def test_no_email_when_filing_fails(enforced: Cast, commit: Commit) -> None:
    with commit(), pytest.raises(RequestError):
        file(enforced, justification="  ")
    assert mail.outbox == []
    assert not AccessRequest.objects.exists()


@pytest.mark.parametrize(
    ("kind", "value", "stored_kind", "stored_value"),
    [
        ("repository", "docker.io/someuser/custom-image", "repository", CUSTOM),
        ("repository", "someuser/*", "namespace", "someuser"),
        ("namespace", " someuser ", "namespace", "someuser"),
        ("image_type", "community", "image_type", "community"),
    ],
)
def test_what_is_asked_for_is_normalized(
    enforced: Cast, kind: str, value: str, stored_kind: str, stored_value: str
) -> None:
    request = file(enforced, value, kind=kind)
    assert (request.kind, request.value) == (stored_kind, stored_value)


@pytest.mark.parametrize(
    ("kind", "value", "field", "words"),
    [
        ("repository", "", "repository", "name a repository"),
        ("repository", "SomeUser/Thing", "repository", "must be lowercase"),
        ("repository", "someuser/thing:1.0", "repository", "without a tag or digest"),
        ("repository", "ghcr.io/acme/tool", "repository", "Docker Hub repositories only"),
        ("namespace", "a/b", "namespace", "without a repository"),
        ("namespace", "", "namespace", "name a Docker Hub namespace"),
        ("namespace", "docker.io", "namespace", "not a Docker Hub namespace"),
        ("image_type", "organization", "image_type", "choose community"),
        ("everything", "x", "kind", "choose repository"),
    ],
)
def test_bad_names_are_refused_naming_the_field(
    enforced: Cast, kind: str, value: str, field: str, words: str
) -> None:
    with pytest.raises(RequestError) as caught:
        file(enforced, value, kind=kind)
    assert caught.value.field == field
    assert words in str(caught.value)
    assert not AccessRequest.objects.exists()


def test_justification_is_required(enforced: Cast) -> None:
    with pytest.raises(RequestError, match="say why you need it") as caught:
        file(enforced, justification=" \n ")
    assert caught.value.field == "justification"


@pytest.mark.parametrize(
    ("setup", "kind", "value", "reason"),
    [
        (None, "repository", CUSTOM, "image access is off"),
        ("enforce", "repository", "nginx", "official images allowed"),
        ("enforce", "repository", "acme/internal-tool", "organization images are always allowed"),
        ("enforce+exception", "repository", CUSTOM, "allowed by repository exception"),
        ("enforce+namespace", "namespace", "someuser", "allowed by repository exception"),
        ("enforce+community", "namespace", "someuser", "community images allowed"),
        ("enforce+community", "image_type", "community", "community images are allowed"),
        (None, "image_type", "community", "not in effect"),
    ],
)
def test_something_already_allowed_is_said_not_filed(
    cast: Cast, setup: str | None, kind: str, value: str, reason: str
) -> None:
    if setup:
        update_policy(
            org=cast.acme,
            actor=cast.olivia,
            changes={"enabled": True, "allow_community": "community" in setup},
        )
    if setup and "exception" in setup:
        add_exception(org=cast.acme, actor=cast.olivia, repository=CUSTOM)
    if setup and "namespace" in setup:
        add_exception(org=cast.acme, actor=cast.olivia, repository="someuser/*")

    with pytest.raises(RequestError) as caught:
        file(cast, value, kind=kind)

    assert caught.value.code == "already_allowed"
    assert "is already allowed for you in Acme Corp" in str(caught.value)
    assert reason in str(caught.value)
    assert not AccessRequest.objects.exists()


def test_owners_are_told_they_are_not_restricted(enforced: Cast) -> None:
    for kind, value in (("repository", CUSTOM), ("image_type", "community")):
        with pytest.raises(RequestError, match="owners are not restricted"):
            file(enforced, value, kind=kind, requester=enforced.olivia)


def test_an_audit_mode_would_deny_can_be_requested(enforced: Cast) -> None:
    update_policy(org=enforced.acme, actor=enforced.olivia, changes={"audit_mode": True})
    assert file(enforced).status == "pending"


def test_an_expired_exception_does_not_count_as_allowed(enforced: Cast) -> None:
    exception = add_exception(org=enforced.acme, actor=enforced.olivia, repository=CUSTOM)
    RepositoryException.objects.filter(pk=exception.pk).update(
        expires_at=timezone.now() - dt.timedelta(days=1)
    )
    assert file(enforced).status == "pending"


def test_the_same_pending_request_is_refused_until_decided(enforced: Cast) -> None:
    first = file(enforced)
    with pytest.raises(RequestError, match="already asked for repository") as caught:
        file(enforced, f"docker.io/{CUSTOM}")
    assert caught.value.code == "duplicate_request"
    # Someone else may ask for the same thing; and after a decline, mike may ask again.
    assert file(enforced, requester=enforced.erin).status == "pending"
    decline_request(request=first, actor=enforced.olivia, comment="not now")
    assert file(enforced).status == "pending"


def test_outsiders_cannot_file(enforced: Cast) -> None:
    with pytest.raises(RequestError, match="only members") as caught:
        file(enforced, requester=enforced.charlie)
    assert caught.value.code == "not_member"


# --- Approving and declining -----------------------------------------------------------------


def test_approving_a_repository_request_allows_the_pull_and_tells_the_requester(
    enforced: Cast, commit: Commit
) -> None:
    request = file(enforced)
    assert not pull_allowed(enforced, CUSTOM)
    mail.outbox.clear()

    with commit():
        approve_request(request=request, actor=enforced.olivia, comment="ok for the build")

    request.refresh_from_db()
    assert (request.status, request.decided_by, request.comment) == (
        "approved",
        enforced.olivia,
        "ok for the build",
    )
    assert request.decided_at is not None
    exception = RepositoryException.objects.get(org=enforced.acme)
    assert request.exception == exception
    assert exception.repository == CUSTOM
    assert exception.created_by == enforced.olivia
    assert "access request by mike: the build needs it" in exception.reason
    assert pull_allowed(enforced, CUSTOM)
    actions = list(ActivityLog.objects.order_by("pk").values_list("action", flat=True))
    assert actions[-2:] == ["exception.created", "access_request.approved"]
    (message,) = mail.outbox
    assert message.to == ["mike@example.com"]
    assert message.subject == f"Your request for repository {CUSTOM} in Acme Corp was approved"
    assert "ok for the build" in message.body
    assert "You can pull it now." in message.body


def test_approving_a_namespace_request_allows_every_repository_in_it(enforced: Cast) -> None:
    request = file(enforced, "someuser/*")
    approve_request(request=request, actor=enforced.olivia)
    assert RepositoryException.objects.get(org=enforced.acme).repository == "someuser/*"
    assert pull_allowed(enforced, "someuser/anything-else")


def test_approving_an_image_type_turns_it_on(enforced: Cast) -> None:
    request = file(enforced, "community", kind="image_type")
    approve_request(request=request, actor=enforced.olivia)
    policy = ImageAccessPolicy.objects.get(org=enforced.acme)
    assert policy.allow_community
    assert pull_allowed(enforced, "whoever/whatever")
    log = ActivityLog.objects.filter(action="policy.updated").latest("pk")
    assert log.after == {"allow_community": True}
    assert not RepositoryException.objects.exists()


def test_approval_is_one_transaction_with_the_grant_and_the_log(
    enforced: Cast, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = file(enforced)
    logs = ActivityLog.objects.count()

    def broken_log(**kwargs: Any) -> None:
        raise RuntimeError("activity log unavailable")

    # The grant (exception + its own log) happens first; the request's log then fails.
    monkeypatch.setattr("policies.access_requests.log_action", broken_log)
    with pytest.raises(RuntimeError):
        approve_request(request=request, actor=enforced.olivia)

    request.refresh_from_db()
    assert request.status == "pending"
    assert request.exception is None
    assert not RepositoryException.objects.exists()
    assert ActivityLog.objects.count() == logs
    assert not pull_allowed(enforced, CUSTOM)


def test_approving_links_an_exception_an_owner_already_added(enforced: Cast) -> None:
    request = file(enforced, requester=enforced.erin)
    exception = add_exception(org=enforced.acme, actor=enforced.olivia, repository=CUSTOM)
    approve_request(request=request, actor=enforced.olivia)
    request.refresh_from_db()
    assert request.exception == exception
    assert RepositoryException.objects.count() == 1


def test_approving_replaces_an_expired_exception(enforced: Cast) -> None:
    old = add_exception(org=enforced.acme, actor=enforced.olivia, repository=CUSTOM)
    RepositoryException.objects.filter(pk=old.pk).update(
        expires_at=timezone.now() - dt.timedelta(days=1)
    )
    request = file(enforced)
    approve_request(request=request, actor=enforced.olivia)
    fresh = RepositoryException.objects.get(org=enforced.acme)
    assert fresh.pk != old.pk
    assert fresh.expires_at is None
    assert pull_allowed(enforced, CUSTOM)


def test_declining_records_the_comment_and_tells_the_requester(
    enforced: Cast, commit: Commit
) -> None:
    request = file(enforced)
    mail.outbox.clear()
    with commit():
        decline_request(request=request, actor=enforced.olivia, comment="use bitnami/redis")
    request.refresh_from_db()
    assert (request.status, request.comment) == ("declined", "use bitnami/redis")
    assert not RepositoryException.objects.exists()
    log = ActivityLog.objects.get(action="access_request.declined")
    assert log.after == {"status": "declined", "comment": "use bitnami/redis"}
    (message,) = mail.outbox
    assert message.subject.endswith("was declined")
    assert "use bitnami/redis" in message.body


def test_a_decided_request_cannot_be_decided_again(enforced: Cast) -> None:
    request = file(enforced)
    approve_request(request=request, actor=enforced.olivia)
    for decide in (approve_request, decline_request):
        with pytest.raises(RequestError, match="already approved") as caught:
            decide(request=request, actor=enforced.olivia, comment="")
        assert caught.value.code == "request_decided"
    assert RepositoryException.objects.count() == 1


@pytest.mark.parametrize("who", ["erin", "mike", "charlie"])
def test_only_owners_decide(enforced: Cast, who: str) -> None:
    request = file(enforced)
    for decide in (approve_request, decline_request):
        with pytest.raises(PermissionDenied):
            decide(request=request, actor=enforced.user(who), comment="")
    request.refresh_from_db()
    assert request.status == "pending"
    assert not RepositoryException.objects.exists()


# --- Email failures ----------------------------------------------------------------------------


class MailServerDown(smtplib.SMTPException):
    """What the SMTP backend raises when the mail server refuses or cannot be reached."""


@pytest.fixture
def mail_down(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> int:
        raise MailServerDown("connection refused")

    monkeypatch.setattr("django.core.mail.backends.locmem.EmailBackend.send_messages", refuse)


def api_as(name: str, cast: Cast) -> APIClient:
    token = mint_token(user=cast.user(name), name="api", scope=TokenScope.ADMIN).plaintext
    return bearer(APIClient(raise_request_exception=False), token)


@pytest.mark.parametrize("decision", ["approve", "decline"])
def test_a_mail_outage_after_the_commit_is_logged_and_the_answer_is_still_success(
    enforced: Cast,
    commit: Commit,
    mail_down: None,
    caplog: pytest.LogCaptureFixture,
    decision: str,
) -> None:
    with commit():
        filed = api_as("mike", enforced).post(
            "/api/v1/orgs/acme/access-requests",
            {"repository": CUSTOM, "justification": "the build needs it"},
            format="json",
        )
    assert filed.status_code == HTTPStatus.CREATED, filed.content
    pk = filed.json()["id"]

    with commit():
        decided = api_as("olivia", enforced).post(
            f"/api/v1/orgs/acme/access-requests/{pk}/{decision}", {"comment": "ok"}, format="json"
        )

    assert decided.status_code == HTTPStatus.OK, decided.content
    assert AccessRequest.objects.get(pk=pk).status == f"{decision}d"
    failures = [r for r in caplog.records if r.name == "policies.access_requests"]
    assert [r.getMessage() for r in failures] == [
        f"access request {pk}: _notify_owners could not send its email",
        f"access request {pk}: _notify_requester could not send its email",
    ]
    assert all(isinstance(r.exc_info[1], MailServerDown) for r in failures if r.exc_info)


def test_a_mail_outage_on_the_pages_still_files_and_decides(
    world: World, commit: Commit, mail_down: None
) -> None:
    update_policy(org=world.cast.acme, actor=world.cast.olivia, changes={"enabled": True})
    with commit():
        filed = client_for(world.cast.mike).post(
            MY_ACCESS, {"kind": "repository", "repository": "other/tool", "justification": "ci"}
        )
    assert filed.status_code == HTTPStatus.FOUND
    request = AccessRequest.objects.get(value="other/tool")

    with commit():
        declined = client_for(world.cast.olivia).post(f"{REQUESTS}{request.pk}/decline/")

    assert declined.status_code == HTTPStatus.FOUND
    request.refresh_from_db()
    assert request.status == "declined"


@pytest.mark.parametrize(
    "name", ["Acme\nBcc: everyone@example.com", "Acme\r\nCorp", "Acme\u2028Corp", "Acme\x0bCorp"]
)
def test_mail_subjects_stay_on_one_line_whatever_the_organization_name(
    enforced: Cast, commit: Commit, name: str
) -> None:
    # Forms refuse such names; one stored another way (the Django admin, an older release)
    # must still not stop the mail.
    Organization.objects.filter(pk=enforced.acme.pk).update(name=name)
    enforced.acme.refresh_from_db()

    with commit():
        request = file(enforced)
    with commit():
        decline_request(request=request, actor=enforced.olivia, comment="no")

    one_line = " ".join(name.split())  # every kind of line break became one space
    to_owner, to_requester = mail.outbox
    assert to_owner.subject == f"mike asks for repository {CUSTOM} in {one_line}"
    assert (
        to_requester.subject == f"Your request for repository {CUSTOM} in {one_line} was declined"
    )
    for message in (to_owner, to_requester):
        headers = message.message()  # what the backend sends: it builds without a complaint
        # A long header is folded onto continuation lines, which unfold to the subject.
        assert " ".join(str(headers["Subject"]).split()) == message.subject
        assert headers["Bcc"] is None


# --- Pages -------------------------------------------------------------------------------------


def deny(cast: Cast, user: Any, *images: str) -> None:
    """Decide as ``user`` and record the events, stored as the worker would store them."""
    outcomes = decide_images(list(images), user_id=user.pk, named_orgs=["acme"])
    record_decisions(
        outcomes, RequestContext(enforcer="api", user_id=user.pk, username=user.username)
    )
    drain_stream()  # with Redis the events wait in the stream until a worker drains it


def test_my_access_lists_the_members_own_denials_with_ask_links(world: World) -> None:
    cast = world.cast
    update_policy(org=cast.acme, actor=cast.olivia, changes={"enabled": True})
    deny(cast, cast.mike, "someuser/other-image", "someuser/other-image", "nginx", CUSTOM)
    deny(cast, cast.erin, "erins/secret-tool")

    html = client_for(cast.mike).get(MY_ACCESS).text

    assert "<code>someuser/other-image</code>" in html
    assert "2 denied" in html
    assert 'href="?repository=someuser/other-image#request-heading"' in html
    # mike already asked for custom-image (the world's pending request): no second button.
    assert f'href="?repository={CUSTOM}#request-heading"' not in html
    assert '<span class="badge">Requested</span>' in html
    assert "erins/secret-tool" not in html
    assert "<code>library/nginx</code>" not in html  # allowed pulls are not denials


def test_ask_link_prefills_the_request_form(world: World) -> None:
    response = client_for(world.cast.mike).get(MY_ACCESS, {"repository": CUSTOM})
    form = response.context["form"]
    assert form["kind"].value() == "repository"
    assert form["repository"].value() == CUSTOM
    assert f'value="{CUSTOM}"' in response.text


def test_member_asks_for_access_from_my_access(world: World) -> None:
    cast = world.cast
    update_policy(org=cast.acme, actor=cast.olivia, changes={"enabled": True})
    deny(cast, cast.mike, "other/tool")
    client = client_for(cast.mike)

    response = client.post(
        MY_ACCESS,
        {"kind": "repository", "repository": "other/tool", "justification": "load tests"},
    )

    assert response.status_code == HTTPStatus.FOUND
    assert messages_of(response) == [
        "Request sent: the owners of Acme Corp will review your request for repository "
        "other/tool. You will get an email when they decide."
    ]
    request = AccessRequest.objects.get(value="other/tool")
    assert request.requester == cast.mike
    html = client.get(MY_ACCESS).text
    assert "Pending" in html
    assert "load tests" in html
    # The denial now shows that it was asked for instead of a second "Ask for access".
    assert '<span class="badge">Requested</span>' in html


def test_my_access_form_shows_why_nothing_was_filed(world: World) -> None:
    response = client_for(world.cast.mike).post(
        MY_ACCESS, {"kind": "repository", "repository": CUSTOM, "justification": "x"}
    )
    assert response.status_code == HTTPStatus.OK
    assert "is already allowed for you in Acme Corp (image access is off)" in response.text


def test_my_access_form_puts_name_errors_on_the_field(world: World) -> None:
    update_policy(org=world.cast.acme, actor=world.cast.olivia, changes={"enabled": True})
    response = client_for(world.cast.mike).post(
        MY_ACCESS, {"kind": "namespace", "repository": "a/b", "justification": "x"}
    )
    assert response.status_code == HTTPStatus.OK
    form = response.context["form"]
    assert "without a repository" in form.errors["repository"][0]


def test_members_opening_requests_are_sent_to_my_access(world: World) -> None:
    response = client_for(world.cast.mike).get(REQUESTS)
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == MY_ACCESS
    assert messages_of(response) == ["Owners decide requests. Your own requests are listed here."]


def test_owner_sees_pending_requests_and_approves_one(world: World) -> None:
    cast = world.cast
    update_policy(org=cast.acme, actor=cast.olivia, changes={"enabled": True})
    client = client_for(cast.olivia)
    html = client.get(REQUESTS).text
    assert "Pending (1)" in html
    assert "our build needs it" in html
    assert f'action="/orgs/acme/requests/{world.access_request.pk}/approve/"' in html
    assert f'formaction="/orgs/acme/requests/{world.access_request.pk}/decline/"' in html

    response = client.post(
        f"/orgs/acme/requests/{world.access_request.pk}/approve/", {"comment": "go ahead"}
    )

    assert response.status_code == HTTPStatus.FOUND
    assert messages_of(response) == [f"Approved mike's request for repository {CUSTOM}."]
    assert pull_allowed(cast, CUSTOM)
    html = client.get(REQUESTS).text
    assert "No pending requests." in html
    assert "go ahead" in html


def test_owner_declines_on_the_requests_page_and_the_member_reads_the_comment(
    world: World,
) -> None:
    pk = world.access_request.pk
    response = client_for(world.cast.olivia).post(
        f"/orgs/acme/requests/{pk}/decline/", {"comment": "use bitnami/redis instead"}
    )
    assert messages_of(response) == [f"Declined mike's request for repository {CUSTOM}."]
    html = client_for(world.cast.mike).get(MY_ACCESS).text
    assert "Declined" in html
    assert "use bitnami/redis instead" in html


def test_deciding_twice_on_the_page_says_so(world: World) -> None:
    url = f"/orgs/acme/requests/{world.access_request.pk}/decline/"
    client = client_for(world.cast.olivia)
    client.post(url, {"comment": ""})
    response = client.post(url, {"comment": ""})
    assert messages_of(response)[-1] == "This request was already declined."


def test_requests_of_another_organization_are_404(world: World) -> None:
    other = AccessRequest.objects.create(
        org=world.cast.globex,
        requester=world.cast.charlie,
        kind="repository",
        value=CUSTOM,
        justification="x",
    )
    response = client_for(world.cast.olivia).post(f"/orgs/acme/requests/{other.pk}/approve/")
    assert response.status_code == HTTPStatus.NOT_FOUND
    other.refresh_from_db()
    assert other.status == "pending"


@pytest.mark.parametrize(
    ("who", "visible", "hidden"),
    [
        ("olivia", ["Usage", "Requests", "My access"], []),
        ("erin", ["My access"], ["Usage", "Requests"]),
        ("mike", ["My access"], ["Usage", "Requests"]),
    ],
)
def test_navigation_shows_the_sections_each_role_may_use(
    world: World, who: str, visible: list[str], hidden: list[str]
) -> None:
    html = client_for(world.user(who)).get("/orgs/acme/").text
    nav = html[html.index('<nav class="tabs"') : html.index("</nav>", html.index('class="tabs"'))]
    for label in visible:
        assert f">{label}</a>" in nav
    for label in hidden:
        assert f">{label}</a>" not in nav
