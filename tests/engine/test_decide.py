"""Every rule of DESIGN.md section 3, as tables, without a database."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from policies.engine.classify import Category, classify
from policies.engine.decide import Decision, Scope, decide, decide_for_org, decide_image_load
from policies.engine.reference import parse_docker_ref
from policies.engine.snapshots import (
    CatalogSnapshot,
    ExceptionSnapshot,
    OrgSnapshot,
    PolicySnapshot,
)

NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
OLIVIA, ERIN, MIKE, CHARLIE, OUTSIDER = 1, 2, 3, 4, 99
CATALOG = CatalogSnapshot(
    verified_publishers=frozenset({"bitnami", "grafana"}),
    sponsored_oss=frozenset({"localstack"}),
)
ON = PolicySnapshot(enabled=True)  # official + verified on, community off
ACME = OrgSnapshot(
    id=1,
    slug="acme",
    business=True,
    enforce_sign_in=False,
    policy=ON,
    namespaces=frozenset({"acme", "acme-labs"}),
    roles={OLIVIA: "owner", ERIN: "editor", MIKE: "member"},
)
GLOBEX = OrgSnapshot(
    id=2,
    slug="globex",
    business=True,
    enforce_sign_in=False,
    policy=PolicySnapshot(enabled=False),
    namespaces=frozenset({"globex"}),
    roles={CHARLIE: "member", MIKE: "member"},
)


def for_org(image: str, user: int = MIKE, org: OrgSnapshot = ACME) -> Decision:
    return decide_for_org(parse_docker_ref(image), user_id=user, org=org, catalog=CATALOG, now=NOW)


@pytest.mark.parametrize(
    ("image", "category", "sponsored"),
    [
        ("nginx", Category.OFFICIAL, False),
        ("library/nginx:1.27", Category.OFFICIAL, False),
        ("docker.io/library/redis@sha256:" + "a" * 64, Category.OFFICIAL, False),
        ("index.docker.io/library/nginx", Category.OFFICIAL, False),
        ("registry-1.docker.io/library/nginx", Category.OFFICIAL, False),
        ("registry-1.docker.io/nginx", Category.OFFICIAL, False),
        ("registry.hub.docker.com/library/nginx", Category.OFFICIAL, False),
        ("acme/app:1.0", Category.ORGANIZATION, False),
        ("acme-labs/tool", Category.ORGANIZATION, False),
        ("bitnami/redis", Category.VERIFIED_PUBLISHER, False),
        ("registry-1.docker.io/grafana/grafana", Category.VERIFIED_PUBLISHER, False),
        ("someuser/custom-image", Category.COMMUNITY, False),
        ("localstack/localstack", Category.COMMUNITY, True),
        ("ghcr.io/someuser/tool", Category.OTHER_REGISTRY, False),
        ("localhost:5000/nginx", Category.OTHER_REGISTRY, False),
        ("quay.io/library/nginx", Category.OTHER_REGISTRY, False),
        ("docker.io.evil.com/library/nginx", Category.OTHER_REGISTRY, False),
    ],
)
def test_classification(image: str, category: Category, sponsored: bool) -> None:
    result = classify(parse_docker_ref(image), org_namespaces=ACME.namespaces, catalog=CATALOG)
    assert result.category is category
    assert result.sponsored_oss is sponsored


def test_organization_images_are_organization_only_for_the_owning_org() -> None:
    ref = parse_docker_ref("acme/app")
    assert classify(ref, org_namespaces=GLOBEX.namespaces, catalog=CATALOG).category is (
        Category.COMMUNITY
    )


# (rule, image, user, org changes, allowed, reason fragment)
RULES = [
    ("2 other registry not governed", "ghcr.io/someuser/tool", MIKE, {}, True, "not governed"),
    ("3 not business", "someuser/x", MIKE, {"business": False}, True, "Business subscription"),
    (
        "3 policy off",
        "someuser/x",
        MIKE,
        {"policy": PolicySnapshot(enabled=False)},
        True,
        "image access is off",
    ),
    ("4 owner bypass", "someuser/x", OLIVIA, {}, True, "owners are not restricted"),
    ("4 editor is not an owner", "someuser/x", ERIN, {}, False, "community images not allowed"),
    ("5 organization image", "acme/app:1.0", MIKE, {}, True, "organization images"),
    (
        "5 organization image even with everything off",
        "acme/app",
        MIKE,
        {
            "policy": PolicySnapshot(
                enabled=True,
                allow_official=False,
                allow_verified_publisher=False,
                allow_community=False,
            )
        },
        True,
        "organization images",
    ),
    (
        "6 repository exception",
        "someuser/custom-image",
        MIKE,
        {"exceptions": (ExceptionSnapshot(7, "someuser", "custom-image"),)},
        True,
        "repository exception someuser/custom-image",
    ),
    (
        "6 namespace exception",
        "someuser/other",
        MIKE,
        {"exceptions": (ExceptionSnapshot(8, "someuser", "*"),)},
        True,
        "repository exception someuser/*",
    ),
    (
        "6 expired exception does not match",
        "someuser/custom-image",
        MIKE,
        {
            "exceptions": (
                ExceptionSnapshot(9, "someuser", "custom-image", NOW - dt.timedelta(seconds=1)),
            )
        },
        False,
        "community images not allowed",
    ),
    (
        "6 exception for another repository does not match",
        "someuser/custom-image",
        MIKE,
        {"exceptions": (ExceptionSnapshot(7, "someuser", "other"),)},
        False,
        "community images not allowed",
    ),
    ("7 official allowed", "nginx", MIKE, {}, True, "official images allowed"),
    ("7 verified allowed", "bitnami/redis", MIKE, {}, True, "verified publisher images allowed"),
    (
        "7 community denied",
        "someuser/custom-image",
        MIKE,
        {},
        False,
        "image access denied: community images not allowed",
    ),
    (
        "7 sponsored OSS is community",
        "localstack/localstack",
        MIKE,
        {},
        False,
        "image access denied: community images not allowed",
    ),
    (
        "7 official denied",
        "nginx",
        MIKE,
        {"policy": replace(ON, allow_official=False)},
        False,
        "image access denied: official images not allowed",
    ),
    (
        "7 verified denied",
        "bitnami/redis",
        MIKE,
        {"policy": replace(ON, allow_verified_publisher=False)},
        False,
        "image access denied: verified publisher images not allowed",
    ),
    (
        "7 community allowed",
        "someuser/custom-image",
        MIKE,
        {"policy": replace(ON, allow_community=True)},
        True,
        "community images allowed",
    ),
    (
        "7 other Hub spelling cannot slip past",
        "registry-1.docker.io/someuser/custom-image",
        MIKE,
        {},
        False,
        "image access denied: community images not allowed",
    ),
]


@pytest.mark.parametrize(
    ("image", "user", "changes", "allowed", "reason"),
    [rule[1:] for rule in RULES],
    ids=[rule[0] for rule in RULES],
)
def test_decision_rules(image: str, user: int, changes: dict, allowed: bool, reason: str) -> None:
    decision = for_org(image, user, replace(ACME, **changes))
    assert decision.allowed is allowed
    assert reason in decision.reason
    assert decision.org == "acme"


def test_denial_reasons_are_exactly_dockers() -> None:
    assert for_org("someuser/x").reason == "image access denied: community images not allowed"
    assert (
        for_org(
            "bitnami/x", org=replace(ACME, policy=replace(ON, allow_verified_publisher=False))
        ).reason
        == "image access denied: verified publisher images not allowed"
    )
    assert (
        for_org("nginx", org=replace(ACME, policy=replace(ON, allow_official=False))).reason
        == "image access denied: official images not allowed"
    )


def test_not_governed_scope_for_other_registries() -> None:
    decision = for_org("ghcr.io/someuser/tool")
    assert decision.scope is Scope.NOT_GOVERNED
    assert decision.allowed


def test_audit_mode_allows_but_records_would_deny() -> None:
    decision = for_org("someuser/x", org=replace(ACME, policy=replace(ON, audit_mode=True)))
    assert decision.allowed is True
    assert decision.would_deny is True
    assert decision.reason == "audit mode: image access denied: community images not allowed"


def test_exception_reports_its_id() -> None:
    org = replace(ACME, exceptions=(ExceptionSnapshot(42, "someuser", "*"),))
    assert for_org("someuser/x", org=org).exception_id == 42


def run(image: str, user: int | None, orgs: list[OrgSnapshot], named=None) -> Decision:
    return decide(
        parse_docker_ref(image),
        user_id=user,
        user_orgs=orgs,
        catalog=CATALOG,
        now=NOW,
        named_orgs=named or (),
    )


def test_strictest_wins_across_the_users_orgs_and_names_the_denier() -> None:
    # mike is in acme (on) and globex (off): acme denies, and says so.
    decision = run("someuser/x", MIKE, [GLOBEX, ACME])
    assert not decision.allowed
    assert decision.org == "acme"


def test_strictest_uses_each_orgs_own_namespaces() -> None:
    strict_globex = replace(GLOBEX, policy=ON)
    decision = run("acme/app", MIKE, [ACME, strict_globex])
    assert not decision.allowed  # community for globex
    assert decision.org == "globex"


def test_allowed_reports_an_org_whose_policy_is_in_effect() -> None:
    decision = run("nginx", MIKE, [GLOBEX, ACME])
    assert decision.allowed
    assert decision.org == "acme"


def test_user_in_no_org_is_not_restricted() -> None:
    decision = run("someuser/x", OUTSIDER, [])
    assert decision.allowed
    assert decision.org is None


def test_first_named_org_the_user_belongs_to_decides() -> None:
    # mike belongs to both; globex is named first and is off.
    assert run("someuser/x", MIKE, [], named=[GLOBEX, ACME]).org == "globex"
    assert run("someuser/x", MIKE, [], named=[GLOBEX, ACME]).allowed
    assert not run("someuser/x", MIKE, [], named=[ACME, GLOBEX]).allowed


def test_named_org_enforcing_sign_in_denies_non_members_and_anonymous() -> None:
    strict = replace(ACME, enforce_sign_in=True)
    for user in (None, CHARLIE):
        decision = run("nginx", user, [], named=[strict])
        assert not decision.allowed
        assert decision.reason == "sign-in required: sign in as a member of acme"
        assert decision.sign_in_required


def test_named_org_without_sign_in_enforcement_lets_non_members_through() -> None:
    assert run("someuser/x", None, [], named=[ACME]).allowed
    assert run("someuser/x", CHARLIE, [], named=[ACME]).allowed


def test_naming_an_org_the_user_is_not_in_never_loosens_their_own_orgs_decision() -> None:
    # charlie belongs to a strict globex; naming acme (open to non-members) changes nothing.
    strict_globex = replace(GLOBEX, policy=ON)
    for named in ([ACME], [replace(ACME, policy=PolicySnapshot(enabled=False))]):
        decision = run("someuser/x", CHARLIE, [strict_globex], named=named)
        assert not decision.allowed
        assert decision.org == "globex"
        assert decision.reason == "image access denied: community images not allowed"


def test_sign_in_denial_by_an_org_the_user_is_not_in_is_recorded_for_no_org() -> None:
    strict = replace(ACME, enforce_sign_in=True)
    decision = run("nginx", CHARLIE, [GLOBEX], named=[strict])
    assert not decision.allowed
    assert decision.org == "acme"
    assert decision.org_id is None  # acme's log is not charlie's to write into


def test_a_users_own_denial_wins_over_a_named_orgs_sign_in_rule() -> None:
    strict_globex = replace(GLOBEX, policy=ON)
    decision = run(
        "someuser/x", CHARLIE, [strict_globex], named=[replace(ACME, enforce_sign_in=True)]
    )
    assert decision.org == "globex"
    assert decision.org_id == GLOBEX.id


# Every spelling a daemon would fetch from Docker Hub, with a tag, a digest or both.
DIGEST = "sha256:" + "b" * 64
HUB_SPELLINGS = [
    f"{host}{port}/someuser/custom-image{suffix}"
    for host in (
        "docker.io",
        "DOCKER.IO",
        "index.docker.io",
        "Index.Docker.IO",
        "registry-1.docker.io",
        "REGISTRY-1.DOCKER.IO",
        "Registry-1.Docker.Io",
        "registry.hub.docker.com",
        "REGISTRY.HUB.DOCKER.COM",
    )
    for port in ("", ":443", ":0443")
    for suffix in ("", ":v1", f"@{DIGEST}", f":v1@{DIGEST}")
]


@pytest.mark.parametrize("image", HUB_SPELLINGS)
def test_every_spelling_of_docker_hub_is_governed_as_docker_hub(image: str) -> None:
    decision = run(image, MIKE, [ACME])
    assert decision.category is Category.COMMUNITY
    assert decision.classification.hub_repository == "someuser/custom-image"
    assert not decision.allowed
    assert decision.reason == "image access denied: community images not allowed"


@pytest.mark.parametrize(
    "image",
    [
        "REGISTRY-1.DOCKER.IO/nginx",
        "registry-1.docker.io:443/library/nginx:1.27",
        "Registry.Hub.Docker.Com:443/nginx@" + DIGEST,
    ],
)
def test_single_component_paths_under_any_hub_spelling_are_official(image: str) -> None:
    decision = run(image, MIKE, [ACME])
    assert decision.category is Category.OFFICIAL
    assert (decision.classification.hub_repository or "").startswith("library/")


@pytest.mark.parametrize(
    "image",
    [
        "docker.io:5000/someuser/x",  # another port is another server
        "docker.io:80/someuser/x",
        "registry-2.docker.io/someuser/x",
        "docker.io.evil.example/someuser/x",
        "evil-docker.io/someuser/x",
        "hub.docker.com/someuser/x",
    ],
)
def test_hosts_that_only_look_like_docker_hub_are_other_registries(image: str) -> None:
    assert run(image, MIKE, [ACME]).category is Category.OTHER_REGISTRY


def test_the_parser_output_stays_dockers_own() -> None:
    # Classification folds the spelling; the reference reported is what Docker parses.
    decision = run("REGISTRY-1.DOCKER.IO:443/someuser/custom-image", MIKE, [ACME])
    assert decision.reference.domain == "REGISTRY-1.DOCKER.IO:443"
    assert str(decision.reference) == "REGISTRY-1.DOCKER.IO:443/someuser/custom-image:latest"


def test_other_registry_is_not_governed_even_when_sign_in_is_enforced() -> None:
    strict = replace(ACME, enforce_sign_in=True)
    assert run("ghcr.io/x/y", None, [], named=[strict]).allowed


def test_engine_imports_nothing_from_django() -> None:
    import subprocess
    import sys

    code = (
        "import sys; import policies.engine.decide, policies.engine.reference; "
        "sys.exit(any(m == 'django' or m.startswith('django.') for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


BLOCKING = replace(ACME, policy=replace(ON, block_image_load=True))
LOAD_DENIAL = "image access denied: docker load and docker import are not allowed by acme"


def test_loading_images_is_allowed_unless_an_organization_blocks_it() -> None:
    assert decide_image_load(user_id=MIKE, user_orgs=[ACME, GLOBEX]).allowed
    denied = decide_image_load(user_id=MIKE, user_orgs=[BLOCKING, GLOBEX])
    assert (denied.allowed, denied.reason, denied.org) == (False, LOAD_DENIAL, "acme")
    assert decide_image_load(user_id=OLIVIA, user_orgs=[BLOCKING]).allowed  # owners
    off = replace(BLOCKING, policy=replace(BLOCKING.policy, enabled=False))
    assert decide_image_load(user_id=MIKE, user_orgs=[off]).allowed
    audit = replace(BLOCKING, policy=replace(BLOCKING.policy, audit_mode=True))
    would = decide_image_load(user_id=MIKE, user_orgs=[audit])
    assert (would.allowed, would.would_deny) == (True, True)


def test_a_named_organization_decides_loading_for_its_members() -> None:
    assert decide_image_load(
        user_id=MIKE, user_orgs=[BLOCKING, GLOBEX], named_orgs=[GLOBEX]
    ).allowed
    outsider = decide_image_load(user_id=OUTSIDER, user_orgs=[], named_orgs=[BLOCKING])
    assert outsider.allowed  # not a member: the organization does not govern them
