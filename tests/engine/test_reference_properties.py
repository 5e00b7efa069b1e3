"""Property tests for the image reference parser.

Valid references are generated from the upstream grammar, and the expected normalised form is
computed by a small independent model of Docker's rules, so these tests check the parser
against the grammar rather than against itself.
"""

from __future__ import annotations

import re

from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from policies.engine.reference import (
    InvalidReference,
    Reference,
    parse,
    parse_docker_ref,
    parse_named,
    parse_normalized_named,
)

# --- generators built from the grammar ------------------------------------------------------

_alnum = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
_separator = st.sampled_from([".", "_", "__", "-", "--", "---"])


@st.composite
def path_components(draw: st.DrawFn) -> str:
    """One path component: alphanumerics joined by legal separators."""
    parts = [draw(_alnum)]
    for _ in range(draw(st.integers(0, 2))):
        parts += [draw(_separator), draw(_alnum)]
    return "".join(parts)


@st.composite
def hosts(draw: st.DrawFn) -> str:
    """A first component that Docker treats as a registry host (the explicit forms only)."""
    label = st.from_regex(r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?", fullmatch=True)
    port = draw(st.none() | st.integers(0, 99999).map(str))
    kind = draw(st.sampled_from(["dotted", "localhost", "ipv6", "port-only", "uppercase"]))
    if kind == "dotted":
        host = ".".join(draw(st.lists(label, min_size=2, max_size=4)))
    elif kind == "localhost":
        host = "localhost"
    elif kind == "ipv6":
        # Without a ":" the bracketed form would not look like a host at all.
        host = "[" + draw(st.from_regex(r"[a-fA-F0-9]{0,4}:[a-fA-F0-9:]{0,16}", fullmatch=True))
        host += "]"
    elif kind == "port-only":
        host = draw(label)
        port = port or "5000"
    else:
        # A dot-free label with a capital letter is still read as a host.
        host = draw(label.filter(lambda text: text.lower() != text))
    return host if port is None else f"{host}:{port}"


_tags = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)
_digests = st.sampled_from([("sha256", 64), ("sha384", 96), ("sha512", 128)]).flatmap(
    lambda alg: st.text(alphabet="0123456789abcdef", min_size=alg[1], max_size=alg[1]).map(
        lambda hexpart: f"{alg[0]}:{hexpart}"
    )
)


def _looks_like_host(component: str) -> bool:
    return "." in component or ":" in component or component == "localhost"


# The registry host grammar, restated from the upstream documentation.
_VALID_HOST = re.compile(
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
)


@st.composite
def written_references(draw: st.DrawFn) -> tuple[str, Reference]:
    """A reference as a person might write it, and the Reference Docker normalises it to."""
    components = draw(st.lists(path_components(), min_size=1, max_size=4))
    tag = draw(st.none() | _tags)
    digest = draw(st.none() | _digests)
    host = draw(st.none() | hosts() | st.sampled_from(["docker.io", "index.docker.io"]))
    path = "/".join(components)
    if host is None:
        # Model of Docker's rule: without an explicit host, a first component that looks like
        # one is taken as the host, unless it is the only component.
        if len(components) > 1 and _looks_like_host(components[0]):
            if _VALID_HOST.fullmatch(components[0]):
                domain, model_path = components[0], "/".join(components[1:])
            else:
                # e.g. "a_b.com/x": taken as a host, rejected by the host grammar, and then
                # accepted as a plain path, leaving no domain at all.
                domain, model_path = "", path
        else:
            domain, model_path = "docker.io", path
        written = path
    else:
        domain = "docker.io" if host == "index.docker.io" else host
        model_path = path
        written = f"{host}/{path}"
    if domain == "docker.io" and "/" not in model_path:
        model_path = "library/" + model_path
    assume(len(f"{domain}/{model_path}") <= 255)
    if tag is not None:
        written += f":{tag}"
    if digest is not None:
        written += f"@{digest}"
    return written, Reference(domain, model_path, tag, digest)


