"""Pull-time enforcement end to end: skopeo -> registry mirror -> the served app's /v2/token.

All on 127.0.0.1: an upstream ``docker-registry`` plays Docker Hub and holds one small image
(built in Python) as ``library/nginx``, ``someuser/custom-image`` and ``acme/app``; a second
``docker-registry`` is a pull-through mirror of it with ``auth: token``, its ``auth:`` block
exactly what ``manage.py registry_config`` printed; the app runs under gunicorn with the demo
data (olivia owns acme, mike is a member, charlie belongs to globex). Each test sets acme's
policy through the REST API first, so the tests do not depend on their order.
"""

from __future__ import annotations

import base64
import itertools
import json
import secrets
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import harness
from tests.e2e.conftest import MIRROR_SERVICE, RegistryStack
from tests.e2e.served_app import ServedApp, run_mirror

pytestmark = pytest.mark.e2e

COMMUNITY_DENIAL = "image access denied: community images not allowed"
SIGN_IN_DENIAL = "sign-in required: sign in as a member of acme"
GENERIC_FAILURE = "invalid username or access token"
OAT_REFUSED = "organization access tokens are not supported: use a personal access token"

_pull_counter = itertools.count()


@pytest.fixture
def acme_policy_on(served_app: ServedApp) -> Iterator[None]:
    """acme's image access on: official and verified allowed, community images not."""
    served_app.patch_policy(
        enabled=True,
        allow_official=True,
        allow_verified_publisher=True,
        allow_community=False,
        audit_mode=False,
    )
    yield
    served_app.patch_policy(allow_community=False)


def pull(
    registry: harness.Registry, repository: str, creds: str | None, tmp_path: Path
) -> harness.CommandResult:
    """``skopeo copy docker://MIRROR/REPOSITORY:latest dir:...`` with ``--src-creds``."""
    dest = tmp_path / f"pull-{next(_pull_counter)}"
    return harness.skopeo_copy_to_dir(
        f"{registry.host}/{repository}:latest", dest, src_creds=creds, timeout=60
    )


def assert_pulled(result: harness.CommandResult, stack: RegistryStack) -> None:
    assert result.returncode == 0, str(result)
    assert "Writing manifest to image destination" in result.output, str(result)
    assert "denied" not in result.output, str(result)
    dest = Path(result.argv[-1].removeprefix("dir:"))
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["config"]["digest"] == stack.image.config_digest


def assert_refused(result: harness.CommandResult, message: str) -> None:
    assert result.returncode != 0, str(result)
    assert message in result.output, str(result)


# --------------------------------------------------------------------------------------------
# Wiring


def test_registry_config_output_wires_the_mirror(
    served_app: ServedApp, registry_stack: RegistryStack
) -> None:
    auth = registry_stack.auth
    assert auth.realm == served_app.token_url
    assert auth.service == MIRROR_SERVICE
    assert auth.issuer == "imageaccess"
    assert auth.rootcertbundle.read_text().startswith("-----BEGIN CERTIFICATE-----")
    # The block went into the mirror's config.yml verbatim.
    assert auth.yaml_block.strip() in registry_stack.mirror.config_path.read_text()
    status, headers, _ = harness.http_get(f"{registry_stack.mirror.url}/v2/")
    challenge = headers.get("Www-Authenticate") or headers.get("WWW-Authenticate", "")
    assert status == 401
    assert challenge == f'Bearer realm="{served_app.token_url}",service="{MIRROR_SERVICE}"'


# --------------------------------------------------------------------------------------------
# A member's pulls through the mirror, one step per test


@pytest.mark.usefixtures("acme_policy_on")
def test_member_pulls_official_and_organization_images(
    served_app: ServedApp, registry_stack: RegistryStack, tmp_path: Path
) -> None:
    for repository in ("library/nginx", "acme/app"):
        result = pull(registry_stack.mirror, repository, served_app.creds("mike"), tmp_path)
        assert_pulled(result, registry_stack)


@pytest.mark.usefixtures("acme_policy_on")
def test_member_pull_of_community_image_is_denied_with_the_reason(
    served_app: ServedApp, registry_stack: RegistryStack, tmp_path: Path
) -> None:
    upstream_log_before = len(registry_stack.upstream.logs())
    result = pull(
        registry_stack.mirror, "someuser/custom-image", served_app.creds("mike"), tmp_path
    )
    assert_refused(result, f"denied: {COMMUNITY_DENIAL}")
    # The client never got a token, so the mirror never asked the upstream for the image.
    assert "someuser/custom-image" not in registry_stack.upstream.logs()[upstream_log_before:]


