"""Registry access management in the engine: allowlist entries and the decision step, as tables."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from policies.engine.decide import Scope
from policies.engine.registries import (
    RegistryEntryError,
    parse_registry_entry,
    registry_allowed,
)
from policies.engine.snapshots import PolicySnapshot, RegistryAccessSnapshot
from tests.engine.test_decide import ACME, MIKE, OLIVIA, for_org


@pytest.mark.parametrize(
    ("entry", "stored"),
    [
        ("ghcr.io", "ghcr.io"),
        ("GHCR.IO", "ghcr.io"),
        ("  quay.io  ", "quay.io"),
        ("ghcr.io:443", "ghcr.io"),
        ("ghcr.io:0443", "ghcr.io"),
        ("registry.local:5000", "registry.local:5000"),
        ("registry.local:05000", "registry.local:5000"),
        ("localhost:5000", "localhost:5000"),
        ("*.example.com", "*.example.com"),
        ("*.Example.COM:443", "*.example.com"),
        ("docker.io", "docker.io"),
        ("index.docker.io", "docker.io"),
        ("REGISTRY-1.DOCKER.IO:443", "docker.io"),
        ("registry.hub.docker.com", "docker.io"),
        ("[::1]:5000", "[::1]:5000"),
        ("10.0.0.5:5000", "10.0.0.5:5000"),
    ],
)
def test_entries_are_normalized_as_a_daemon_reaches_the_host(entry: str, stored: str) -> None:
    assert parse_registry_entry(entry).text == stored


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("", "host name such as ghcr.io"),
        ("   ", "host name such as ghcr.io"),
        ("https://ghcr.io", "host name only"),
        ("ghcr.io/someuser", "host name only"),
        ("user@ghcr.io", "host name only"),
        ("ghcr io", "host name only"),
        ("ghcr.io:0", "invalid port"),
        ("ghcr.io:65536", "invalid port"),
        ("ghcr.io:http", "invalid port"),
        ("-ghcr.io", "not a valid host name"),
        ("ghcr..io", "not a valid host name"),
        ("ghcr_io", "not a valid host name"),
        ("*.com", "top-level domain"),
        ("*.*.example.com", "not a valid host name"),
        ("*example.com", "not a valid host name"),
        ("[::1", "not a valid IPv6"),
        ("[nothing]:5000", "not a valid IPv6"),
        ("*.[::1]", "wildcard needs a domain name"),
        ("a" * 300, "at most"),
    ],
)
def test_a_bad_entry_says_what_is_wrong(entry: str, message: str) -> None:
    with pytest.raises(RegistryEntryError, match=message.replace(".", r"\.")):
        parse_registry_entry(entry)


HUB_SPELLINGS = [
    "docker.io",
    "index.docker.io",
    "registry-1.docker.io",
    "registry.hub.docker.com",
    "Docker.IO",
    "REGISTRY-1.DOCKER.IO:443",
    "registry.hub.docker.com:0443",
]


@pytest.mark.parametrize("domain", HUB_SPELLINGS)
def test_the_docker_io_entry_covers_every_spelling_of_docker_hub(domain: str) -> None:
    assert registry_allowed((parse_registry_entry("docker.io"),), domain)
    assert not registry_allowed((parse_registry_entry("ghcr.io"),), domain)


@pytest.mark.parametrize(
    ("entry", "domain", "allowed"),
    [
        ("*.example.com", "a.example.com", True),
        ("*.example.com", "a.b.example.com", True),
        ("*.example.com", "A.EXAMPLE.COM:443", True),
        ("*.example.com", "example.com", False),
        ("*.example.com", "badexample.com", False),
        ("*.example.com", "example.com.evil.net", False),
        ("*.example.com", "a.example.com:5000", False),
        ("*.example.com:5000", "a.example.com:5000", True),
        ("ghcr.io", "ghcr.io", True),
        ("ghcr.io", "GHCR.io:443", True),
        ("ghcr.io", "ghcr.io:5000", False),
        ("ghcr.io", "a.ghcr.io", False),
        ("ghcr.io", "ghcr.io.evil.net", False),
        ("localhost:5000", "localhost:5000", True),
        ("localhost:5000", "localhost", False),
        ("localhost:5000", "localhost:5001", False),
        ("[::1]:5000", "[::1]:5000", True),
        ("docker.io", "docker.io.evil.com", False),
    ],
)
def test_matching_edge_cases(entry: str, domain: str, allowed: bool) -> None:
    assert registry_allowed((parse_registry_entry(entry),), domain) is allowed


def _acme(*entries: str, enabled: bool = True, audit: bool = False, image_access: bool = True):
    rules = tuple(parse_registry_entry(entry) for entry in entries)
    return replace(
        ACME,
        policy=PolicySnapshot(enabled=image_access, audit_mode=audit, allow_community=True),
        registry_access=RegistryAccessSnapshot(enabled=enabled, rules=rules),
    )


@pytest.mark.parametrize(
    ("user", "audit", "image_access"),
    list(itertools.product([MIKE, OLIVIA], [False, True], [False, True])),
)
def test_a_registry_in_no_entry_is_denied_for_everyone_in_the_hosts_own_words(
    user: int, audit: bool, image_access: bool
) -> None:
    org = _acme("docker.io", audit=audit, image_access=image_access)
    decision = for_org("GHCR.io:443/someuser/tool:1", user=user, org=org)
    assert decision.registry_decided
    assert decision.reason.endswith("registry access to ghcr.io:443 is not allowed")
    assert decision.allowed is audit
    assert decision.would_deny is audit


@pytest.mark.parametrize("spelling", HUB_SPELLINGS)
@pytest.mark.parametrize("user", [MIKE, OLIVIA])
def test_without_docker_io_every_hub_spelling_is_denied(spelling: str, user: int) -> None:
    decision = for_org(f"{spelling}/library/nginx", user=user, org=_acme("ghcr.io"))
    assert not decision.allowed
    assert decision.registry_decided
    # The parser itself folds index.docker.io into docker.io, as Docker's does.
    written = "docker.io" if spelling == "index.docker.io" else spelling.lower()
    assert decision.reason == f"registry access to {written} is not allowed"


def test_an_allowed_registry_falls_through_to_the_rest_of_the_rules() -> None:
    org = _acme("docker.io", "ghcr.io")
    other = for_org("ghcr.io/someuser/tool", org=org)
    assert (other.allowed, other.scope, other.registry_decided) == (
        True,
        Scope.NOT_GOVERNED,
        False,
    )
    hub = for_org("someuser/custom-image", org=replace(org, policy=PolicySnapshot(enabled=True)))
    assert not hub.allowed
    assert not hub.registry_decided
    assert hub.reason == "image access denied: community images not allowed"


def test_registry_access_off_or_without_business_allows_every_registry() -> None:
    assert for_org("ghcr.io/x/y", org=_acme(enabled=False)).allowed
    assert for_org("ghcr.io/x/y", org=replace(_acme(), business=False)).allowed


def test_an_empty_list_denies_every_registry_docker_hub_included() -> None:
    org = _acme()
    assert not for_org("nginx", org=org).allowed
    assert not for_org("localhost:5000/nginx", org=org).allowed


def test_with_several_organizations_the_strictest_denies_and_a_named_one_decides() -> None:
    from policies.engine.decide import decide
    from policies.engine.reference import parse_docker_ref
    from tests.engine.test_decide import CATALOG, GLOBEX, NOW

    strict = _acme("docker.io", image_access=False)
    reference = parse_docker_ref("ghcr.io/someuser/tool")
    both = decide(reference, user_id=MIKE, user_orgs=[strict, GLOBEX], catalog=CATALOG, now=NOW)
    assert (both.allowed, both.org, both.registry_decided) == (False, "acme", True)
    named = decide(
        reference,
        user_id=MIKE,
        user_orgs=[strict, GLOBEX],
        catalog=CATALOG,
        now=NOW,
        named_orgs=[GLOBEX],
    )
    assert (named.allowed, named.org) == (True, "globex")
