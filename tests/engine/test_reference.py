"""Table tests for the image reference parser.

The cases restate, in our own structure, the tables of github.com/distribution/reference
(reference_test.go, normalize_test.go, regexp_test.go) plus the go-digest v1.0.0 error rules,
so a failure here means we would disagree with what `docker pull` accepts or prints.
"""

from __future__ import annotations

import dataclasses
import time

import pytest

from policies.engine.reference import (
    InvalidReference,
    Reference,
    parse,
    parse_docker_ref,
    parse_named,
    parse_normalized_named,
    split_docker_domain,
    tag_name_only,
)

SHA256_F = "sha256:" + "f" * 64
SHA256_BUSYBOX = "sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582"
SHA512_F = "sha512:" + "f" * 128
HEX64 = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a"

INVALID_FORMAT = "invalid reference format"
NAME_UPPERCASE = "repository name must be lowercase"
NAME_EMPTY = "repository name must have at least one component"
NAME_TOO_LONG = "repository name must not be more than 255 characters"
NOT_CANONICAL = "repository name must be canonical"
DIGEST_FORMAT = "invalid checksum digest format"
DIGEST_LENGTH = "invalid checksum digest length"
DIGEST_UNSUPPORTED = "unsupported digest algorithm"


def _lowercase_error(remote: str) -> str:
    return f"invalid reference format: repository name ({remote}) must be lowercase"


def _error_of(func: object, text: str) -> str:
    assert callable(func)
    with pytest.raises(InvalidReference) as info:
        func(text)
    return str(info.value)


# --- normalisation (ParseNormalizedNamed) -------------------------------------------------