@pytest.mark.usefixtures("acme_policy_on")
def test_owner_pulls_community_image(
    served_app: ServedApp, registry_stack: RegistryStack, tmp_path: Path
) -> None:
    result = pull(
        registry_stack.mirror, "someuser/custom-image", served_app.creds("olivia"), tmp_path
    )
    assert_pulled(result, registry_stack)


@pytest.mark.usefixtures("acme_policy_on")
@pytest.mark.parametrize("who", ["unknown-token", "someone-elses-token"])
def test_wrong_token_fails_with_the_generic_message(
    served_app: ServedApp, registry_stack: RegistryStack, tmp_path: Path, who: str
) -> None:
    if who == "unknown-token":
        creds = f"mike:dckr_pat_{secrets.token_urlsafe(27)}"
    else:
        creds = f"olivia:{served_app.token('mike')}"
    result = pull(registry_stack.mirror, "library/nginx", creds, tmp_path)
    assert_refused(result, GENERIC_FAILURE)
    assert "Writing manifest" not in result.output


@pytest.mark.usefixtures("acme_policy_on")
def test_organization_access_token_is_refused(
    served_app: ServedApp, registry_stack: RegistryStack, tmp_path: Path
) -> None:
    creds = f"acme:dckr_oat_{secrets.token_urlsafe(27)}"
    result = pull(registry_stack.mirror, "library/nginx", creds, tmp_path)
    assert_refused(result, OAT_REFUSED)


@pytest.mark.usefixtures("acme_policy_on")
def test_member_pulls_community_image_once_the_owner_allows_them(
    served_app: ServedApp, registry_stack: RegistryStack, tmp_path: Path
) -> None:
    denied = pull(
        registry_stack.mirror, "someuser/custom-image", served_app.creds("mike"), tmp_path
    )
    assert_refused(denied, COMMUNITY_DENIAL)

    policy = served_app.patch_policy(allow_community=True)
    assert policy["allow_community"] is True
    assert policy["enabled"] is True

    allowed = pull(
        registry_stack.mirror, "someuser/custom-image", served_app.creds("mike"), tmp_path
    )
    assert_pulled(allowed, registry_stack)


# --------------------------------------------------------------------------------------------
# Anonymous pulls and IMAGEACCESS_REGISTRY_ORGS


@pytest.mark.usefixtures("acme_policy_on")
def test_anonymous_pull_is_ungoverned_without_named_organizations(
    served_app: ServedApp, registry_stack: RegistryStack, tmp_path: Path
) -> None:
    # With IMAGEACCESS_REGISTRY_ORGS empty an anonymous caller belongs to no organization, so
    # no policy applies: official and community images alike (docs/registry.md says so).
    for repository in ("library/nginx", "someuser/custom-image"):
        assert_pulled(pull(registry_stack.mirror, repository, None, tmp_path), registry_stack)


def _set_enforce_sign_in(app: ServedApp, value: bool) -> None:
    # Not in the REST API (set in the Django admin). save() fires the signal that bumps the
    # decision snapshot version, as the admin's save does.
    app.shell_json(
        "import json; from orgs.models import Organization; "
        "org = Organization.objects.get(slug='acme'); "
        f"org.enforce_sign_in = {value}; org.save(update_fields=['enforce_sign_in']); "
        "print(json.dumps(org.enforce_sign_in))"
    )
    app.wait_for_propagation()


