"""Policy pages: Image access settings and repository exceptions.

Everyone in the organization reads them; only owners change them (``MANAGE_POLICY`` on
unsafe methods, checked by ``OrgMixin`` before any view code runs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.generic import FormView

from orgs.models import Organization
from orgs.roles import Capability
from orgs.views import ConsoleMixin, OrgActionView, current_user
from policies.forms import ExceptionForm, ImageAccessForm
from policies.models import ImageAccessPolicy, RepositoryException
from policies.services import (
    BUSINESS_REQUIRED,
    PolicyError,
    add_exception,
    get_policy,
    remove_exception,
    update_policy,
)

# How a changed setting reads in the confirmation message: (when true, when false).
CHANGE_WORDS: dict[str, tuple[str, str]] = {
    "enabled": ("image access turned on", "image access turned off"),
    "allow_official": ("Docker Official Images allowed", "Docker Official Images not allowed"),
    "allow_verified_publisher": (
        "Docker Verified Publisher images allowed",
        "Docker Verified Publisher images not allowed",
    ),
    "allow_community": ("community images allowed", "community images not allowed"),
    "audit_mode": ("audit mode turned on", "audit mode turned off"),
}

# Image types a policy can allow or block, in the order the page lists them.
TYPE_NAMES: dict[str, str] = {
    "allow_community": "Community images (including Docker-Sponsored Open Source)",
    "allow_verified_publisher": "Docker Verified Publisher images",
    "allow_official": "Docker Official Images",
}


def describe_changes(changed: dict[str, bool]) -> str:
    """``Saved: image access turned on; community images allowed.`` for a change set."""
    parts = [CHANGE_WORDS[name][0 if value else 1] for name, value in changed.items()]
    return f"Saved: {'; '.join(parts)}."


@dataclass
class PullSummary:
    """What members may pull under a policy, in plain language."""

    in_effect: bool
    headline: str
    allowed: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    audit: bool = False


def pull_summary(policy: ImageAccessPolicy, org: Organization) -> PullSummary:
    """Summarize ``policy`` for the people it governs."""
    if not policy.enabled:
        return PullSummary(
            False, "Image access management is off: members can pull any Docker Hub image."
        )
    if not org.is_business:
        return PullSummary(
            False,
            "Image access management is switched on but not in effect, because "
            f"{BUSINESS_REQUIRED}: members can pull any Docker Hub image.",
        )
    allowed = ["Organization images"]
    blocked: list[str] = []
    for setting, name in TYPE_NAMES.items():
        (allowed if getattr(policy, setting) else blocked).append(name)
    return PullSummary(
        True,
        "Image access management is on.",
        allowed=allowed,
        blocked=blocked,
        audit=policy.audit_mode,
    )


class ImageAccessView(ConsoleMixin, FormView):
    """``/orgs/<slug>/image-access/``: owners change the policy; everyone else reads it."""

    template_name = "policies/image_access.html"
    form_class = ImageAccessForm
    write_capability = Capability.MANAGE_POLICY

    @cached_property
    def policy(self) -> ImageAccessPolicy:
        return get_policy(self.org)

    def get_initial(self) -> dict[str, Any]:
        return self.policy.settings_dict()

    def get_form_kwargs(self) -> dict[str, Any]:
        kwargs = super().get_form_kwargs()
        kwargs["read_only"] = not self.can(Capability.MANAGE_POLICY)
        # Without the Business plan the switch cannot be turned on (it can still go off,
        # should an organization have been downgraded while it was on).
        kwargs["toggle_locked"] = not self.org.is_business and not self.policy.enabled
        return kwargs

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(
            policy=self.policy,
            summary=pull_summary(self.policy, self.org),
            business_required=BUSINESS_REQUIRED,
            exception_count=RepositoryException.objects.for_org(self.org).count(),
        )
        return context

    def form_valid(self, form: ImageAccessForm) -> HttpResponse:
        try:
            _, changed = update_policy(
                org=self.org,
                actor=current_user(self.request),
                changes=form.cleaned_data,
            )
        except PolicyError as exc:
            form.add_error(None, f"{str(exc).capitalize()}.")
            return self.form_invalid(form)
        if changed:
            messages.success(self.request, describe_changes(changed))
        else:
            messages.info(self.request, "Nothing changed.")
        return redirect("policies:image-access", slug=self.org.slug)


class ExceptionsView(ConsoleMixin, FormView):
    """``/orgs/<slug>/exceptions/``: repositories allowed whatever the policy; owners add."""

    template_name = "policies/exceptions.html"
    form_class = ExceptionForm
    write_capability = Capability.MANAGE_POLICY

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["exceptions"] = RepositoryException.objects.for_org(self.org).select_related(
            "created_by"
        )
        return context

    def form_valid(self, form: ExceptionForm) -> HttpResponse:
        try:
            exception = add_exception(
                org=self.org,
                actor=current_user(self.request),
                repository=form.cleaned_data["repository"],
                reason=form.cleaned_data["reason"],
                expires_at=form.expires_at,
            )
        except PolicyError as exc:
            # The parser's own message says what is wrong with the name.
            form.add_error("repository", str(exc))
            return self.form_invalid(form)
        messages.success(self.request, f"Exception added: members may pull {exception}.")
        return redirect("policies:exceptions", slug=self.org.slug)


class ExceptionRemoveView(OrgActionView):
    """POST: withdraw one exception (owners)."""

    write_capability = Capability.MANAGE_POLICY

    def post(self, request: HttpRequest, slug: str, pk: int) -> HttpResponse:
        exception = get_object_or_404(RepositoryException.objects.for_org(self.org), pk=pk)
        repository = exception.repository
        remove_exception(exception=exception, actor=current_user(request))
        messages.success(request, f"Exception for {repository} removed.")
        return redirect("policies:exceptions", slug=slug)