# (input, domain, path, tag, digest, familiar string)
NORMALIZED_VALID = [
    ("nginx", "docker.io", "library/nginx", None, None, "nginx"),
    ("nginx:1.27", "docker.io", "library/nginx", "1.27", None, "nginx:1.27"),
    ("library/debian", "docker.io", "library/debian", None, None, "debian"),
    ("docker/docker", "docker.io", "docker/docker", None, None, "docker/docker"),
    ("docker.io/debian", "docker.io", "library/debian", None, None, "debian"),
    ("docker.io/library/debian", "docker.io", "library/debian", None, None, "debian"),
    ("docker.io/docker/docker", "docker.io", "docker/docker", None, None, "docker/docker"),
    ("index.docker.io/debian", "docker.io", "library/debian", None, None, "debian"),
    ("index.docker.io/library/debian", "docker.io", "library/debian", None, None, "debian"),
    ("index.docker.io/docker/docker", "docker.io", "docker/docker", None, None, "docker/docker"),
    # Only index.docker.io is an alias; the real registry host stays as written.
    (
        "registry-1.docker.io/library/nginx",
        "registry-1.docker.io",
        "library/nginx",
        None,
        None,
        "registry-1.docker.io/library/nginx",
    ),
    ("registry-1.docker.io/nginx", "registry-1.docker.io", "nginx", None, None, None),
    ("127.0.0.1:5000/docker/docker", "127.0.0.1:5000", "docker/docker", None, None, None),
    ("127.0.0.1:5000/library/debian", "127.0.0.1:5000", "library/debian", None, None, None),
    ("127.0.0.1:5000/debian", "127.0.0.1:5000", "debian", None, None, None),
    ("192.168.0.1:8/debian", "192.168.0.1:8", "debian", None, None, None),
    ("192.168.0.2:25000/debian", "192.168.0.2:25000", "debian", None, None, None),
    # A lone component is always a Docker Hub image, even when it looks like a host:port.
    ("192.168.0.1", "docker.io", "library/192.168.0.1", None, None, "192.168.0.1"),
    ("192.168.0.1:80", "docker.io", "library/192.168.0.1", "80", None, "192.168.0.1:80"),
    ("localhost", "docker.io", "library/localhost", None, None, "localhost"),
    ("example.com", "docker.io", "library/example.com", None, None, "example.com"),
    ("localhost/foo", "localhost", "foo", None, None, "localhost/foo"),
    ("localhost:5000/foo/bar:tag", "localhost:5000", "foo/bar", "tag", None, None),
    ("[fc00::1]:5000/docker", "[fc00::1]:5000", "docker", None, None, None),
    ("[fc00::1]:5000/docker/docker", "[fc00::1]:5000", "docker/docker", None, None, None),
    (
        "[fc00:1:2:3:4:5:6:7]:5000/library/debian",
        "[fc00:1:2:3:4:5:6:7]:5000",
        "library/debian",
        None,
        None,
        None,
    ),
    ("[2001:db8::1]/repo", "[2001:db8::1]", "repo", None, None, None),
    (
        "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
        "docker.io",
        "library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
        None,
        None,
        "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
    ),
    # A 64-hex name is only refused when bare; with a host it is unambiguous.
    (f"docker.io/{HEX64}", "docker.io", f"library/{HEX64}", None, None, HEX64),
    # Upper case in the first component makes it a host (upstream keeps this on purpose).
    ("Docker/docker", "Docker", "docker", None, None, "Docker/docker"),
    ("DOCKER/docker", "DOCKER", "docker", None, None, "DOCKER/docker"),
    ("Foo/bar", "Foo", "bar", None, None, "Foo/bar"),
    ("Asdf.com/foo/bar", "Asdf.com", "foo/bar", None, None, "Asdf.com/foo/bar"),
    ("docker-rules/docker", "docker.io", "docker-rules/docker", None, None, None),
    ("docker---rules/docker", "docker.io", "docker---rules/docker", None, None, None),
    ("dock__er/docker", "docker.io", "dock__er/docker", None, None, None),
    ("d/docker", "docker.io", "d/docker", None, None, None),
    ("jess/t", "docker.io", "jess/t", None, None, None),
    ("test_com/foo", "docker.io", "test_com/foo", None, None, "test_com/foo"),
    ("test.com/foo", "test.com", "foo", None, None, "test.com/foo"),
    ("test.com:8080/foo", "test.com:8080", "foo", None, None, None),
    ("test-com:8080/foo", "test-com:8080", "foo", None, None, None),
    ("xn--n3h.com/foo", "xn--n3h.com", "foo", None, None, None),
    ("xn--n3h.com:18080/foo", "xn--n3h.com:18080", "foo", None, None, None),
    ("docker.io/library/foo/bar", "docker.io", "library/foo/bar", None, None, "library/foo/bar"),
    ("store/foo/bar", "docker.io", "store/foo/bar", None, None, "store/foo/bar"),
    ("other/library", "docker.io", "other/library", None, None, "other/library"),
    (
        "b.gcr.io/test.example.com/my-app:test.example.com",
        "b.gcr.io",
        "test.example.com/my-app",
        "test.example.com",
        None,
        None,
    ),
    (
        "registry.io/foo/project--id.module--name.ver---sion--name",
        "registry.io",
        "foo/project--id.module--name.ver---sion--name",
        None,
        None,
        None,
    ),
    (
        "lowercase:Uppercase",
        "docker.io",
        "library/lowercase",
        "Uppercase",
        None,
        "lowercase:Uppercase",
    ),
    (
        f"busybox@{SHA256_BUSYBOX}",
        "docker.io",
        "library/busybox",
        None,
        SHA256_BUSYBOX,
        f"busybox@{SHA256_BUSYBOX}",
    ),
    (
        f"busybox:latest@{SHA256_BUSYBOX}",
        "docker.io",
        "library/busybox",
        "latest",
        SHA256_BUSYBOX,
        f"busybox:latest@{SHA256_BUSYBOX}",
    ),
    (
        f"xn--7o8h.com/myimage:xn--7o8h.com@{SHA512_F}",
        "xn--7o8h.com",
        "myimage",
        "xn--7o8h.com",
        SHA512_F,
        None,
    ),
    ("foo@sha384:" + "0" * 96, "docker.io", "library/foo", None, "sha384:" + "0" * 96, None),
    (
        "[2001:db8::1]:5000/repo:tag@" + SHA256_F,
        "[2001:db8::1]:5000",
        "repo",
        "tag",
        SHA256_F,
        None,
    ),
    # The first component contains "." so it is taken as a host, but it is not a valid host
    # name; the whole string is still a valid path, so upstream ends up with no domain at all.
    ("a_b.com/x", "", "a_b.com/x", None, None, "a_b.com/x"),
    # Tags may be upper case and up to 128 characters.
    ("nginx:" + "T" * 128, "docker.io", "library/nginx", "T" * 128, None, None),
]


