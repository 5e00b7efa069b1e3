"""Which Docker Engine API calls pull, run or load images, and which images they name.

dockerd hands an authorization plugin the method, the URI and (for JSON bodies up to 1 MiB)
the body of every API call. Only a few calls bring an image onto the machine or start one:

- ``POST /images/create?fromImage=NAME&tag=TAG``: a pull (``docker pull``, and ``docker run``
  or ``docker compose`` for a missing image). ``fromSrc`` instead is ``docker import``.
- ``POST /containers/create`` with ``{"Image": NAME}``: every container start begins here, so
  an image pulled before the policy changed cannot run after it.
- ``POST /plugins/pull?remote=NAME`` and ``POST /plugins/NAME/upgrade?remote=NAME``.
- ``POST /services/create`` and ``POST /services/ID/update`` (swarm), image in
  ``TaskTemplate.ContainerSpec.Image``.
- ``POST /images/load``: ``docker load`` (the images are inside the tarball, unseen).

Everything else is answered at once without asking anyone. Paths may carry the API version
(``/v1.41/images/create``). Pure Python: tested without a network or a daemon.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import urllib.parse
from dataclasses import dataclass
from typing import Any, Literal

from policies.engine.reference import InvalidReference, parse_normalized_named

CallKind = Literal["pull", "run", "plugin", "service", "load", "import"]

_VERSION_PREFIX = re.compile(r"/v[0-9]+(?:\.[0-9]+)?(?=/)")
_DIGEST = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9A-Fa-f]{32,}")
# What dockerd reads as an image ID rather than a name: sha256:<64 hex> or 64 hex digits.
_FULL_ID = re.compile(r"(?:sha256:)?[0-9a-f]{64}")
_PLUGIN_UPGRADE = re.compile(r"/plugins/[^/]+/upgrade")
_SERVICE_UPDATE = re.compile(r"/services/[^/]+/update")


@dataclass(frozen=True)
class GovernedCall:
    """An API call that pulls, runs or loads images: what it is and the images it names.

    ``problem`` is set when the call is governed but its image cannot be read (a body
    dockerd did not pass on): the call is refused with it.
    """

    kind: CallKind
    images: tuple[str, ...] = ()
    problem: str = ""


def api_path(uri: str) -> tuple[str, dict[str, list[str]]]:
    """The path without the API version prefix, and the query parameters."""
    parts = urllib.parse.urlsplit(uri)
    path = (
        _VERSION_PREFIX.sub("", parts.path, count=1) if parts.path.startswith("/v") else parts.path
    )
    return path.rstrip("/") or "/", urllib.parse.parse_qs(parts.query, keep_blank_values=True)


def pulled_image(from_image: str, tag: str) -> str:
    """The reference a ``fromImage``/``tag`` pair pulls, as dockerd combines them.

    dockerd parses ``fromImage`` and then applies ``tag`` as a digest when it is one, else as
    a tag. A ``fromImage`` that does not parse is returned as given: the decision API then
    answers with the parser's message.
    """
    if not tag:
        return from_image
    try:
        name = parse_normalized_named(from_image).name
    except InvalidReference:
        return from_image
    return f"{name}@{tag}" if _DIGEST.fullmatch(tag) else f"{name}:{tag}"


def is_image_id(value: str) -> bool:
    """Whether dockerd reads ``value`` as an image ID (never as a repository name)."""
    return _FULL_ID.fullmatch(value) is not None


def _first(query: dict[str, list[str]], name: str) -> str:
    values = query.get(name)
    return values[0] if values else ""


def _json_body(encoded: Any) -> Any:
    """The request body as JSON, or None when dockerd passed none or it is not JSON."""
    if not isinstance(encoded, str) or not encoded:
        return None
    try:
        return json.loads(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError):
        return None


def _body_image(body: Any, *path: str) -> str | None:
    node = body
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node if isinstance(node, str) else None


def governed_call(request: dict[str, Any]) -> GovernedCall | None:
    """What an ``AuthZReq`` does to images, or None for a call that involves none."""
    if request.get("RequestMethod") != "POST":
        return None
    uri = request.get("RequestUri")
    if not isinstance(uri, str):
        return None
    path, query = api_path(uri)
    if path == "/images/create":
        from_image = _first(query, "fromImage")
        if from_image:
            return GovernedCall("pull", (pulled_image(from_image, _first(query, "tag")),))
        return GovernedCall("import") if "fromSrc" in query else None
    if path == "/images/load":
        return GovernedCall("load")
    if path == "/plugins/pull" or _PLUGIN_UPGRADE.fullmatch(path):
        remote = _first(query, "remote")
        return GovernedCall("plugin", (remote,)) if remote else None
    if path == "/containers/create":
        return _with_body_image(request, "run", ("Image",))
    if path == "/services/create" or _SERVICE_UPDATE.fullmatch(path):
        return _with_body_image(request, "service", ("TaskTemplate", "ContainerSpec", "Image"))
    return None


def _with_body_image(
    request: dict[str, Any], kind: CallKind, path: tuple[str, ...]
) -> GovernedCall:
    body = _json_body(request.get("RequestBody"))
    if body is None:
        return GovernedCall(kind, problem="the request body was not passed on by dockerd")
    image = _body_image(body, *path)
    # No image: dockerd refuses the call itself (or, for a service update, keeps the image).
    return GovernedCall(kind, (image,) if image else ())
