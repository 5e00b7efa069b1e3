"""Serializers for the policies REST API."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, extend_schema_serializer
from rest_framework import serializers

from imageaccess.fields import SlugStringField, StringField
from imageaccess.input_rules import validate_datetime_in_range, validate_single_line
from policies.models import ImageAccessPolicy, RepositoryException

MAX_IMAGES_PER_CALL = 100


class StrictBooleanField(serializers.BooleanField):
    """Only JSON ``true``/``false``: a string or number is a mistake worth reporting."""

    default_error_messages = {"invalid": "must be true or false"}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class ImageField(StringField):
    """An image reference as text; parsing errors are reported per item, not per request.

    Only a JSON string: ``1`` is not the image ``library/1``.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=1024, trim_whitespace=True, **kwargs)


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Several images",
            value={"images": ["nginx", "someuser/custom-image", "ghcr.io/acme/tool:1"]},
            request_only=True,
        ),
        OpenApiExample(
            "One image, deciding for a named organization",
            value={"image": "bitnami/redis:7", "orgs": ["acme"], "action": "pull"},
            request_only=True,
        ),
    ]
)
class DecisionRequestSerializer(serializers.Serializer):
    """A decision request: ``images`` (or a single ``image``), optional ``orgs`` and ``action``."""

    images = serializers.ListField(
        child=ImageField(),
        required=False,
        allow_empty=False,
        max_length=MAX_IMAGES_PER_CALL,
        error_messages={
            "max_length": f"at most {MAX_IMAGES_PER_CALL} images per call",
            "empty": "list at least one image",
        },
    )
    image = ImageField(required=False)
    orgs = serializers.ListField(
        child=SlugStringField(max_length=64), required=False, max_length=20
    )
    action = serializers.ChoiceField(choices=["pull"], required=False, default="pull")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = set(self.initial_data) - set(self.fields)
        if unknown:
            raise serializers.ValidationError(
                {sorted(unknown)[0]: "unknown field (expected images, image, orgs, action)"}
            )
        if "images" in attrs and "image" in attrs:
            raise serializers.ValidationError({"image": "send either image or images, not both"})
        if "images" not in attrs and "image" not in attrs:
            raise serializers.ValidationError({"images": "list at least one image"})
        attrs["images"] = attrs.get("images") or [attrs.pop("image")]
        return attrs


class DecisionSerializer(serializers.Serializer):
    """One decision, or, for an image that does not parse, ``image`` and ``error``."""

    image = serializers.CharField()
    reference = serializers.CharField(required=False)
    registry = serializers.CharField(required=False)
    repository = serializers.CharField(required=False)
    tag = serializers.CharField(required=False, allow_null=True)
    digest = serializers.CharField(required=False, allow_null=True)
    category = serializers.ChoiceField(
        required=False,
        choices=["official", "organization", "verified_publisher", "community", "other_registry"],
    )
    sponsored_oss = serializers.BooleanField(required=False)
    scope = serializers.ChoiceField(required=False, choices=["governed", "not_governed"])
    allowed = serializers.BooleanField(required=False)
    would_deny = serializers.BooleanField(required=False)
    reason = serializers.CharField(required=False)
    org = serializers.CharField(required=False, allow_null=True)
    policy_version = serializers.IntegerField(required=False, allow_null=True)
    exception_id = serializers.IntegerField(required=False, allow_null=True)
    error = serializers.CharField(required=False)


class DecisionResponseSerializer(serializers.Serializer):
    decisions = DecisionSerializer(many=True)


class ImageAccessPolicySerializer(serializers.ModelSerializer):
    """An organization's image access settings."""

    enabled = StrictBooleanField(required=False)
    allow_official = StrictBooleanField(required=False)
    allow_verified_publisher = StrictBooleanField(required=False)
    allow_community = StrictBooleanField(required=False)
    audit_mode = StrictBooleanField(required=False)
    allow_organization = serializers.SerializerMethodField()
    # Null until someone changes the settings (and after that account is deleted).
    updated_by: serializers.SlugRelatedField = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = ImageAccessPolicy
        fields = (
            "enabled",
            "allow_official",
            "allow_verified_publisher",
            "allow_community",
            "allow_organization",
            "audit_mode",
            "version",
            "updated_by",
            "updated_at",
        )
        read_only_fields = ("version", "updated_by", "updated_at")

    def get_allow_organization(self, obj: ImageAccessPolicy) -> bool:
        return True

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        data = self.initial_data
        if not isinstance(data, dict):
            raise serializers.ValidationError("send a JSON object")
        if data.get("allow_organization", True) is not True:
            raise serializers.ValidationError(
                {"allow_organization": "organization images are always allowed"}
            )
        writable = set(ImageAccessPolicy.SETTINGS) | {"allow_organization"}
        unknown = sorted(set(data) - writable - {"version", "updated_by", "updated_at"})
        if unknown:
            raise serializers.ValidationError({unknown[0]: "unknown setting"})
        return attrs


class RepositoryExceptionSerializer(serializers.ModelSerializer):
    """A repository exception; ``repository`` is ``namespace/name`` or ``namespace/*``."""

    repository = StringField(max_length=512)
    # Null once the account that added it is deleted.
    created_by: serializers.SlugRelatedField = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    reason = StringField(
        max_length=500,
        required=False,
        allow_blank=True,
        default="",
        validators=[validate_single_line],
    )
    expires_at = serializers.DateTimeField(
        required=False, allow_null=True, default=None, validators=[validate_datetime_in_range]
    )

    class Meta:
        model = RepositoryException
        fields = ("id", "repository", "reason", "expires_at", "created_by", "created_at")
        read_only_fields = ("id", "created_by", "created_at")

    def validate_expires_at(self, value: dt.datetime | None) -> dt.datetime | None:
        # The service refuses it too; here the answer names the field.
        if value is not None and value <= timezone.now():
            raise serializers.ValidationError("must be in the future")
        return value