@pytest.mark.parametrize(
    ("text", "domain", "path", "tag", "digest", "familiar"), NORMALIZED_VALID, ids=lambda v: v
)
def test_parse_normalized_named_fills_in_docker_hub_defaults(
    text: str, domain: str, path: str, tag: str | None, digest: str | None, familiar: str | None
) -> None:
    ref = parse_normalized_named(text)
    assert (ref.domain, ref.path, ref.tag, ref.digest) == (domain, path, tag, digest)
    full_name = f"{domain}/{path}" if domain else path
    assert ref.name == full_name
    expected_str = full_name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
    assert str(ref) == expected_str
    if familiar is not None:
        assert ref.familiar == familiar


# (input, exact message)
NORMALIZED_INVALID = [
    ("", INVALID_FORMAT),  # becomes "docker.io/library/" which has an empty last component
    ("Foo", _lowercase_error("library/Foo")),
    ("Foo:tag", _lowercase_error("library/Foo")),
    ("docker/Docker", _lowercase_error("docker/Docker")),
    ("docker.io/docker/Docker", _lowercase_error("docker/Docker")),
    ("test:5000/Uppercase/lowercase:tag", _lowercase_error("Uppercase/lowercase")),
    ("Uppercase:tag", _lowercase_error("library/Uppercase")),
    ("https://github.com/docker/docker", INVALID_FORMAT),
    ("-docker", INVALID_FORMAT),
    ("-docker/docker", INVALID_FORMAT),
    ("-docker.io/docker/docker", INVALID_FORMAT),
    ("docker-/docker", INVALID_FORMAT),
    ("-docker-/docker", INVALID_FORMAT),
    ("docker///docker", INVALID_FORMAT),
    ("docker.io/docker///docker", INVALID_FORMAT),
    ("____/____", INVALID_FORMAT),
    ("_docker/_docker", INVALID_FORMAT),
    ("dock..er/docker", INVALID_FORMAT),
    ("dock_.er/docker", INVALID_FORMAT),
    ("dock-.er/docker", INVALID_FORMAT),
    ("docker/", INVALID_FORMAT),
    ("[fc00::1]", INVALID_FORMAT),
    ("[fc00::1]:5000", INVALID_FORMAT),
    ("fc00::1:5000/debian", INVALID_FORMAT),
    ("[fe80::1%eth0]:5000/debian", INVALID_FORMAT),
    ("[2001:db8:3:4::192.0.2.33]:5000/debian", INVALID_FORMAT),
    ("[2001:db8::1]:tag", INVALID_FORMAT),
    (":justtag", INVALID_FORMAT),
    ("@" + SHA256_F, INVALID_FORMAT),
    ("aa/asdf$$^/aa", INVALID_FORMAT),
    ("nginx:-tag", INVALID_FORMAT),
    ("nginx:" + "t" * 129, INVALID_FORMAT),
    ("nginx:invalid~tag", INVALID_FORMAT),
    ("localhost:http/name", INVALID_FORMAT),
    ("bad_hostname.com:8080/myapp:tag", INVALID_FORMAT),
    ("nginx@sha256:badbadbadbad", INVALID_FORMAT),  # under 32 hex chars fails the grammar
    ("nginx@2bad" + "a" * 32, INVALID_FORMAT),
    (HEX64, f"invalid repository name ({HEX64}), cannot specify 64-byte hexadecimal strings"),
    # Python's `$` would accept a trailing newline; Go's does not.
    ("nginx\n", INVALID_FORMAT),
    # Go's \w is ASCII-only, so a non-ASCII digit is not a tag character.
    ("nginx:\u0661", INVALID_FORMAT),
    # Digest errors come from go-digest v1.0.0, checked in its order: algorithm, length, hex.
    ("repo@sha256:" + "f" * 34, DIGEST_LENGTH),
    ("repo@sha256:" + "f" * 65, DIGEST_LENGTH),
    ("repo@sha512:" + "f" * 64, DIGEST_LENGTH),
    ("repo@sha256:" + "F" * 64, DIGEST_FORMAT),
    ("repo@sha256:" + "F" * 63, DIGEST_LENGTH),
    ("validname@invaliddigest:" + "f" * 64, DIGEST_UNSUPPORTED),
    ("repo@md5:" + "f" * 32, DIGEST_UNSUPPORTED),
    ("repo@sha256+b64:" + "f" * 64, DIGEST_UNSUPPORTED),
    # go-digest only knows lower-case algorithm names and calls the rest malformed.
    ("repo:tag@SHA256:" + "f" * 64, DIGEST_FORMAT),
    ("repo:tag@sha256:" + "F" * 64, DIGEST_FORMAT),
    # Without a tag the ":" cut lands inside the digest, so the upper case is reported as part
    # of the repository name.
    ("repo@SHA256:" + "f" * 64, _lowercase_error("library/repo@SHA256")),
    # Name length counts "docker.io/library/" too.
    ("a" * 238, NAME_TOO_LONG),
    (
        "_".join(["this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255"] * 4)
        + "/docker",
        NAME_TOO_LONG,
    ),
]


