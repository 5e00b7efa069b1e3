"""Page tests' helpers: a world of one object of each kind a page can point at, and clients
signed in as one of the cast (the ``world`` fixture is in ``tests/conftest.py``)."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import User
from django.test import Client

from orgs.models import Invitation, Membership, PersonalAccessToken
from orgs.services import invite
from orgs.tokens import mint_token
from policies.models import AccessRequest, RepositoryException
from policies.services import add_exception, get_policy
from tests.conftest import Cast


@dataclass
class World:
    """The cast and one object of each kind a console URL can point at."""

    cast: Cast
    exception: RepositoryException
    invitation: Invitation
    invitation_secret: str
    mike_membership: Membership
    mike_token: PersonalAccessToken
    access_request: AccessRequest

    def user(self, name: str) -> User:
        return self.cast.user(name)


def make_world(cast: Cast) -> World:
    """Build the world around ``cast``."""
    owner = Membership.objects.get(org=cast.acme, user=cast.olivia)
    # Created up front so that reading a page never has to create it lazily.
    get_policy(cast.acme)
    get_policy(cast.globex)
    exception = add_exception(
        org=cast.acme, actor=cast.olivia, repository="bitnami/redis", reason="cache"
    )
    issued = invite(actor=owner, email="newcomer@example.com", role="member")
    return World(
        cast=cast,
        exception=exception,
        invitation=issued.invitation,
        invitation_secret=issued.secret,
        mike_membership=Membership.objects.get(org=cast.acme, user=cast.mike),
        mike_token=mint_token(user=cast.mike, name="laptop").token,
        # Made directly: with acme's policy off the service would say it is already allowed.
        access_request=AccessRequest.objects.create(
            org=cast.acme,
            requester=cast.mike,
            kind=AccessRequest.Kind.REPOSITORY,
            value="someuser/custom-image",
            justification="our build needs it",
        ),
    )


def client_for(user: User | None, *, recently_authenticated: bool = True) -> Client:
    """A test client signed in as ``user`` (anonymous for ``None``).

    ``recently_authenticated`` records a password confirmation just now, so views that ask
    for re-authentication (creating tokens, changing roles, deleting the organization) let
    the request through.
    """
    client = Client()
    if user is not None:
        client.force_login(user)
        if recently_authenticated:
            mark_recently_authenticated(client, user)
    return client


def mark_recently_authenticated(client: Client, user: User) -> None:
    """Record a password re-authentication now, as allauth's "confirm your password" does."""
    import time

    from allauth.account.internal.flows import login

    session = client.session
    session[login.AUTHENTICATION_METHODS_SESSION_KEY] = [
        {"method": "password", "at": time.time(), "reauthenticated": True}
    ]
    session[login._AUTHENTICATION_METHODS_USER_SESSION_KEY] = str(user.pk)
    session.save()


def messages_of(response: object) -> list[str]:
    """The flash messages a response left for the next page."""
    from django.contrib.messages import get_messages

    return [str(m) for m in get_messages(response.wsgi_request)]  # type: ignore[attr-defined]
