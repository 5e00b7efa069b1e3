"""Forms for organization pages."""

from __future__ import annotations

from django import forms

from orgs.models import Namespace, Organization, Plan, namespace_validator


class OrganizationCreateForm(forms.Form):
    """Create an organization; its slug is also its first Docker Hub namespace."""

    name = forms.CharField(max_length=200, label="Organization name")
    slug = forms.CharField(
        max_length=64,
        label="Namespace",
        validators=[namespace_validator],
        help_text="Lowercase letters, digits, '-' or '_'. Used in URLs and as your Docker Hub "
        "namespace.",
    )
    plan = forms.ChoiceField(choices=Plan.choices, initial=Plan.BUSINESS)

    def clean_slug(self) -> str:
        slug: str = self.cleaned_data["slug"]
        if Organization.objects.filter(slug=slug).exists() or Namespace.objects.filter(
            name=slug
        ).exists():
            raise forms.ValidationError("That namespace is already taken.")
        return slug
