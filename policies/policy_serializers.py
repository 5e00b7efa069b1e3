"""Serializers of the policy API: image access settings, exceptions and access requests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from imageaccess.fields import StrictSerializer, StringField
from imageaccess.input_rules import (
    validate_datetime_in_range,
    validate_multiline,
    validate_single_line,
)
from imageaccess.pagination import QuerySerializer
from policies.access_requests import MAX_COMMENT, MAX_JUSTIFICATION
from policies.choices import POLICY_IMAGE_TYPES
from policies.models import (
    AccessRequest,
    ImageAccessPolicy,
    RegistryAccessPolicy,
    RepositoryException,
)

# How the schema describes a method field that may answer null.
NULLABLE_TEXT = serializers.CharField(allow_null=True)


class StrictBooleanField(serializers.BooleanField):
    """Only JSON ``true``/``false``: a string or number is a mistake worth reporting."""

    default_error_messages = {"invalid": "must be true or false"}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class ImageAccessPolicySerializer(serializers.ModelSerializer):
    """An organization's image access settings."""

    enabled = StrictBooleanField(required=False)
    allow_official = StrictBooleanField(required=False)
    allow_verified_publisher = StrictBooleanField(required=False)
    allow_community = StrictBooleanField(required=False)
    audit_mode = StrictBooleanField(required=False)
    block_image_load = StrictBooleanField(
        required=False,
        help_text="Refuse docker load and docker import where the Docker daemon plugin runs",
    )
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
            "block_image_load",
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


TARGETS = ("repository", "namespace", "image_type", "registry")


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
    """Exactly one of ``repository``, ``namespace``, ``image_type`` or ``registry``, with a
    ``justification``.

    Names are checked by the service (``policies.access_requests``) so the API and the page refuse
    the same input with the same message.
    """

    repository = StringField(
        max_length=600,
        required=False,
        help_text="``namespace/name``; ``namespace/*`` asks for the whole namespace",
    )
    namespace = StringField(max_length=255, required=False)
    image_type = serializers.ChoiceField(choices=list(POLICY_IMAGE_TYPES), required=False)
    registry = StringField(
        max_length=300,
        required=False,
        help_text="A registry host such as ghcr.io, for registry access management",
    )
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
                {field: "give exactly one of repository, namespace, image_type or registry"}
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


class RegistryEntrySerializer(serializers.Serializer):
    """One allowlist entry: a host (``ghcr.io``, ``registry.local:5000``, ``*.example.com``)."""

    host = serializers.CharField()
    note = serializers.CharField(required=False, allow_blank=True)


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Docker Hub and GitHub's registry",
            value={
                "enabled": True,
                "registries": [
                    {"host": "docker.io", "note": "Docker Hub"},
                    {"host": "ghcr.io", "note": "our GitHub packages"},
                ],
            },
            request_only=True,
        )
    ]
)
class RegistryAccessSerializer(serializers.ModelSerializer):
    """An organization's registry allowlist: when enabled, only these registries are pulled."""

    enabled = StrictBooleanField(required=False)
    registries = RegistryEntrySerializer(many=True, required=False)
    updated_by: serializers.SlugRelatedField = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = RegistryAccessPolicy
        fields = ("enabled", "registries", "version", "updated_by", "updated_at")
        read_only_fields = ("version", "updated_at")
