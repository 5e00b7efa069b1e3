"""Serializers for the events and access requests REST API."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from imageaccess.fields import StringField
from imageaccess.input_rules import validate_date_in_range, validate_multiline
from policies.models import AccessRequest, DecisionEvent, Outcome
from policies.reports import CATEGORY_LABELS, PERIODS, EventFilters
from policies.requests import IMAGE_TYPES, MAX_COMMENT, MAX_JUSTIFICATION

# How the schema describes a method field that may answer null.
NULLABLE_TEXT = serializers.CharField(allow_null=True)


class StrictSerializer(serializers.Serializer):
    """Refuses keys it does not know, naming the first: a typo must not be silently ignored."""

    extra_allowed: tuple[str, ...] = ()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        data = self.initial_data
        keys = data.keys() if hasattr(data, "keys") else ()
        unknown = sorted(set(keys) - set(self.fields) - set(self.extra_allowed))
        if unknown:
            expected = ", ".join([*self.fields, *self.extra_allowed])
            raise serializers.ValidationError({unknown[0]: f"unknown field (expected {expected})"})
        return attrs


class QuerySerializer(StrictSerializer):
    """Query parameters of a paginated list: the pagination's own are allowed too."""

    extra_allowed = ("cursor", "page_size")


class EventFilterSerializer(QuerySerializer):
    """Query parameters of ``GET .../events``: the event list page's filters."""

    user = serializers.CharField(max_length=150, required=False, help_text="A username")
    repository = serializers.CharField(
        max_length=255, required=False, help_text="Docker Hub ``namespace/name``"
    )
    category = serializers.ChoiceField(choices=list(CATEGORY_LABELS), required=False)
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
            "category",
            "allowed",
            "would_deny",
            "reason",
            "user",
            "enforcer",
            "created_at",
        )
        read_only_fields = fields

    @extend_schema_field(NULLABLE_TEXT)
    def get_user(self, event: DecisionEvent) -> str | None:
        """The username at decision time (kept if the account is deleted); null if anonymous."""
        return event.username or None


class AccessRequestSerializer(serializers.ModelSerializer):
    """An access request as members and owners read it."""

    requester = serializers.SerializerMethodField()
    decided_by = serializers.SerializerMethodField()
    exception_id = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = AccessRequest
        fields = (
            "id",
            "kind",
            "value",
            "justification",
            "status",
            "requester",
            "created_at",
            "decided_by",
            "decided_at",
            "comment",
            "exception_id",
        )
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.STR)
    def get_requester(self, request: AccessRequest) -> str:
        return request.requester.get_username()

    @extend_schema_field(NULLABLE_TEXT)
    def get_decided_by(self, request: AccessRequest) -> str | None:
        return request.decided_by.get_username() if request.decided_by else None


TARGETS = ("repository", "namespace", "image_type")


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "A repository",
            value={"repository": "someuser/custom-image", "justification": "build tooling"},
            request_only=True,
        ),
        OpenApiExample(
            "A namespace",
            value={"namespace": "bitnami", "justification": "our charts use bitnami images"},
            request_only=True,
        ),
        OpenApiExample(
            "An image type",
            value={"image_type": "community", "justification": "evaluation project"},
            request_only=True,
        ),
    ]
)
class AccessRequestCreateSerializer(StrictSerializer):
    """Exactly one of ``repository``, ``namespace`` or ``image_type``, with a ``justification``.

    Names are checked by the service (``policies.requests``) so the API and the page refuse
    the same input with the same message.
    """

    repository = StringField(
        max_length=600,
        required=False,
        help_text="``namespace/name``; ``namespace/*`` asks for the whole namespace",
    )
    namespace = StringField(max_length=255, required=False)
    image_type = serializers.ChoiceField(choices=list(IMAGE_TYPES), required=False)
    justification = StringField(
        max_length=MAX_JUSTIFICATION,
        error_messages={"required": "say why you need it", "blank": "say why you need it"},
        validators=[validate_multiline],
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        given = [name for name in TARGETS if name in attrs]
        if len(given) != 1:
            field = given[1] if given else "repository"
            raise serializers.ValidationError(
                {field: "give exactly one of repository, namespace or image_type"}
            )
        return attrs

    def target(self) -> tuple[str, str]:
        """``(kind, value)`` for ``file_request``."""
        for name in TARGETS:
            if name in self.validated_data:
                return name, self.validated_data[name]
        raise AssertionError("validate() guarantees one target")  # pragma: no cover


class AccessRequestDecisionSerializer(StrictSerializer):
    """Body of ``approve`` and ``decline``: an optional ``comment`` for the requester."""

    comment = StringField(
        max_length=MAX_COMMENT,
        required=False,
        allow_blank=True,
        default="",
        validators=[validate_multiline],
    )


class AccessRequestFilterSerializer(QuerySerializer):
    """Query parameters of ``GET .../access-requests``."""

    status = serializers.ChoiceField(choices=AccessRequest.Status.values, required=False)
