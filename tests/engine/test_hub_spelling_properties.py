"""Property: however Docker Hub's host is spelled, the decision is the same.

Host names are compared without regard to case and with HTTPS's default port removed, since a
daemon reaches the same registry either way. For any valid Hub reference, changing the case of
the host or adding ``:443`` never changes the decision.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from policies.engine.classify import DOCKER_HUB_HOSTS, is_docker_hub, registry_host
from policies.engine.decide import Decision, decide
from policies.engine.reference import parse_docker_ref
from tests.engine.test_decide import ACME, CATALOG, GLOBEX, MIKE, NOW, OLIVIA, ON, OUTSIDER

_alnum = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=6)
_component = st.builds(
    lambda first, rest: first + "".join(sep + part for sep, part in rest),
    _alnum,
    st.lists(st.tuples(st.sampled_from([".", "_", "__", "-"]), _alnum), max_size=2),
)
_namespace = st.sampled_from(["library", "acme", "bitnami", "localstack", "someuser"]) | _component
_path = st.builds(
    lambda first, rest: "/".join([first, *rest]),
    _namespace,
    st.lists(_component, min_size=0, max_size=2),
)
_tag = st.none() | st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,10}", fullmatch=True)
_digest = st.none() | st.text(alphabet="0123456789abcdef", min_size=64, max_size=64).map(
    lambda hexes: f"sha256:{hexes}"
)
ORGS = [ACME, replace(GLOBEX, policy=ON)]


def _respell(host: str, mask: list[bool]) -> str:
    return (
        "".join(c.upper() if up else c for c, up in zip(host, mask, strict=False))
        + host[len(mask) :]
    )


def _image(host: str, path: str, tag: str | None, digest: str | None) -> str:
    return f"{host}/{path}" + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


def _summary(decision: Decision) -> tuple[object, ...]:
    return (
        decision.allowed,
        decision.reason,
        decision.category,
        decision.classification.hub_repository,
        decision.org,
        decision.would_deny,
    )


def _decide(image: str, user: int | None) -> Decision:
    return decide(parse_docker_ref(image), user_id=user, user_orgs=ORGS, catalog=CATALOG, now=NOW)


@given(
    host=st.sampled_from(sorted(DOCKER_HUB_HOSTS)),
    mask=st.lists(st.booleans(), max_size=30),
    port=st.sampled_from(["", ":443", ":0443", ":00443"]),
    path=_path,
    tag=_tag,
    digest=_digest,
    user=st.sampled_from([MIKE, OLIVIA, OUTSIDER, None]),
)
def test_changing_a_hub_hosts_case_or_adding_the_default_port_never_changes_the_decision(
    host: str,
    mask: list[bool],
    port: str,
    path: str,
    tag: str | None,
    digest: str | None,
    user: int | None,
) -> None:
    canonical = _decide(_image("docker.io", path, tag, digest), user)
    respelled = _decide(_image(_respell(host, mask) + port, path, tag, digest), user)
    assert _summary(respelled) == _summary(canonical)


@given(host=st.from_regex(r"[A-Za-z0-9.-]{1,30}(:[0-9]{1,5})?", fullmatch=True))
def test_only_hub_hosts_fold_to_docker_hub(host: str) -> None:
    folded = registry_host(host)
    assert folded == folded.lower()
    assert is_docker_hub(host) == (folded in DOCKER_HUB_HOSTS)
    if ":" in host and int(host.rsplit(":", 1)[1]) != 443:
        assert not is_docker_hub(host)