@pytest.mark.usefixtures("acme_policy_on")
def test_mirror_serving_acme_requires_sign_in(
    served_app: ServedApp, registry_stack: RegistryStack, tmp_path: Path
) -> None:
    """A second server with IMAGEACCESS_REGISTRY_ORGS=acme and a second mirror using it."""
    _set_enforce_sign_in(served_app, True)
    try:
        with (
            served_app.another_server(IMAGEACCESS_REGISTRY_ORGS="acme") as server,
            run_mirror(
                served_app,
                registry_stack.upstream,
                tmp_path / "acme-mirror",
                realm=server.token_url,
                service=MIRROR_SERVICE,
            ) as (mirror, auth),
        ):
            assert auth.realm == server.token_url
            anonymous = pull(mirror, "library/nginx", None, tmp_path)
            assert_refused(anonymous, f"denied: {SIGN_IN_DENIAL}")
            # charlie signs in, but as a member of globex, not of acme.
            outsider = pull(mirror, "library/nginx", served_app.creds("charlie"), tmp_path)
            assert_refused(outsider, SIGN_IN_DENIAL)
            assert_pulled(
                pull(mirror, "library/nginx", served_app.creds("mike"), tmp_path), registry_stack
            )
            member = pull(mirror, "someuser/custom-image", served_app.creds("mike"), tmp_path)
            assert_refused(member, COMMUNITY_DENIAL)
    finally:
        _set_enforce_sign_in(served_app, False)


# --------------------------------------------------------------------------------------------
# Decision events


@pytest.mark.usefixtures("acme_policy_on")
def test_every_decision_is_recorded_with_enforcer_registry(
    served_app: ServedApp, registry_stack: RegistryStack, tmp_path: Path
) -> None:
    before = served_app.last_event_id()
    assert_refused(
        pull(registry_stack.mirror, "someuser/custom-image", served_app.creds("mike"), tmp_path),
        COMMUNITY_DENIAL,
    )
    assert_pulled(
        pull(registry_stack.mirror, "acme/app", served_app.creds("mike"), tmp_path),
        registry_stack,
    )
    events = served_app.registry_events(before)
    denied = [e for e in events if not e["allowed"]]
    assert denied, events
    assert {(e["username"], e["repository"], e["reason"], e["org__slug"]) for e in denied} == {
        ("mike", "someuser/custom-image", COMMUNITY_DENIAL, "acme")
    }
    allowed = [e for e in events if e["allowed"]]
    assert {(e["username"], e["repository"]) for e in allowed} == {("mike", "acme/app")}
    # The image as the mirrored registry (Docker Hub) names it.
    assert {e["image"] for e in events} <= {
        "someuser/custom-image",
        "docker.io/someuser/custom-image",
        "acme/app",
        "docker.io/acme/app",
    }, events
    assert all(str(e["user_agent"]).startswith("skopeo/") for e in events), events


# --------------------------------------------------------------------------------------------
# IMAGEACCESS_REGISTRY_DENIAL=empty_grant


@pytest.mark.usefixtures("acme_policy_on")
def test_empty_grant_denial_mode(
    served_app: ServedApp, registry_stack: RegistryStack, tmp_path: Path
) -> None:
    """The specification's empty grant: the registry refuses with its own fixed text."""
    with (
        served_app.another_server(IMAGEACCESS_REGISTRY_DENIAL="empty_grant") as server,
        run_mirror(
            served_app,
            registry_stack.upstream,
            tmp_path / "empty-grant-mirror",
            realm=server.token_url,
            service=MIRROR_SERVICE,
        ) as (mirror, _),
    ):
        denied = pull(mirror, "someuser/custom-image", served_app.creds("mike"), tmp_path)
        assert_refused(denied, "denied: requested access to the resource is denied")
        assert COMMUNITY_DENIAL not in denied.output
        assert_pulled(
            pull(mirror, "library/nginx", served_app.creds("mike"), tmp_path), registry_stack
        )


# --------------------------------------------------------------------------------------------
# Refresh tokens (docker login's identity token) and the failure limit, over real HTTP

MANIFEST_ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)


def _token_request(
    url: str,
    *,
    form: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    basic: str | None = None,
    forwarded_for: str | None = None,
) -> tuple[int, dict[str, str], dict[str, Any]]:
    """GET (``query``) or form POST (``form``) to a ``/v2/token`` URL; JSON answer."""
    headers = {"Accept": "application/json"}
    if basic is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(basic.encode()).decode()
    if forwarded_for is not None:
        headers["X-Forwarded-For"] = forwarded_for
    data = None
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if query is not None:
        url = f"{url}?{urllib.parse.urlencode(query)}"
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 (loopback)
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
            return resp.status, dict(resp.headers.items()), json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), json.loads(exc.read())


