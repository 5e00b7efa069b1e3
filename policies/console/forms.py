"""Forms for the Image access, Exceptions, event list, My access and Requests pages."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils import timezone

from imageaccess.input_rules import (
    validate_date_in_range,
    validate_multiline,
    validate_single_line,
)
from orgs.forms import DateInput, end_of_day
from policies.access_requests import MAX_COMMENT, MAX_JUSTIFICATION
from policies.choices import IMAGE_TYPE_LABELS, OUTCOME_LABELS, POLICY_IMAGE_TYPES
from policies.events.usage_reports import PERIODS, EventFilters
from policies.models import AccessRequest, DecisionEvent


def _image_type_switch(value: str) -> forms.BooleanField:
    image_type = POLICY_IMAGE_TYPES[value]
    return forms.BooleanField(
        required=False, label=image_type.title, help_text=image_type.description
    )


class ImageAccessForm(forms.Form):
    """The policy's switches. Organization images are always allowed, so they are no field.

    ``read_only`` disables every control (members and editors); ``toggle_locked`` disables only
    the on/off switch (an organization without the Business plan cannot turn it on). Django
    ignores posted values for disabled fields, so a locked control keeps its current value.
    """

    enabled = forms.BooleanField(
        required=False,
        label="Image access management",
        help_text="When on, members may pull only the image types allowed below.",
    )
    allow_community = _image_type_switch("community")
    allow_verified_publisher = _image_type_switch("verified_publisher")
    allow_official = _image_type_switch("official")
    audit_mode = forms.BooleanField(
        required=False,
        label="Audit mode",
        help_text="Let pulls through but record the ones that would be denied, to see the "
        "effect before enforcing.",
    )
    block_image_load = forms.BooleanField(
        required=False,
        label="Block images loaded from files",
        help_text="Refuse docker load and docker import on machines that run the Docker daemon "
        "plugin: the images inside a file cannot be checked before they are loaded.",
    )

    def __init__(
        self, *args: Any, read_only: bool = False, toggle_locked: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        # role="switch" tells assistive technology this checkbox turns a feature on and off.
        self.fields["enabled"].widget.attrs["role"] = "switch"
        for name, field in self.fields.items():
            field.disabled = read_only or (name == "enabled" and toggle_locked)


class ExceptionForm(forms.Form):
    """A repository (or a whole namespace) members may pull whatever the policy says."""

    repository = forms.CharField(
        max_length=600,
        label="Repository",
        help_text="A Docker Hub repository such as bitnami/redis, or namespace/* for every "
        "repository in a namespace.",
    )
    reason = forms.CharField(
        max_length=500,
        required=False,
        label="Reason",
        help_text="Why it is allowed; shown to members.",
        validators=[validate_single_line],
    )
    expires_on = forms.DateField(
        required=False,
        label="Expires after (optional)",
        help_text="The exception stops applying at the end of this day.",
        widget=DateInput(),
        validators=[validate_date_in_range],
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["expires_on"].widget.attrs["min"] = timezone.localdate().isoformat()

    def clean_expires_on(self) -> dt.date | None:
        day: dt.date | None = self.cleaned_data.get("expires_on")
        if day is not None and day < timezone.localdate():
            raise forms.ValidationError("Pick today or a later date.")
        return day

    @property
    def expires_at(self) -> dt.datetime | None:
        day = self.cleaned_data.get("expires_on")
        return end_of_day(day) if day else None


class EventFilterForm(forms.Form):
    """Filters of the event list (``?user=&repository=&registry=&category=&outcome=&enforcer=``
    and ``&days=``)."""

    user = forms.CharField(max_length=150, required=False, label="Member")
    repository = forms.CharField(
        max_length=255,
        required=False,
        label="Repository",
        help_text="As Docker Hub names it, e.g. library/nginx.",
    )
    registry = forms.CharField(
        max_length=255, required=False, label="Registry", help_text="A host such as ghcr.io."
    )
    category = forms.ChoiceField(
        required=False, label="Image type", choices=[("", "Any"), *IMAGE_TYPE_LABELS.items()]
    )
    outcome = forms.ChoiceField(
        required=False, label="Outcome", choices=[("", "Any"), *OUTCOME_LABELS.items()]
    )
    enforcer = forms.ChoiceField(
        required=False, label="Enforcer", choices=[("", "Any"), *DecisionEvent.Enforcer.choices]
    )
    days = forms.TypedChoiceField(
        required=False,
        label="Period",
        coerce=int,
        empty_value=None,
        choices=[("", "All kept events"), *((str(d), f"Last {d} days") for d in PERIODS)],
    )
    day = forms.DateField(
        required=False, label="Day", widget=DateInput(), validators=[validate_date_in_range]
    )

    def filters(self) -> EventFilters:
        """The validated filters (call after ``is_valid()``)."""
        data = self.cleaned_data
        return EventFilters(
            user=data["user"].strip(),
            repository=data["repository"].strip(),
            registry=data["registry"].strip().lower(),
            category=data["category"],
            outcome=data["outcome"],
            enforcer=data["enforcer"],
            days=data["days"],
            day=data["day"],
        )


class AccessRequestForm(forms.Form):
    """A member asks for a repository, a whole namespace, an image type or a registry.

    Only the field matching ``kind`` is used; the service validates the name itself, so the
    page and the API refuse exactly the same input.
    """

    kind = forms.ChoiceField(
        label="What do you need?",
        choices=[
            (AccessRequest.Kind.REPOSITORY, "A repository"),
            (AccessRequest.Kind.NAMESPACE, "Every repository of a namespace"),
            (AccessRequest.Kind.IMAGE_TYPE, "An image type"),
            (AccessRequest.Kind.REGISTRY, "A registry"),
        ],
        initial=AccessRequest.Kind.REPOSITORY,
        widget=forms.RadioSelect,
    )
    repository = forms.CharField(
        max_length=600,
        required=False,
        label="Repository or namespace",
        help_text="A Docker Hub repository such as bitnami/redis, or a namespace such as bitnami.",
    )
    registry = forms.CharField(
        max_length=300,
        required=False,
        label="Registry",
        help_text="A registry host such as ghcr.io, when registry access is on.",
    )
    image_type = forms.ChoiceField(
        required=False,
        label="Image type",
        choices=[
            ("", "—"),
            *((key, image_type.title) for key, image_type in POLICY_IMAGE_TYPES.items()),
        ],
    )
    justification = forms.CharField(
        max_length=MAX_JUSTIFICATION,
        label="Why do you need it?",
        help_text="Owners read this when they decide.",
        widget=forms.Textarea(attrs={"rows": 3}),
        validators=[validate_multiline],
    )

    def target(self) -> tuple[str, str]:
        """``(kind, value)`` as the service expects it (call after ``is_valid()``)."""
        kind: str = self.cleaned_data["kind"]
        if kind == AccessRequest.Kind.IMAGE_TYPE:
            return kind, self.cleaned_data["image_type"]
        if kind == AccessRequest.Kind.REGISTRY:
            return kind, self.cleaned_data["registry"]
        return kind, self.cleaned_data["repository"]

    def field_for(self, service_field: str) -> str | None:
        """The form field that shows a service error about ``service_field``."""
        if service_field in ("repository", "namespace"):
            return "repository"
        return service_field if service_field in self.fields else None


class RequestDecisionForm(forms.Form):
    """An owner's optional comment when approving or declining; the requester reads it."""

    comment = forms.CharField(
        max_length=MAX_COMMENT,
        required=False,
        label="Comment",
        widget=forms.Textarea(attrs={"rows": 2}),
        validators=[validate_multiline],
    )


class RegistryEntryForm(forms.Form):
    """One registry to add to the organization's allowlist."""

    host = forms.CharField(
        max_length=300,
        label="Registry",
        help_text="A host name such as ghcr.io, with a port when it is not 443 "
        "(registry.local:5000), or *.example.com for every subdomain of example.com.",
    )
    note = forms.CharField(
        max_length=200,
        required=False,
        label="Note",
        help_text="What it is for; shown to members.",
        validators=[validate_single_line],
    )