@pytest.mark.parametrize(("text", "message"), NORMALIZED_INVALID, ids=repr)
def test_parse_normalized_named_rejects_with_upstream_message(text: str, message: str) -> None:
    assert _error_of(parse_normalized_named, text) == message


def test_name_length_limit_is_inclusive_and_counts_the_default_domain() -> None:
    # len("docker.io/library/") == 18, so 237 characters is exactly 255.
    assert len(parse_normalized_named("a" * 237).name) == 255
    assert _error_of(parse_normalized_named, "a" * 238) == NAME_TOO_LONG


def test_name_length_is_checked_before_the_digest() -> None:
    assert _error_of(parse_normalized_named, "a" * 238 + "@md5:" + "f" * 32) == NAME_TOO_LONG


def test_invalid_reference_is_a_value_error_whose_text_is_the_message() -> None:
    with pytest.raises(ValueError, match=r"^invalid reference format$"):
        parse_normalized_named("-docker")


def test_failures_are_not_cached() -> None:
    for _ in range(3):
        assert _error_of(parse_normalized_named, "Foo") == _lowercase_error("library/Foo")


# --- Go case-mapping details ----------------------------------------------------------------


def test_dotted_capital_i_lowercases_like_go_and_reports_uppercase() -> None:
    # Go maps U+0130 to plain "i", so the lower-cased text is a valid reference and upstream
    # reports upper case rather than a format error.
    assert _error_of(parse, "foo\u0130") == NAME_UPPERCASE
    assert _error_of(parse_normalized_named, "foo\u0130") == _lowercase_error("library/foo\u0130")


def test_kelvin_sign_counts_as_uppercase_k() -> None:
    assert _error_of(parse, "\u212a8s") == NAME_UPPERCASE


def test_non_latin_letters_without_ascii_lowercase_are_a_format_error() -> None:
    assert _error_of(parse, "caf\u00e9") == INVALID_FORMAT
    assert _error_of(parse, "\u03a3x") == INVALID_FORMAT


# --- ParseDockerRef -----------------------------------------------------------------------

DOCKER_REF = [
    ("busybox", "docker.io/library/busybox:latest"),
    ("busybox:latest", "docker.io/library/busybox:latest"),
    (f"busybox@{SHA256_BUSYBOX}", f"docker.io/library/busybox@{SHA256_BUSYBOX}"),
    ("library/busybox", "docker.io/library/busybox:latest"),
    ("docker.io/busybox", "docker.io/library/busybox:latest"),
    ("docker.io/library/busybox", "docker.io/library/busybox:latest"),
    ("docker.io/busybox:latest", "docker.io/library/busybox:latest"),
    ("library/busybox:latest", "docker.io/library/busybox:latest"),
    ("docker.io/library/busybox:latest", "docker.io/library/busybox:latest"),
    ("gcr.io/library/busybox", "gcr.io/library/busybox:latest"),
    (
        f"gcr.io/library/busybox:latest@{SHA256_BUSYBOX}",
        f"gcr.io/library/busybox@{SHA256_BUSYBOX}",
    ),
    (f"busybox:1.36@{SHA256_BUSYBOX}", f"docker.io/library/busybox@{SHA256_BUSYBOX}"),
    ("index.docker.io/nginx:1.27", "docker.io/library/nginx:1.27"),
    ("localhost:5000/app", "localhost:5000/app:latest"),
]


