"""Forms for organization, member, invitation, token and activity pages.

Forms only parse and validate input; the rules (who may do what, role changes, token
minting) live in ``orgs.services`` and ``orgs.tokens``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.core.validators import validate_email
from django.utils import timezone

from imageaccess.input_rules import validate_date_in_range, validate_single_line
from orgs.models import Namespace, Organization, Plan, TokenScope, namespace_validator
from orgs.roles import Role
from orgs.tokens import MAX_EXPIRY_DAYS, validate_expiry


def end_of_day(day: dt.date) -> dt.datetime:
    """The first instant after ``day`` in the current time zone.

    A date picked in a form means "valid through that day", so it expires at the following
    midnight rather than at the start of the chosen day.
    """
    midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min)
    return timezone.make_aware(midnight, timezone.get_current_timezone())


class DateInput(forms.DateInput):
    """A native date picker (``<input type="date">``): keyboard usable, no JavaScript."""

    input_type = "date"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%d")


class OrganizationCreateForm(forms.Form):
    """Create an organization; its slug is also its first Docker Hub namespace."""

    name = forms.CharField(
        max_length=200, label="Organization name", validators=[validate_single_line]
    )
    slug = forms.CharField(
        max_length=64,
        label="Namespace",
        validators=[namespace_validator],
        help_text="Lowercase letters, digits, '-' or '_'. Used in URLs and as your Docker Hub "
        "namespace.",
    )
    plan = forms.ChoiceField(
        choices=Plan.choices,
        initial=Plan.BUSINESS,
        help_text="Image access management needs the Business plan.",
    )

    def clean_slug(self) -> str:
        slug: str = self.cleaned_data["slug"]
        if (
            Organization.objects.filter(slug=slug).exists()
            or Namespace.objects.filter(name=slug).exists()
        ):
            raise forms.ValidationError("That namespace is already taken.")
        return slug


class InviteForm(forms.Form):
    """Invite someone by email address or by username (one field: an ``@`` means email)."""

    invitee = forms.CharField(
        max_length=254,
        label="Email address or username",
        help_text="People without an account yet can be invited by email.",
    )
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)

    def clean_invitee(self) -> str:
        value: str = self.cleaned_data["invitee"].strip()
        if "@" in value:
            validate_email(value)
        return value

    def addressee(self) -> dict[str, str]:
        """Keyword arguments for ``orgs.services.invite``: ``email`` or ``username``."""
        value: str = self.cleaned_data["invitee"]
        return {"email": value} if "@" in value else {"username": value}


class RoleForm(forms.Form):
    """The new role of one member."""

    role = forms.ChoiceField(choices=Role.choices)


class TokenCreateForm(forms.Form):
    """Name, scope and expiry of a new personal access token."""

    EXPIRY_CHOICES = (
        ("none", "No expiration"),
        ("30", "30 days"),
        ("90", "90 days"),
        ("custom", "Custom date"),
    )

    name = forms.CharField(
        max_length=100,
        label="Description",
        help_text="What the token is for, e.g. “laptop” or “CI pipeline”.",
        validators=[validate_single_line],
    )
    scope = forms.ChoiceField(
        choices=TokenScope.choices,
        initial=TokenScope.READ,
        label="Access permissions",
        help_text="Pulling images needs Read-only (or Public repository read-only for public "
        "images).",
    )
    expiry = forms.ChoiceField(
        choices=EXPIRY_CHOICES, initial="30", widget=forms.RadioSelect, label="Expiration"
    )
    expires_on = forms.DateField(
        required=False,
        label="Custom expiry date",
        help_text="Used when “Custom date” is chosen; at most one year ahead.",
        widget=DateInput(),
        validators=[validate_date_in_range],
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        today = timezone.localdate()
        # Only a hint for the date picker; ``clean`` enforces the same bounds.
        self.fields["expires_on"].widget.attrs.update(
            min=today.isoformat(),
            max=(today + dt.timedelta(days=MAX_EXPIRY_DAYS - 1)).isoformat(),
        )
        self.expires_at: dt.datetime | None = None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        choice = cleaned.get("expiry")
        if choice in ("30", "90"):
            self.expires_at = timezone.now() + dt.timedelta(days=int(choice))
        elif choice == "custom":
            day = cleaned.get("expires_on")
            if day is None:
                if "expires_on" not in self.errors:
                    self.add_error("expires_on", "Pick the date the token should expire.")
                return cleaned
            self.expires_at = end_of_day(day)
            try:
                validate_expiry(self.expires_at)
            except ValueError as exc:
                self.add_error("expires_on", f"{str(exc).capitalize()}.")
        return cleaned


class ActivityFilterForm(forms.Form):
    """Filters of the activity page; choices come from the organization's own log."""

    action = forms.ChoiceField(required=False, label="Action")
    actor = forms.ChoiceField(required=False, label="Actor")

    def __init__(self, *args: Any, actions: list[str], actors: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        action, actor = self.fields["action"], self.fields["actor"]
        assert isinstance(action, forms.ChoiceField)
        assert isinstance(actor, forms.ChoiceField)
        action.choices = [("", "All actions"), *((a, a) for a in actions)]
        actor.choices = [("", "Everyone"), *((a, a) for a in actors)]


class OrganizationSettingsForm(forms.ModelForm):
    """The organization's own settings (owners)."""

    # A name goes into mail subjects and page titles: one line, no control characters.
    name = forms.CharField(max_length=200, validators=[validate_single_line])

    class Meta:
        model = Organization
        fields = ("name", "enforce_sign_in", "require_two_factor")
        labels = {
            "enforce_sign_in": "Enforce sign-in",
            "require_two_factor": "Owners must use two-factor authentication",
        }
        help_texts = {
            "enforce_sign_in": "Pulls through mirrors that name this organization must be "
            "signed in as a member; anonymous pulls are refused.",
            "require_two_factor": "Owners without an authenticator app are sent to set one up "
            "before they can use the console.",
        }


class NamespaceForm(forms.Form):
    """Claim another Docker Hub namespace."""

    name = forms.CharField(max_length=255, label="Docker Hub namespace")


class DeleteOrganizationForm(forms.Form):
    """Type the organization's slug to confirm."""

    confirm = forms.CharField(max_length=64, label="Type the organization's namespace to confirm")
