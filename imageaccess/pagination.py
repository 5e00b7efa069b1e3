"""Cursor pagination shared by the list endpoints of every API, and their query parameters."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.dateparse import parse_datetime
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request

from imageaccess.fields import StrictSerializer
from imageaccess.input_rules import validate_datetime_in_range


class NewestFirstPagination(CursorPagination):
    """Cursor pages, newest first: stable while new rows arrive, cheap at any depth.

    A cursor or page size that does not parse is a 400 naming the parameter, not DRF's 404
    or a silent fallback.
    """

    ordering = "-created_at"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if not 1 <= size <= self.max_page_size:
            raise serializers.ValidationError(
                {"page_size": f"must be a whole number from 1 to {self.max_page_size}"}
            )
        return size

    def decode_cursor(self, request: Request) -> Cursor | None:
        """The cursor of ``?cursor=``, checked through: a 400 for anything we did not issue.

        DRF checks the offset and direction but passes the position to the database as it
        came, where a text that is no time, or a time beyond the calendar, fails the query.
        The position is the ``created_at`` of a row, so it must read as a time with an offset.
        """
        invalid = serializers.ValidationError(
            {"cursor": "invalid cursor: follow a page's next or previous link"}
        )
        try:
            cursor: Cursor | None = super().decode_cursor(request)
        except NotFound:
            raise invalid from None
        if cursor is None or cursor.position is None:
            return cursor
        try:
            position = parse_datetime(str(cursor.position))
        except ValueError:  # the right shape, but no such day or hour
            raise invalid from None
        if position is None or position.tzinfo is None:
            raise invalid
        try:
            validate_datetime_in_range(position)
        except DjangoValidationError:
            raise invalid from None
        return cursor


class QuerySerializer(StrictSerializer):
    """Query parameters of a paginated list: the pagination's own are allowed too."""

    extra_allowed = ("cursor", "page_size")