@pytest.mark.parametrize(("text", "expected"), DOCKER_REF, ids=lambda v: v)
def test_parse_docker_ref_defaults_latest_and_lets_digest_win(text: str, expected: str) -> None:
    ref = parse_docker_ref(text)
    assert str(ref) == expected
    # The result must itself be a valid raw reference, as upstream's test demands.
    assert str(parse(str(ref))) == expected


def test_parse_docker_ref_drops_the_tag_when_a_digest_is_present() -> None:
    ref = parse_docker_ref(f"nginx:1.27@{SHA256_F}")
    assert (ref.tag, ref.digest) == (None, SHA256_F)


def test_parse_docker_ref_propagates_normalisation_errors() -> None:
    assert _error_of(parse_docker_ref, "Foo") == _lowercase_error("library/Foo")


def test_tag_name_only_leaves_tagged_and_digested_references_alone() -> None:
    bare = parse_normalized_named("nginx")
    assert tag_name_only(bare).tag == "latest"
    tagged = parse_normalized_named("nginx:1")
    assert tag_name_only(tagged) is tagged
    digested = parse_normalized_named(f"nginx@{SHA256_F}")
    assert tag_name_only(digested) is digested


# --- ParseNamed -----------------------------------------------------------------------------

PARSE_NAMED = [
    ("docker.io/library/nginx", None),
    ("docker.io/library/nginx:1.27", None),
    (f"docker.io/library/nginx:1.27@{SHA256_F}", None),
    ("docker.io/foo/bar", None),
    ("ghcr.io/org/app:v1", None),
    ("localhost:5000/app", None),
    ("Foo/bar", None),
    ("nginx", NOT_CANONICAL),
    ("nginx:1.27", NOT_CANONICAL),
    ("library/nginx", NOT_CANONICAL),
    ("docker.io/nginx", NOT_CANONICAL),
    ("index.docker.io/library/nginx", NOT_CANONICAL),
    ("Foo", _lowercase_error("library/Foo")),
    ("-x", INVALID_FORMAT),
]


@pytest.mark.parametrize(("text", "message"), PARSE_NAMED, ids=lambda v: v)
def test_parse_named_accepts_only_canonical_strings(text: str, message: str | None) -> None:
    if message is None:
        assert str(parse_named(text)) == text
    else:
        assert _error_of(parse_named, text) == message


# --- familiar names (TestParseRepositoryInfo) ----------------------------------------------

# (path, familiar name, full name, other spelling or None, domain)
REPOSITORY_INFO = [
    ("fooo/bar", "fooo/bar", "docker.io/fooo/bar", "index.docker.io/fooo/bar", "docker.io"),
    ("library/ubuntu", "ubuntu", "docker.io/library/ubuntu", "library/ubuntu", "docker.io"),
    ("nonlibrary/ubuntu", "nonlibrary/ubuntu", "docker.io/nonlibrary/ubuntu", None, "docker.io"),
    ("other/library", "other/library", "docker.io/other/library", None, "docker.io"),
    (
        "private/moonbase",
        "127.0.0.1:8000/private/moonbase",
        "127.0.0.1:8000/private/moonbase",
        None,
        "127.0.0.1:8000",
    ),
    (
        "privatebase",
        "127.0.0.1:8000/privatebase",
        "127.0.0.1:8000/privatebase",
        None,
        "127.0.0.1:8000",
    ),
    (
        "private/moonbase",
        "example.com/private/moonbase",
        "example.com/private/moonbase",
        None,
        "example.com",
    ),
    ("privatebase", "example.com/privatebase", "example.com/privatebase", None, "example.com"),
    (
        "private/moonbase",
        "example.com:8000/private/moonbase",
        "example.com:8000/private/moonbase",
        None,
        "example.com:8000",
    ),
    (
        "privatebasee",
        "example.com:8000/privatebasee",
        "example.com:8000/privatebasee",
        None,
        "example.com:8000",
    ),
    (
        "library/ubuntu-12.04-base",
        "ubuntu-12.04-base",
        "docker.io/library/ubuntu-12.04-base",
        "index.docker.io/library/ubuntu-12.04-base",
        "docker.io",
    ),
    ("library/foo", "foo", "docker.io/library/foo", "docker.io/foo", "docker.io"),
    ("library/foo/bar", "library/foo/bar", "docker.io/library/foo/bar", None, "docker.io"),
    ("store/foo/bar", "store/foo/bar", "docker.io/store/foo/bar", None, "docker.io"),
    ("bar", "Foo/bar", "Foo/bar", None, "Foo"),
    ("bar", "FOO/bar", "FOO/bar", None, "FOO"),
]


