"""Forms for the Image access and Exceptions pages."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils import timezone

from orgs.forms import DateInput, end_of_day


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
    allow_community = forms.BooleanField(
        required=False,
        label="Community images",
        help_text="Anything anyone publishes under their own Docker Hub namespace, including "
        "projects in the Docker-Sponsored Open Source program. The least vetted kind.",
    )
    allow_verified_publisher = forms.BooleanField(
        required=False,
        label="Docker Verified Publisher images",
        help_text="Images from commercial vendors whose Docker Hub namespace Docker has verified.",
    )
    allow_official = forms.BooleanField(
        required=False,
        label="Docker Official Images",
        help_text="The curated images without a namespace, such as nginx or python, maintained "
        "by Docker together with the upstream projects.",
    )
    audit_mode = forms.BooleanField(
        required=False,
        label="Audit mode",
        help_text="Let pulls through but record the ones that would be denied, to see the "
        "effect before enforcing.",
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
    )
    expires_on = forms.DateField(
        required=False,
        label="Expires after (optional)",
        help_text="The exception stops applying at the end of this day.",
        widget=DateInput(),
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
