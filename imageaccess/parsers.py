"""Request body parsing for the API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

import orjson
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser


class StrictJSONParser(BaseParser):
    """JSON with orjson: fast, and deep nesting is a clean parse error instead of a crash.

    The standard library parser recurses and raises ``RecursionError`` (a 500) on a body of a
    few thousand nested brackets; orjson stops at depth 1024 with an ordinary error.
    """

    media_type = "application/json"

    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        try:
            return orjson.loads(stream.read())
        except orjson.JSONDecodeError as exc:
            raise ParseError(str(exc)) from None