@pytest.mark.parametrize(
    ("path", "familiar", "full", "other", "domain"), REPOSITORY_INFO, ids=lambda v: v
)
def test_every_spelling_of_a_repository_gives_the_same_names(
    path: str, familiar: str, full: str, other: str | None, domain: str
) -> None:
    spellings = [familiar, full] + ([other] if other else [])
    for spelling in spellings:
        ref = parse_normalized_named(spelling)
        assert ref.familiar_name == familiar
        assert str(ref) == full
        assert ref.domain == domain
        assert ref.path == path


def test_familiar_string_keeps_tag_and_digest() -> None:
    short = f"busybox:latest@{SHA256_BUSYBOX}"
    ref = parse_normalized_named(short)
    assert str(ref) == f"docker.io/library/{short}"
    assert ref.familiar == short


def test_familiar_name_of_a_dotted_docker_hub_namespace_is_read_back_as_a_host() -> None:
    # Upstream quirk we keep: the familiar form of docker.io/foo.bar/baz is "foo.bar/baz",
    # which parses as host foo.bar. Callers must store the full name, not the familiar one.
    ref = parse_normalized_named("docker.io/foo.bar/baz")
    assert ref.familiar == "foo.bar/baz"
    assert parse_normalized_named(ref.familiar).domain == "foo.bar"


# --- split_docker_domain --------------------------------------------------------------------

SPLIT = [
    ("nginx", ("docker.io", "library/nginx")),
    ("nginx:1.27", ("docker.io", "library/nginx:1.27")),
    ("foo/bar", ("docker.io", "foo/bar")),
    ("docker.io/foo", ("docker.io", "library/foo")),
    ("docker.io/foo/bar", ("docker.io", "foo/bar")),
    ("index.docker.io/foo", ("docker.io", "library/foo")),
    ("registry-1.docker.io/foo", ("registry-1.docker.io", "foo")),
    ("localhost/foo", ("localhost", "foo")),
    ("localhost", ("docker.io", "library/localhost")),
    ("example.com", ("docker.io", "library/example.com")),
    ("host:5000/a/b", ("host:5000", "a/b")),
    ("[::1]:5000/a", ("[::1]:5000", "a")),
    ("Foo/bar", ("Foo", "bar")),
    ("DOCKER.IO/foo", ("DOCKER.IO", "foo")),
]


@pytest.mark.parametrize(("text", "expected"), SPLIT, ids=lambda v: str(v))
def test_split_docker_domain_decides_host_like_upstream(
    text: str, expected: tuple[str, str]
) -> None:
    assert split_docker_domain(text) == expected


# --- raw Parse (reference_test.go TestReferenceParse) ---------------------------------------

