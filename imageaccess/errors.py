"""API exceptions, importable from anywhere (authentication classes included)."""

from __future__ import annotations

from rest_framework import exceptions


class APIError(exceptions.APIException):
    """An API error with an explicit status, machine code and human message."""

    def __init__(self, message: str, *, code: str, status_code: int = 400) -> None:
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.error_code = code
