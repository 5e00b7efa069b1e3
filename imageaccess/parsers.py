"""Request body parsing for the API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

import orjson
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

from imageaccess.errors import APIError

# No request of the API nests deeper than 3; 32 leaves room for any future shape.
MAX_JSON_DEPTH = 32


def nesting_exceeds(value: Any, limit: int) -> bool:
    """Whether ``value`` holds arrays and objects more than ``limit`` levels deep.

    Walks with its own stack, never by recursion, so that the check itself cannot hit
    Python's recursion limit.
    """
    stack: list[tuple[Any, int]] = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


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
        try:
            data = orjson.loads(stream.read())
        except orjson.JSONDecodeError as exc:
            raise ParseError(str(exc)) from None
        if nesting_exceeds(data, MAX_JSON_DEPTH):
            raise APIError(
                f"request body is nested more than {MAX_JSON_DEPTH} levels deep: "
                "send a JSON object of plain values",
                code="malformed_request",
            )
        return data