# (input, domain, path, tag, digest) -- domain "" means none.
RAW_VALID = [
    ("test_com", "", "test_com", None, None),
    ("test.com:tag", "", "test.com", "tag", None),
    ("test.com:5000", "", "test.com", "5000", None),
    ("test.com/repo:tag", "test.com", "repo", "tag", None),
    ("test:5000/repo", "test:5000", "repo", None, None),
    ("test:5000/repo:tag", "test:5000", "repo", "tag", None),
    (f"test:5000/repo@{SHA256_F}", "test:5000", "repo", None, SHA256_F),
    (f"test:5000/repo:tag@{SHA256_F}", "test:5000", "repo", "tag", SHA256_F),
    ("lowercase:Uppercase", "", "lowercase", "Uppercase", None),
    (
        "a/" * 127 + "a:tag-puts-this-over-max",
        "a",
        "a/" * 126 + "a",
        "tag-puts-this-over-max",
        None,
    ),
    ("sub-dom1.foo.com/bar/baz/quux", "sub-dom1.foo.com", "bar/baz/quux", None, None),
    (
        "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
        "sub-dom1.foo.com",
        "bar/baz/quux",
        "some-long-tag",
        None,
    ),
    ("xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com", "myimage", "xn--n3h.com", None),
    ("foo_bar.com:8080", "", "foo_bar.com", "8080", None),
    ("foo/foo_bar.com:8080", "foo", "foo_bar.com", "8080", None),
    ("192.168.1.1", "", "192.168.1.1", None, None),
    ("192.168.1.1:tag", "", "192.168.1.1", "tag", None),
    ("192.168.1.1:5000", "", "192.168.1.1", "5000", None),
    ("192.168.1.1/repo", "192.168.1.1", "repo", None, None),
    ("192.168.1.1:5000/repo", "192.168.1.1:5000", "repo", None, None),
    ("192.168.1.1:5000/repo:5050", "192.168.1.1:5000", "repo", "5050", None),
    ("[2001:db8::1]/repo", "[2001:db8::1]", "repo", None, None),
    ("[2001:db8:1:2:3:4:5:6]/repo:tag", "[2001:db8:1:2:3:4:5:6]", "repo", "tag", None),
    ("[2001:db8::1]:5000/repo", "[2001:db8::1]:5000", "repo", None, None),
    ("[2001:db8::1]:5000/repo:tag", "[2001:db8::1]:5000", "repo", "tag", None),
    (f"[2001:db8::1]:5000/repo@{SHA256_F}", "[2001:db8::1]:5000", "repo", None, SHA256_F),
    ("[2001:db8::]:5000/repo", "[2001:db8::]:5000", "repo", None, None),
    ("[::1]:5000/repo", "[::1]:5000", "repo", None, None),
    # "localhost:8080" without a slash is a name plus tag, not a host.
    (f"localhost:8080@{SHA256_F}", "", "localhost", "8080", SHA256_F),
    (f"localhost@{SHA256_F}", "", "localhost", None, SHA256_F),
    ("simple/name", "simple", "name", None, None),
    ("docker/stevvooe/app", "docker", "stevvooe/app", None, None),
    ("foo.com:8080/bar", "foo.com:8080", "bar", None, None),
    (
        "example.com/some_separator__underscore/myimage",
        "example.com",
        "some_separator__underscore/myimage",
        None,
        None,
    ),
    ("do__cker/docker", "", "do__cker/docker", None, None),
    ("aa-a/a", "aa-a", "a", None, None),
]


@pytest.mark.parametrize(("text", "domain", "path", "tag", "digest"), RAW_VALID, ids=repr)
def test_raw_parse_splits_without_normalising(
    text: str, domain: str, path: str, tag: str | None, digest: str | None
) -> None:
    ref = parse(text)
    assert (ref.domain, ref.path, ref.tag, ref.digest) == (domain, path, tag, digest)
    assert str(ref) == text


