"""SARIF 2.1.0 output for ``imageaccess check`` (read by code-scanning tools).

One run whose ``tool.driver`` is ``imageaccess`` with a fixed rule per image category
(``image-access/official``, ``image-access/verified_publisher``, ``image-access/community``)
plus ``image-access/sign-in-required``, ``image-access/invalid-reference`` and
``image-access/scan-error``; a category a newer server invents gets a generic rule on the fly.

Each finding is a result at its physical location: ``artifactLocation.uri`` is relative to the
current directory with forward slashes and ``uriBaseId`` ``%SRCROOT%`` (the checkout root, when
the command runs there, as CI does), so GitHub code scanning annotates the offending line.
Denials are ``error``, audit-mode would-denials ``warning``. Allowed images produce no result.

Standard library only; validated against the OASIS schema in ``tests/enforcers/cli/schemas``.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from policies.enforcers.cli.check import Finding

__all__ = ["RULES", "SCHEMA_URI", "SRCROOT", "artifact_location", "build_log"]

SCHEMA_URI = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
SRCROOT = "%SRCROOT%"

_FIX = (
    "Use an image the organization allows, or ask an owner of the organization for a "
    "repository exception. Owners choose which image types are allowed on the Image access "
    "page of the console."
)

# rule id -> (name, short description, full description). Written in our own words.
RULES: dict[str, tuple[str, str, str]] = {
    "image-access/official": (
        "OfficialImageDenied",
        "Docker Official Image not allowed by the image access policy",
        "The image is a Docker Official Image (library/...), and the organization's image "
        "access policy does not let members pull Docker Official Images.",
    ),
    "image-access/verified_publisher": (
        "VerifiedPublisherImageDenied",
        "Verified publisher image not allowed by the image access policy",
        "The image belongs to a namespace in the verified publisher catalog, and the "
        "organization's image access policy does not let members pull verified publisher "
        "images.",
    ),
    "image-access/community": (
        "CommunityImageDenied",
        "Community image not allowed by the image access policy",
        "The image is published by an individual or organization that is neither Docker "
        "Official nor a verified publisher, and the organization's image access policy does "
        "not let members pull community images.",
    ),
    "image-access/sign-in-required": (
        "SignInRequired",
        "Pulling requires signing in as a member of the organization",
        "The organization only allows pulls by its members, and the token used for the check "
        "does not belong to a member of it.",
    ),
    "image-access/invalid-reference": (
        "InvalidImageReference",
        "Image reference that Docker cannot parse",
        "The image reference is not valid (for example an uppercase repository, a bad tag or "
        "a bad digest), so no pull could succeed and no decision can be made.",
    ),
    "image-access/scan-error": (
        "BuildFileError",
        "Build file that cannot be scanned",
        "The Dockerfile or Compose file has a problem BuildKit or Compose would reject (for "
        "example an undefined variable in FROM, a self-referencing stage or a missing "
        "required variable), so the images it pulls cannot be known.",
    ),
}

_HELP: dict[str, str] = {
    "image-access/sign-in-required": "Run the check with the personal access token of a member "
    "of the organization, or ask an owner to invite the token's user.",
    "image-access/invalid-reference": "Fix the reference: repositories are lowercase, tags "
    "match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}, digests are algorithm:hex.",
    "image-access/scan-error": "Fix the build file, or pass the missing values with "
    "--build-arg, --env-file or the environment.",
}


def _rule(rule_id: str) -> dict[str, Any]:
    if rule_id in RULES:
        name, short, full = RULES[rule_id]
    else:  # a category this client does not know yet: still a valid, readable rule
        category = rule_id.rsplit("/", 1)[-1]
        words = category.replace("_", " ")
        name = "".join(part.capitalize() for part in category.split("_")) + "ImageDenied"
        short = f"{words.capitalize()} image not allowed by the image access policy"
        full = f"The organization's image access policy does not allow {words} images."
    help_text = _HELP.get(rule_id, _FIX)
    return {
        "id": rule_id,
        "name": name,
        "shortDescription": {"text": short},
        "fullDescription": {"text": full},
        "help": {"text": help_text, "markdown": help_text},
        "defaultConfiguration": {"level": "error"},
        "properties": {"tags": ["image-access", "supply-chain"]},
    }


def artifact_location(file: str, cwd: str | None = None) -> dict[str, str]:
    """``artifactLocation`` for ``file``: relative to ``cwd`` under ``%SRCROOT%`` when inside it.

    A file outside the current directory gets an absolute ``file://`` URI instead, since a
    ``../`` path would escape the source root that code-scanning tools resolve against.
    """
    base = os.path.abspath(cwd or os.getcwd())
    absolute = os.path.abspath(file)
    relative = os.path.relpath(absolute, base)
    if relative == os.pardir or relative.startswith(os.pardir + os.sep):
        return {"uri": Path(absolute).as_uri()}
    posix = relative.replace(os.sep, "/")
    return {"uri": urllib.parse.quote(posix, safe="/"), "uriBaseId": SRCROOT}


def _directory_uri(path: str) -> str:
    # SARIF wants a base URI that ends in "/" so relative URIs resolve beneath it.
    uri = Path(path).as_uri()
    return uri if uri.endswith("/") else uri + "/"


def _result(finding: Finding, rule_index: int, cwd: str) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": artifact_location(finding.file, cwd)}
    if finding.line is not None:
        physical["region"] = {"startLine": finding.line}
    result: dict[str, Any] = {
        "ruleId": finding.rule_id,
        "ruleIndex": rule_index,
        "level": "warning" if finding.kind == "would-deny" else "error",
        "message": {"text": finding.message},
        "locations": [{"physicalLocation": physical}],
    }
    decision = finding.decision
    if decision is not None and "error" not in decision:
        result["properties"] = {
            "image": finding.image,
            "reference": decision.get("reference"),
            "category": decision.get("category"),
            "org": decision.get("org"),
            "wouldDeny": bool(decision.get("would_deny", False)),
        }
    elif finding.image is not None:
        result["properties"] = {"image": finding.image}
    return result


def build_log(
    findings: Sequence[Finding],
    *,
    information_uri: str,
    version: str,
    exit_code: int,
    cwd: str | None = None,
) -> dict[str, Any]:
    """The SARIF log for ``findings`` (as ``check.build_report`` builds them)."""
    base = os.path.abspath(cwd or os.getcwd())
    rule_ids = list(RULES)
    rule_ids += sorted({f.rule_id for f in findings} - set(RULES))
    index = {rule_id: i for i, rule_id in enumerate(rule_ids)}
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "imageaccess",
                        "informationUri": information_uri,
                        "version": version,
                        "rules": [_rule(rule_id) for rule_id in rule_ids],
                    }
                },
                "originalUriBaseIds": {SRCROOT: {"uri": _directory_uri(base)}},
                "invocations": [{"executionSuccessful": True, "exitCode": exit_code}],
                "results": [_result(f, index[f.rule_id], base) for f in findings],
            }
        ],
    }
