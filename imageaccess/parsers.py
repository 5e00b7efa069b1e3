"""Request body parsing for the API."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import IO, Any

import orjson
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

from imageaccess.errors import APIError

# No request of the API nests deeper than 3; 32 leaves room for any future shape.
MAX_JSON_DEPTH = 32


# A JSON string (the text is known to parse, so every quote inside one is escaped).
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_A_BRACKET = bytes(byte for byte in range(256) if byte not in b"[]{}")
# Braces become brackets: in text that parses they pair up the same way, so the depth is kept
# and one replace per pass removes one level of both kinds.
_BRACES_AS_BRACKETS = bytes.maketrans(b"{}", b"[]")


def nesting_exceeds(body: bytes, limit: int) -> bool:
    """Whether the JSON text ``body`` (which parses) nests arrays and objects over ``limit`` deep.

    Reads the text, not the parsed value, so the cost stays a few passes of C code over the
    bytes: strings are dropped (brackets inside them do not nest), every other byte that is
    not a bracket or brace is dropped, then each pass removes the empty pairs, one level at a
    time.
    What is left after ``limit`` passes is deeper than ``limit``. Nothing here recurses.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    brackets = _JSON_STRING.sub(b"", body).translate(_BRACES_AS_BRACKETS, _NOT_A_BRACKET)
    for _ in range(limit):
        brackets = brackets.replace(b"[]", b"")
        if not brackets:
            return False
    return True


class StrictJSONParser(BaseParser):
    """JSON with orjson, at most ``MAX_JSON_DEPTH`` levels deep; anything else is a clean 400.

    The standard library parser recurses and raises ``RecursionError`` (a 500) on a body of a
    few thousand nested brackets; orjson stops at depth 1024 with an ordinary error. That is
    still too deep for the rest of Python: a serializer that turns a value into text (DRF's
    ``CharField`` calls ``str()`` on whatever it gets) recurses once per level and fails at
    about 1,000. So the parser refuses any body nested deeper than the API could mean, for
    every field of every endpoint at once.
    """

    media_type = "application/json"

    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        body = stream.read()
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ParseError(str(exc)) from None
        if nesting_exceeds(body, MAX_JSON_DEPTH):
            raise APIError(
                f"request body is nested more than {MAX_JSON_DEPTH} levels deep: "
                "send a JSON object of plain values",
                code="malformed_request",
            )
        return data