RAW_INVALID = [
    ("", NAME_EMPTY),
    (":justtag", INVALID_FORMAT),
    ("@" + SHA256_F, INVALID_FORMAT),
    ("repo@sha256:" + "f" * 34, DIGEST_LENGTH),
    ("validname@invaliddigest:" + "f" * 64, DIGEST_UNSUPPORTED),
    ("Uppercase:tag", NAME_UPPERCASE),
    ("test:5000/Uppercase/lowercase:tag", NAME_UPPERCASE),
    ("Foo/FarB", NAME_UPPERCASE),
    ("a/" * 128 + "a:tag", NAME_TOO_LONG),
    # The grammar alone accepts this 257-character name; only the length check refuses it.
    ("a/" * 128 + "a", NAME_TOO_LONG),
    ("aa/asdf$$^/aa", INVALID_FORMAT),
    ("[2001:db8::1]", INVALID_FORMAT),
    ("[2001:db8::1]:5000", INVALID_FORMAT),
    ("[2001:db8::1]:tag", INVALID_FORMAT),
    ("[fe80::1%eth0]:5000/repo", INVALID_FORMAT),
    ("[fe80::1%@invalidzone]:5000/repo", INVALID_FORMAT),
    ("a/a/a/a/", INVALID_FORMAT),
    ("a//a/a", INVALID_FORMAT),
    ("foo.com/", INVALID_FORMAT),
    ("foo.com:http/bar", INVALID_FORMAT),
    ("a^a", INVALID_FORMAT),
    ("a-/a/a/a", INVALID_FORMAT),
    ("foo.com/a-/a/a", INVALID_FORMAT),
    ("foo/bar-", INVALID_FORMAT),
    ("foo/-bar", INVALID_FORMAT),
    ("foo_bar.com:8080/app", INVALID_FORMAT),
    ("docker_/docker_", INVALID_FORMAT),
    ("example.com/__underscore/myimage", INVALID_FORMAT),
    ("example.com/..dots/myimage", INVALID_FORMAT),
    ("example.com/.dots/myimage", INVALID_FORMAT),
    ("example.com/nodouble..dots/myimage", INVALID_FORMAT),
    ("docker./docker", INVALID_FORMAT),
    (".docker/docker", INVALID_FORMAT),
    ("do__cker:8080/docker", INVALID_FORMAT),
    ("registry.com:8080/myapp@sha256:badbadbadbad", INVALID_FORMAT),
    ("registry.com:8080/myapp@bad", INVALID_FORMAT),
    ("registry.com:8080/myapp@2bad", INVALID_FORMAT),
]


@pytest.mark.parametrize(("text", "message"), RAW_INVALID, ids=repr)
def test_raw_parse_rejects_with_upstream_message(text: str, message: str) -> None:
    assert _error_of(parse, text) == message


# (host, accepted as a registry host)
DOMAINS = [
    ("test.com", True),
    ("test.com:10304", True),
    ("test.com:http", False),
    ("localhost", True),
    ("localhost:8080", True),
    ("a", True),
    ("a.b", True),
    ("ab.cd.com", True),
    ("a-b.com", True),
    ("-ab.com", False),
    ("ab-.com", False),
    ("ab.c-om", True),
    ("ab.-com", False),
    ("ab.com-", False),
    ("0101.com", True),
    ("001a.com", True),
    ("b.gbc.io:443", True),
    ("xn--n3h.com", True),
    ("Asdf.com", True),
    ("192.168.1.1:75050", True),  # ports are not range-checked
    ("[fd00:1:2::3]:75050", True),
    ("[fd00:1:2::3]75050", False),
    ("[fd00:1:2::3]::75050", False),
    ("[fd00:1:2::3%eth0]:75050", False),
    ("[fd00123123123]:75050", True),  # brackets are checked, not the address itself
    ("[2001:0db8:85a3:0000:0000:8a2e:0370:7334]:75050", True),
    ("fd00:1:2::3:75050", False),
]


@pytest.mark.parametrize(("host", "accepted"), DOMAINS, ids=repr)
def test_registry_host_grammar_matches_upstream(host: str, accepted: bool) -> None:
    try:
        domain: str | None = parse(f"{host}/repo").domain
    except InvalidReference:
        domain = None
    assert (domain == host) is accepted


# --- the Reference value --------------------------------------------------------------------


def test_reference_is_an_immutable_hashable_value() -> None:
    ref = parse_normalized_named("nginx:1")
    assert ref == Reference("docker.io", "library/nginx", "1", None)
    assert hash(ref) == hash(Reference("docker.io", "library/nginx", "1", None))
    with pytest.raises(dataclasses.FrozenInstanceError):
        ref.tag = "2"  # type: ignore[misc]


def test_reference_without_domain_uses_the_path_as_its_name() -> None:
    ref = Reference("", "nginx", "1", None)
    assert (ref.name, ref.familiar_name, str(ref), ref.familiar) == (
        "nginx",
        "nginx",
        "nginx:1",
        "nginx:1",
    )


def test_long_hostile_input_is_rejected_quickly() -> None:
    hostile = "a." * 5000 + "-" + "a-" * 5000 + "!"
    start = time.perf_counter()
    with pytest.raises(InvalidReference):
        parse_normalized_named(hostile)
    assert time.perf_counter() - start < 1.0