def _mint_pat(app: ServedApp, username: str) -> tuple[int, str]:
    code = (
        "import json\n"
        "from django.contrib.auth import get_user_model\n"
        "from orgs.tokens import mint_token\n"
        f"user = get_user_model().objects.get(username={username!r})\n"
        "minted = mint_token(user=user, name='e2e refresh')\n"
        "print(json.dumps([minted.token.pk, minted.plaintext]))\n"
    )
    pk, plaintext = app.shell_json(code)
    return int(pk), str(plaintext)


def _revoke_pat(app: ServedApp, pk: int) -> None:
    code = (
        "import json\n"
        "from orgs.models import PersonalAccessToken\n"
        "from orgs.tokens import revoke_token\n"
        f"token = PersonalAccessToken.objects.get(pk={pk})\n"
        "revoke_token(token=token, actor=token.user)\n"
        "print(json.dumps(True))\n"
    )
    app.shell_json(code)


@pytest.mark.usefixtures("acme_policy_on")
def test_identity_token_from_docker_login_pulls_and_dies_with_its_access_token(
    served_app: ServedApp, registry_stack: RegistryStack
) -> None:
    pk, pat = _mint_pat(served_app, "mike")
    status, _, login = _token_request(
        served_app.token_url,
        query={
            "service": MIRROR_SERVICE,
            "account": "mike",
            "client_id": "docker",
            "offline_token": "true",
        },
        basic=f"mike:{pat}",
    )
    assert status == 200, login
    identity = login["refresh_token"]
    assert identity.startswith("dckr_rt_")

    def refresh(scope: str) -> tuple[int, dict[str, Any]]:
        status, _, body = _token_request(
            served_app.token_url,
            form={
                "grant_type": "refresh_token",
                "refresh_token": identity,
                "service": MIRROR_SERVICE,
                "client_id": "docker",
                "scope": scope,
            },
        )
        return status, body

    status, body = refresh("repository:library/nginx:pull")
    assert status == 200, body
    assert "refresh_token" not in body
    manifest_url = f"{registry_stack.mirror.url}/v2/library/nginx/manifests/latest"
    headers = {"Accept": MANIFEST_ACCEPT, "Authorization": f"Bearer {body['token']}"}
    assert harness.http_get(manifest_url, headers=headers)[0] == 200
    status, body = refresh("repository:someuser/custom-image:pull")
    assert (status, body["errors"][0]) == (401, {"code": "DENIED", "message": COMMUNITY_DENIAL})

    _revoke_pat(served_app, pk)
    status, body = refresh("repository:library/nginx:pull")
    assert status == 401, body
    assert body["errors"][0]["code"] == "UNAUTHORIZED"


def test_failure_limit_behind_a_proxy_spares_valid_tokens_and_other_clients(
    served_app: ServedApp,
) -> None:
    with served_app.another_server(
        IMAGEACCESS_BEHIND_PROXY="1", IMAGEACCESS_FAILED_AUTH_LIMIT="3/60"
    ) as server:
        # Addresses and usernames of this test alone: the counts live in the shared Redis, and
        # other tests fail with the demo users' names within the same minute.
        attacker = f"2001:db8:{secrets.randbelow(65536):x}:{secrets.randbelow(65536):x}::7"
        query = {"service": MIRROR_SERVICE, "scope": "repository:library/nginx:pull"}

        def ask(creds: str, client: str) -> tuple[int, dict[str, str], dict[str, Any]]:
            return _token_request(
                server.token_url, query=query, basic=creds, forwarded_for=f"6.6.6.6, {client}"
            )

        wrong = f"guess-{secrets.token_hex(4)}:dckr_pat_{secrets.token_urlsafe(24)}"
        assert [ask(wrong, attacker)[0] for _ in range(3)] == [401, 401, 401]
        status, headers, body = ask(
            f"guess-{secrets.token_hex(4)}:dckr_pat_{secrets.token_urlsafe(24)}", attacker
        )
        assert status == 429, body
        assert body["errors"][0]["code"] == "TOOMANYREQUESTS"
        assert int(headers["Retry-After"]) >= 1
        # A valid token from the blocked address, and a guess from another client, are
        # answered as they would be without the attacker.
        assert ask(served_app.creds("mike"), attacker)[0] == 200
        other_client = f"2001:db8:{secrets.randbelow(65536):x}:{secrets.randbelow(65536):x}::8"
        bystander = f"typo-{secrets.token_hex(4)}:dckr_pat_{secrets.token_urlsafe(24)}"
        assert ask(bystander, other_client)[0] == 401
