"""``imageaccess ref``: show how image references normalise, exactly as Docker would.

Runs without Django so it can be used in CI pipelines and pre-commit hooks before a policy
check, to see which repository a reference in a Dockerfile or manifest really points at.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, TextIO

from policies.engine.reference import InvalidReference, parse_docker_ref, parse_normalized_named

if TYPE_CHECKING:
    from policies.engine.reference import Reference

_RESULT_KEYS = ("name", "domain", "path", "tag", "digest", "familiar", "reference")


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``ref`` subcommand on the top-level ``imageaccess`` parser."""
    parser = subparsers.add_parser(
        "ref",
        help="normalise image references the way Docker does",
        description=(
            "Parse each image reference with Docker's rules and print its normalised name, "
            "familiar name and the reference Docker would pull. Exits 1 if any is invalid."
        ),
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object per reference instead of aligned text",
    )
    parser.add_argument("refs", nargs="+", metavar="REF", help="image reference, e.g. nginx:1.27")
    parser.set_defaults(func=run)


def describe(raw: str) -> dict[str, object]:
    """Return the JSON-ready description of one reference, valid or not."""
    result: dict[str, object] = {"input": raw, "valid": False}
    try:
        named = parse_normalized_named(raw)
        docker_ref: Reference = parse_docker_ref(raw)
    except InvalidReference as err:
        result.update(dict.fromkeys(_RESULT_KEYS))
        result["error"] = str(err)
        return result
    result.update(
        valid=True,
        name=named.name,
        domain=named.domain,
        path=named.path,
        tag=named.tag,
        digest=named.digest,
        familiar=named.familiar_name,
        reference=str(docker_ref),
        error=None,
    )
    return result


def _display(text: str) -> str:
    # Arguments can carry newlines, control characters or undecodable bytes (surrogate
    # escapes); quote those so each input still prints as exactly one readable line.
    return text if text.isprintable() else json.dumps(text)


def format_text(results: list[dict[str, object]]) -> list[str]:
    """Render results as lines whose second column starts at the same position."""
    shown = [_display(str(item["input"])) for item in results]
    width = max((len(text) for text in shown), default=0)
    lines = []
    for text, item in zip(shown, results, strict=True):
        if item["valid"]:
            lines.append(f"{text:<{width}} -> {item['reference']}")
        else:
            # "input:" padded so the message lines up with the "->" column of valid lines.
            lines.append(f"{text + ':':<{width + 3}} {_display(str(item['error']))}")
    return lines


def run(args: argparse.Namespace, stdout: TextIO | None = None) -> int:
    """Print one result per reference; return 0 if all are valid, else 1."""
    out = stdout if stdout is not None else sys.stdout
    results = [describe(raw) for raw in args.refs]
    # json.dumps escapes non-ASCII, so the output stays encodable whatever bytes arrived.
    lines = [json.dumps(item) for item in results] if args.json else format_text(results)
    for line in lines:
        print(line, file=out)
    return 0 if all(item["valid"] for item in results) else 1