# --- properties -----------------------------------------------------------------------------


@given(written_references())
@example(("nginx", Reference("docker.io", "library/nginx", None, None)))
@example(("index.docker.io/a/b:t", Reference("docker.io", "a/b", "t", None)))
def test_generated_valid_references_parse_to_the_modelled_normal_form(
    case: tuple[str, Reference],
) -> None:
    written, expected = case
    assert parse_normalized_named(written) == expected


@given(written_references())
def test_normalising_is_idempotent(case: tuple[str, Reference]) -> None:
    ref = parse_normalized_named(case[0])
    assert parse_normalized_named(str(ref)) == ref


@given(written_references())
def test_canonical_string_is_accepted_by_parse_named(case: tuple[str, Reference]) -> None:
    ref = parse_normalized_named(case[0])
    assert parse_named(str(ref)) == ref


def _familiar_round_trips(ref: Reference) -> bool:
    # Known upstream limit: on Docker Hub, a familiar name whose first component looks like a
    # host (docker.io/foo.bar/baz -> "foo.bar/baz") reads back as that host.
    first, sep, _ = ref.familiar_name.partition("/")
    return not (ref.domain == "docker.io" and sep and _looks_like_host(first))


@given(written_references())
def test_familiar_form_round_trips(case: tuple[str, Reference]) -> None:
    ref = parse_normalized_named(case[0])
    assume(_familiar_round_trips(ref))
    assert parse_normalized_named(ref.familiar) == ref


@given(written_references())
def test_docker_ref_is_tagged_or_digested_never_both(case: tuple[str, Reference]) -> None:
    written, expected = case
    ref = parse_docker_ref(written)
    assert (ref.domain, ref.path) == (expected.domain, expected.path)
    if expected.digest is not None:
        assert (ref.tag, ref.digest) == (None, expected.digest)
    else:
        assert (ref.tag, ref.digest) == (expected.tag or "latest", None)


_KNOWN_MESSAGES = {
    "invalid reference format",
    "repository name must be lowercase",
    "repository name must have at least one component",
    "repository name must not be more than 255 characters",
    "repository name must be canonical",
    "invalid checksum digest format",
    "invalid checksum digest length",
    "unsupported digest algorithm",
}
_TEMPLATED_MESSAGES = re.compile(
    r"invalid reference format: repository name \(.*\) must be lowercase"
    r"|invalid repository name \([a-f0-9]{64}\), cannot specify 64-byte hexadecimal strings",
    re.DOTALL,
)

# Characters that make up references, so random strings often land near the valid set.
_near_reference_text = st.text(
    alphabet=st.sampled_from([*"abcxyzAZ019.-_/:@[]%", "\u0130", "\u212a", "\n"]),
    max_size=40,
)


def _check_only_invalid_reference(text: str) -> None:
    for func in (parse, parse_normalized_named, parse_docker_ref, parse_named):
        try:
            func(text)
        except InvalidReference as err:
            message = str(err)
            assert message in _KNOWN_MESSAGES or _TEMPLATED_MESSAGES.fullmatch(message)


@settings(max_examples=300)
@given(st.text(max_size=80))
def test_parsers_raise_only_invalid_reference_on_arbitrary_text(text: str) -> None:
    _check_only_invalid_reference(text)


@settings(max_examples=300)
@given(_near_reference_text)
def test_parsers_raise_only_invalid_reference_on_reference_like_text(text: str) -> None:
    _check_only_invalid_reference(text)


@settings(max_examples=300)
@given(_near_reference_text)
def test_anything_accepted_is_already_a_fixed_point(text: str) -> None:
    try:
        ref = parse_normalized_named(text)
    except InvalidReference:
        return
    assert parse_normalized_named(str(ref)) == ref
    assert parse(str(ref)) == ref
