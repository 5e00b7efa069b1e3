"""Container image reference parsing that matches ``github.com/distribution/reference``.

The decision engine compares image references written by people ("nginx", "index.docker.io/
library/nginx:1.27") against policy, so two spellings of the same image must normalise to the
same value, and a string Docker itself rejects must be rejected here with the same message. This
module is a stdlib-only port of the behaviour of distribution/reference v0.6.0 (the release that
Docker, containerd and BuildKit vendor) together with the digest checks of
``github.com/opencontainers/go-digest`` v1.0.0 that it relies on.

Grammar (from upstream)::

    reference        := name [ ":" tag ] [ "@" digest ]
    name             := [domain "/"] remote-name
    domain           := host [":" port-number]
    host             := domain-name | IPv4address | "[" IPv6address "]"
    domain-name      := domain-component ["." domain-component]*
    domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
    remote-name      := path-component ["/" path-component]*
    path-component   := /[a-z0-9]+/ [separator /[a-z0-9]+/]*
    separator        := /[_.]|__|[-]+/
    tag              := /[\\w][\\w.-]{0,127}/
    digest           := algorithm ":" hex   ; algorithm components /[A-Za-z][A-Za-z0-9]*/
                                            ; joined by [-_+.], hex /[0-9a-fA-F]{32,}/
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

__all__ = [
    "DEFAULT_DOMAIN",
    "DEFAULT_TAG",
    "LEGACY_DEFAULT_DOMAIN",
    "NAME_TOTAL_LENGTH_MAX",
    "OFFICIAL_REPO_PREFIX",
    "InvalidReference",
    "Reference",
    "is_repository_name",
    "parse",
    "parse_docker_ref",
    "parse_named",
    "parse_normalized_named",
    "split_docker_domain",
    "tag_name_only",
]

DEFAULT_DOMAIN: Final = "docker.io"
LEGACY_DEFAULT_DOMAIN: Final = "index.docker.io"
OFFICIAL_REPO_PREFIX: Final = "library/"
DEFAULT_TAG: Final = "latest"
NAME_TOTAL_LENGTH_MAX: Final = 255
_LOCALHOST: Final = "localhost"

# Error strings exactly as distribution/reference and go-digest v1.0.0 spell them, because
# users paste them into searches and compare them with what `docker pull` printed.
ERR_REFERENCE_INVALID_FORMAT: Final = "invalid reference format"
ERR_NAME_CONTAINS_UPPERCASE: Final = "repository name must be lowercase"
ERR_NAME_EMPTY: Final = "repository name must have at least one component"
ERR_NAME_TOO_LONG: Final = (
    f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
)
ERR_NAME_NOT_CANONICAL: Final = "repository name must be canonical"
ERR_DIGEST_INVALID_FORMAT: Final = "invalid checksum digest format"
ERR_DIGEST_INVALID_LENGTH: Final = "invalid checksum digest length"
ERR_DIGEST_UNSUPPORTED: Final = "unsupported digest algorithm"


class InvalidReference(ValueError):
    """A string that distribution/reference would reject; ``str(err)`` is upstream's message."""


# --- grammar -------------------------------------------------------------------------------
# Built from the same named pieces as upstream's regexp.go so a reviewer can diff the grammar.
# re.ASCII matters: Go's \w is ASCII-only while Python's is Unicode by default. Every pattern is
# used with fullmatch() because Python's `$` would also accept a trailing newline.
_ALPHANUMERIC = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALPHANUMERIC}(?:{_SEPARATOR}{_ALPHANUMERIC})*"
_REMOTE_NAME = rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_IPV6_ADDRESS = r"\[(?:[a-fA-F0-9:]+)\]"
_HOST = rf"(?:{_DOMAIN_NAME}|{_IPV6_ADDRESS})"
_DOMAIN_AND_PORT = rf"{_HOST}(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9A-Fa-f]{32,}"

# Upstream matches the whole reference first and then re-splits the name part with a second
# anchored regexp. Capturing domain and path in one pass gives the same split (the domain can
# only end at the first "/", and both engines prefer the domain branch) at half the cost.
_REFERENCE_RE: Final = re.compile(
    rf"(?:({_DOMAIN_AND_PORT})/)?({_REMOTE_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?", re.ASCII
)
_IDENTIFIER_RE: Final = re.compile(r"[a-f0-9]{64}", re.ASCII)
# A repository name as a registry writes it: the name part of a reference, nothing after it.
_NAME_RE: Final = re.compile(rf"(?:{_DOMAIN_AND_PORT}/)?{_REMOTE_NAME}", re.ASCII)

