"""Serializers of the decision API: what enforcers send and what they get back."""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema_serializer
from rest_framework import serializers

from imageaccess.fields import SlugStringField, StringField
from policies.choices import IMAGE_TYPE_VALUES

MAX_IMAGES_PER_CALL = 100
# The enforcers that may name themselves in a decision request (the registry enforcer is the
# token service, never a caller of this API).
CALLER_ENFORCERS = ("api", "daemon")
MAX_HOST_LENGTH = 253
# A host name as a machine names itself (RFC 1123 labels, underscores tolerated).
HOST_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]*"


class ImageField(StringField):
    """An image reference as text; parsing errors are reported per item, not per request.

    Only a JSON string: ``1`` is not the image ``library/1``.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=1024, trim_whitespace=True, **kwargs)


def validate_host_name(value: str) -> None:
    """Refuse anything but a host name: it is shown in the event list and exports."""
    if not re.fullmatch(HOST_PATTERN, value):
        raise serializers.ValidationError(
            "expected a host name (letters, digits, '.', '-' and '_', starting with a letter "
            "or digit)"
        )


class HostField(StringField):
    """The host name of the machine an enforcer acts for."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=MAX_HOST_LENGTH, validators=[validate_host_name], **kwargs)


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Several images",
            value={"images": ["nginx", "someuser/custom-image", "ghcr.io/acme/tool:1"]},
            request_only=True,
        ),
        OpenApiExample(
            "The Docker daemon plugin of one machine",
            value={"images": ["nginx:1.27"], "enforcer": "daemon", "host": "build-01"},
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
    action = serializers.ChoiceField(
        choices=["pull", "load"],
        required=False,
        default="pull",
        help_text="``load``: may the caller load images from files (docker load, docker import)? "
        "Sent without images; answered in ``image_load``",
    )
    enforcer = serializers.ChoiceField(
        choices=list(CALLER_ENFORCERS),
        required=False,
        default="api",
        help_text="Who asks: ``daemon`` for the Docker daemon plugin; recorded with the events",
    )
    host = HostField(
        required=False,
        default="",
        help_text="The machine the enforcer acts for (its host name); recorded with the events",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = set(self.initial_data) - set(self.fields)
        if unknown:
            raise serializers.ValidationError(
                {sorted(unknown)[0]: f"unknown field (expected {', '.join(self.fields)})"}
            )
        if "images" in attrs and "image" in attrs:
            raise serializers.ValidationError({"image": "send either image or images, not both"})
        if attrs["action"] == "load":
            if "images" in attrs or "image" in attrs:
                raise serializers.ValidationError(
                    {"images": "a load decision takes no images (a file's images are unknown)"}
                )
            attrs["images"] = []
            return attrs
        if "images" not in attrs and "image" not in attrs:
            raise serializers.ValidationError({"images": "list at least one image"})
        attrs["images"] = attrs.get("images") or [attrs.pop("image")]
        return attrs


class DecisionSerializer(serializers.Serializer):
    """One decision, or, for an image that does not parse, ``image`` and ``error``."""

    image = serializers.CharField()
    reference = serializers.CharField(required=False)
    registry = serializers.CharField(required=False)
    registry_host = serializers.CharField(
        required=False,
        help_text="The registry as a daemon reaches it: lower case, without the default port "
        "(every spelling of Docker Hub is one of its host names).",
    )
    repository = serializers.CharField(required=False)
    tag = serializers.CharField(required=False, allow_null=True)
    digest = serializers.CharField(required=False, allow_null=True)
    category = serializers.ChoiceField(required=False, choices=list(IMAGE_TYPE_VALUES))
    sponsored_oss = serializers.BooleanField(required=False)
    scope = serializers.ChoiceField(required=False, choices=["governed", "not_governed"])
    allowed = serializers.BooleanField(required=False)
    would_deny = serializers.BooleanField(required=False)
    reason = serializers.CharField(required=False)
    org = serializers.CharField(required=False, allow_null=True)
    policy_version = serializers.IntegerField(required=False, allow_null=True)
    exception_id = serializers.IntegerField(required=False, allow_null=True)
    registry_access_decided = serializers.BooleanField(
        required=False,
        help_text="Registry access management denied the image (or, in audit mode, would have).",
    )
    error = serializers.CharField(required=False)


class LoadDecisionSerializer(serializers.Serializer):
    """Whether the caller may load images from files (``action: "load"``)."""

    allowed = serializers.BooleanField()
    would_deny = serializers.BooleanField()
    reason = serializers.CharField()
    org = serializers.CharField(allow_null=True)
    policy_version = serializers.IntegerField(allow_null=True)


class DecisionResponseSerializer(serializers.Serializer):
    decisions = DecisionSerializer(many=True)
    image_load = LoadDecisionSerializer(required=False, help_text='Only for ``action: "load"``')
