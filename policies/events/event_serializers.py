"""Serializers of the events API: the event list's filters and one decision event."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from imageaccess.input_rules import validate_date_in_range
from imageaccess.pagination import QuerySerializer
from policies.choices import IMAGE_TYPE_LABELS, Outcome
from policies.events.usage_reports import PERIODS, EventFilters
from policies.models import DecisionEvent

# How the schema describes a method field that may answer null.
NULLABLE_TEXT = serializers.CharField(allow_null=True)


class EventFilterSerializer(QuerySerializer):
    """Query parameters of ``GET .../events``: the event list page's filters."""

    user = serializers.CharField(max_length=150, required=False, help_text="A username")
    repository = serializers.CharField(
        max_length=255, required=False, help_text="Docker Hub ``namespace/name``"
    )
    registry = serializers.CharField(
        max_length=255, required=False, help_text="A registry host such as ghcr.io"
    )
    category = serializers.ChoiceField(choices=list(IMAGE_TYPE_LABELS), required=False)
    outcome = serializers.ChoiceField(choices=Outcome.values, required=False)
    enforcer = serializers.ChoiceField(choices=DecisionEvent.Enforcer.values, required=False)
    days = serializers.ChoiceField(
        choices=list(PERIODS), required=False, help_text="Only the last 7, 30 or 90 days"
    )
    day = serializers.DateField(
        required=False,
        help_text="Only this day (UTC), YYYY-MM-DD",
        validators=[validate_date_in_range],
    )

    def filters(self) -> EventFilters:
        """The validated filters (call after ``is_valid()``)."""
        data = self.validated_data
        return EventFilters(
            user=data.get("user", "").strip(),
            repository=data.get("repository", "").strip(),
            registry=data.get("registry", "").strip().lower(),
            category=data.get("category", ""),
            outcome=data.get("outcome", ""),
            enforcer=data.get("enforcer", ""),
            days=data.get("days"),
            day=data.get("day"),
        )


class DecisionEventSerializer(serializers.ModelSerializer):
    """One decision: what was asked, what we answered, for whom, through which enforcer."""

    user = serializers.SerializerMethodField()

    class Meta:
        model = DecisionEvent
        fields = (
            "id",
            "image",
            "reference",
            "registry",
            "category",
            "allowed",
            "would_deny",
            "reason",
            "user",
            "enforcer",
            "client_host",
            "created_at",
        )
        read_only_fields = fields

    @extend_schema_field(NULLABLE_TEXT)
    def get_user(self, event: DecisionEvent) -> str | None:
        """The username at decision time (kept if the account is deleted); null if anonymous."""
        return event.username or None