# go-digest's own (stricter) grammar, only consulted to choose between "unsupported" and
# "invalid format" for algorithms it does not know.
_GO_DIGEST_RE: Final = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+", re.ASCII)

# Algorithms Docker links in (crypto/sha256 and crypto/sha512), with their hex length.
_DIGEST_ALGORITHMS: Final[dict[str, tuple[int, re.Pattern[str]]]] = {
    "sha256": (64, re.compile(r"[a-f0-9]{64}", re.ASCII)),
    "sha384": (96, re.compile(r"[a-f0-9]{96}", re.ASCII)),
    "sha512": (128, re.compile(r"[a-f0-9]{128}", re.ASCII)),
}

_PARSE_CACHE_SIZE: Final = 8192


def _go_lower(s: str) -> str:
    """Lower-case ``s`` the way Go's ``strings.ToLower`` does.

    Go applies the simple one-rune mapping; Python's ``str.lower`` applies full case mapping,
    which differs only for U+0130 (Go: "i", Python: "i" + combining dot) and for the
    context-dependent final sigma. Either difference can flip whether a lower-cased reference
    matches the grammar, which decides between two different error messages.
    """
    if s.isascii():
        return s.lower()
    return "".join("i" if ch == "\u0130" else ch.lower() for ch in s)


@dataclass(frozen=True, slots=True)
class Reference:
    """A parsed image reference: ``domain/path[:tag][@digest]``.

    ``domain`` is empty only for references from :func:`parse` (no normalisation) or for the
    rare normalised names whose first component looked like a host but was not a valid one.
    """

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """Repository name without tag or digest, e.g. ``docker.io/library/nginx``."""
        return f"{self.domain}/{self.path}" if self.domain else self.path

    @property
    def familiar_name(self) -> str:
        """Short name Docker shows: ``docker.io/`` and a lone ``library/`` removed."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        path = self.path
        if path.startswith(OFFICIAL_REPO_PREFIX):
            rest = path[len(OFFICIAL_REPO_PREFIX) :]
            # Upstream only strips "library/" when it leaves a single component.
            if "/" not in rest:
                return rest
        return path

    @property
    def familiar(self) -> str:
        """Familiar form including tag and digest, e.g. ``nginx:1.27``."""
        return self._with_suffixes(self.familiar_name)

    def _with_suffixes(self, name: str) -> str:
        if self.tag is not None:
            name = f"{name}:{self.tag}"
        if self.digest is not None:
            name = f"{name}@{self.digest}"
        return name

    def __str__(self) -> str:
        """Full reference string: ``name[:tag][@digest]``."""
        return self._with_suffixes(self.name)


def split_docker_domain(name: str) -> tuple[str, str]:
    """Split ``name`` into (domain, remote name), filling in Docker Hub defaults.

    Mirrors upstream's ``splitDockerDomain``: the first component is a domain only when it is
    ``localhost``, contains "." or ":", or contains an upper-case letter; ``index.docker.io``
    folds into ``docker.io``; single-component Docker Hub names gain ``library/``. The input is
    not validated.
    """
    maybe_domain, sep, maybe_remote = name.partition("/")
    if not sep:
        # A bare "example.com" or "localhost" is a Docker Hub image name, not a host (upstream
        # keeps this for compatibility even though it has a FIXME about it).
        return DEFAULT_DOMAIN, OFFICIAL_REPO_PREFIX + name
    if maybe_domain == _LOCALHOST:
        domain, remote = maybe_domain, maybe_remote
    elif maybe_domain == LEGACY_DEFAULT_DOMAIN:
        domain, remote = DEFAULT_DOMAIN, maybe_remote
    elif "." in maybe_domain or ":" in maybe_domain:
        domain, remote = maybe_domain, maybe_remote
    elif _go_lower(maybe_domain) != maybe_domain:
        # Namespaces cannot contain capitals, so upstream reads such a component as a host.
        domain, remote = maybe_domain, maybe_remote
    else:
        domain, remote = DEFAULT_DOMAIN, name
    if domain == DEFAULT_DOMAIN and "/" not in remote:
        remote = OFFICIAL_REPO_PREFIX + remote
    return domain, remote


def _validate_digest(digest: str) -> None:
    """Apply go-digest v1.0.0 ``Digest.Validate`` to an already grammar-checked digest."""
    index = digest.find(":")
    if index <= 0 or index + 1 == len(digest):
        raise InvalidReference(ERR_DIGEST_INVALID_FORMAT)
    algorithm, encoded = digest[:index], digest[index + 1 :]
    spec = _DIGEST_ALGORITHMS.get(algorithm)
    if spec is None:
        if _GO_DIGEST_RE.fullmatch(digest) is None:
            raise InvalidReference(ERR_DIGEST_INVALID_FORMAT)
        raise InvalidReference(ERR_DIGEST_UNSUPPORTED)
    size, encoded_re = spec
    # go-digest checks the length before the character set, so an upper-case digest of the
    # right length is a "format" error while a short one is a "length" error.
    if len(encoded) != size:
        raise InvalidReference(ERR_DIGEST_INVALID_LENGTH)
    if encoded_re.fullmatch(encoded) is None:
        raise InvalidReference(ERR_DIGEST_INVALID_FORMAT)


def parse(s: str) -> Reference:
    """Parse ``s`` without normalisation, like upstream's ``Parse``.

    ``parse("nginx")`` has an empty domain and path ``nginx``; ``parse("a/b")`` reads ``a`` as
    the domain because the raw grammar allows any host there.
    """
    match = _REFERENCE_RE.fullmatch(s)
    if match is None:
        if not s:
            raise InvalidReference(ERR_NAME_EMPTY)
        lowered = _go_lower(s)
        if lowered != s and _REFERENCE_RE.fullmatch(lowered) is not None:
            raise InvalidReference(ERR_NAME_CONTAINS_UPPERCASE)
        raise InvalidReference(ERR_REFERENCE_INVALID_FORMAT)
    domain, path, tag, digest = match.groups()
    # The limit covers domain and path together (the name group ends where the path ends).
    if match.end(2) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidReference(ERR_NAME_TOO_LONG)
    if digest is not None:
        _validate_digest(digest)
    return Reference(domain or "", path, tag, digest)


@lru_cache(maxsize=_PARSE_CACHE_SIZE)
def _parse_normalized_cached(s: str) -> Reference:
    # Cached because the same few references are looked up on every policy decision; a
    # frozen Reference is safe to share, and failures raise so they are never cached.
    if _IDENTIFIER_RE.fullmatch(s) is not None:
        raise InvalidReference(
            f"invalid repository name ({s}), cannot specify 64-byte hexadecimal strings"
        )
    domain, remainder = split_docker_domain(s)
    remote = remainder.partition(":")[0]
    if _go_lower(remote) != remote:
        raise InvalidReference(
            f"{ERR_REFERENCE_INVALID_FORMAT}: repository name ({remote}) must be lowercase"
        )
    return parse(f"{domain}/{remainder}")


def parse_normalized_named(s: str) -> Reference:
    """Parse a familiar or full reference into its fully qualified form.

    Like upstream's ``ParseNormalizedNamed``: ``"nginx:1.27"`` becomes domain ``docker.io``,
    path ``library/nginx``, tag ``1.27``. Tag and digest are kept as given.

    Raises:
        InvalidReference: with distribution/reference's message.
    """
    return _parse_normalized_cached(s)


def tag_name_only(ref: Reference) -> Reference:
    """Add the ``latest`` tag to a reference that has neither tag nor digest (``TagNameOnly``)."""
    if ref.tag is None and ref.digest is None:
        return Reference(ref.domain, ref.path, DEFAULT_TAG, None)
    return ref


def parse_docker_ref(s: str) -> Reference:
    """Parse like upstream's ``ParseDockerRef``: normalised, tagged or digested, never both.

    A bare name gets ``:latest``; when both a tag and a digest are given the digest wins and
    the tag is dropped, because the digest is what the engine actually pulls.

    Raises:
        InvalidReference: with distribution/reference's message.
    """
    ref = parse_normalized_named(s)
    if ref.tag is not None and ref.digest is not None:
        return Reference(ref.domain, ref.path, None, ref.digest)
    return tag_name_only(ref)


def is_repository_name(name: str) -> bool:
    """Whether ``name`` is a repository name of the grammar: ``[domain[:port]/]path``.

    What a registry puts in a token scope (``repository:library/nginx:pull``): no tag, no
    digest, lowercase path components, at most ``NAME_TOTAL_LENGTH_MAX`` characters. The name
    is not normalised (``nginx`` is a valid name as it stands).
    """
    return len(name) <= NAME_TOTAL_LENGTH_MAX and _NAME_RE.fullmatch(name) is not None


def parse_named(s: str) -> Reference:
    """Parse a reference that must already be in canonical form (upstream's ``ParseNamed``).

    ``"docker.io/library/nginx"`` parses; ``"nginx"`` raises "repository name must be
    canonical".

    Raises:
        InvalidReference: with distribution/reference's message.
    """
    ref = parse_normalized_named(s)
    if str(ref) != s:
        raise InvalidReference(ERR_NAME_NOT_CANONICAL)
    return ref
