"""Policy pages: the overview, Image access, exceptions, usage, events, My access and access
requests.

Everyone in the organization reads the policy pages; only owners change them (``MANAGE_POLICY``
on unsafe methods, checked by ``OrgMixin`` before any view code runs). Usage and the event list
are for owners (``VIEW_ACTIVITY``); every member has My access; owners decide requests
(``MANAGE_REQUESTS``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar

from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.generic import FormView, ListView, TemplateView

from imageaccess.csv_export import csv_response
from orgs.models import Organization
from orgs.roles import Capability
from orgs.tenancy import ConsoleMixin, OrgActionView, current_user
from policies.access_requests import (
    RequestError,
    approve_request,
    decline_request,
    describe,
    file_request,
    pending_values,
)
from policies.choices import IMAGE_TYPE_LABELS, OUTCOME_LABELS, POLICY_IMAGE_TYPES
from policies.console.charts import column_chart, row_chart
from policies.console.forms import (
    AccessRequestForm,
    EventFilterForm,
    ExceptionForm,
    ImageAccessForm,
    RegistryEntryForm,
    RequestDecisionForm,
)
from policies.events.usage_reports import (
    PERIODS,
    filter_events,
    outcome_of,
    period_days,
    recent_denials,
    usage_report,
)
from policies.models import (
    AccessRequest,
    DecisionEvent,
    ImageAccessPolicy,
    RegistryAccessPolicy,
    RepositoryException,
)
from policies.registry_access import get_registry_access, update_registry_access
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
    **{
        image_type.setting: (f"{image_type.noun} allowed", f"{image_type.noun} not allowed")
        for image_type in POLICY_IMAGE_TYPES.values()
    },
    "audit_mode": ("audit mode turned on", "audit mode turned off"),
    "block_image_load": ("docker load and import blocked", "docker load and import allowed"),
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
    for image_type in POLICY_IMAGE_TYPES.values():
        name = f"{image_type.title} ({image_type.note})" if image_type.note else image_type.title
        (allowed if getattr(policy, image_type.setting) else blocked).append(name)
    return PullSummary(
        True,
        "Image access management is on.",
        allowed=allowed,
        blocked=blocked,
        audit=policy.audit_mode,
    )


class OrganizationOverviewView(ConsoleMixin, TemplateView):
    """``/orgs/<slug>/`` (``orgs:home``): the organization at a glance, image access included.

    Your role, the plan, whether image access is on, the namespaces and the member count.
    """

    template_name = "policies/overview.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["namespaces"] = self.org.namespaces.all()
        context["member_count"] = self.org.memberships.count()
        context["policy"] = get_policy(self.org)
        return context


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

    def get_initial(self) -> dict[str, Any]:
        # The Usage page's "Add exception" links name the repository to pre-fill.
        return {"repository": self.request.GET.get("repository", "")[:600]}

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


class RegistryAccessView(ConsoleMixin, FormView):
    """``/orgs/<slug>/registry-access/``: the registries anyone may pull from; owners edit."""

    template_name = "policies/registry_access.html"
    form_class = RegistryEntryForm
    write_capability = Capability.MANAGE_POLICY

    @cached_property
    def access(self) -> RegistryAccessPolicy:
        return get_registry_access(self.org)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(
            access=self.access,
            business_required=BUSINESS_REQUIRED.replace("image access", "registry access"),
            toggle_locked=not self.org.is_business and not self.access.enabled,
        )
        return context

    def form_valid(self, form: RegistryEntryForm) -> HttpResponse:
        entry = {"host": form.cleaned_data["host"], "note": form.cleaned_data["note"]}
        try:
            access, _ = update_registry_access(
                org=self.org,
                actor=current_user(self.request),
                registries=[*self.access.registries, entry],
            )
        except PolicyError as exc:
            # Only the new entry can be wrong (the list was valid): drop its position.
            form.add_error("host", f"{str(exc).split(': ', 1)[-1]}.")
            return self.form_invalid(form)
        added = access.registries[-1]["host"]
        messages.success(self.request, f"{added} added to the allowed registries.")
        return redirect("policies:registry-access", slug=self.org.slug)


class RegistryAccessSwitchView(OrgActionView):
    """POST ``enabled=on|off``: switch registry access management (owners)."""

    write_capability = Capability.MANAGE_POLICY

    def post(self, request: HttpRequest, slug: str) -> HttpResponse:
        wanted = request.POST.get("enabled")
        if wanted not in ("on", "off"):
            messages.error(request, "Choose on or off.")
            return redirect("policies:registry-access", slug=slug)
        try:
            _, changed = update_registry_access(
                org=self.org, actor=current_user(request), enabled=wanted == "on"
            )
        except PolicyError as exc:
            message = str(exc)
            messages.error(request, f"{message[:1].upper()}{message[1:]}.")
            return redirect("policies:registry-access", slug=slug)
        if changed and wanted == "on":
            messages.success(
                request, "Registry access is on: only the listed registries can be pulled."
            )
        elif changed:
            messages.success(request, "Registry access is off: every registry can be pulled.")
        else:
            messages.info(request, "Nothing changed.")
        return redirect("policies:registry-access", slug=slug)


class RegistryRemoveView(OrgActionView):
    """POST ``host``: take one registry off the allowlist (owners)."""

    write_capability = Capability.MANAGE_POLICY

    def post(self, request: HttpRequest, slug: str) -> HttpResponse:
        host = request.POST.get("host", "")
        access = get_registry_access(self.org)
        remaining = [entry for entry in access.registries if entry["host"] != host]
        if len(remaining) == len(access.registries):
            messages.error(request, "That registry is not in the list.")
            return redirect("policies:registry-access", slug=slug)
        update_registry_access(org=self.org, actor=current_user(request), registries=remaining)
        messages.success(request, f"{host} removed from the allowed registries.")
        return redirect("policies:registry-access", slug=slug)


# --- Usage and events ------------------------------------------------------------------------


class UsageView(ConsoleMixin, TemplateView):
    """``/orgs/<slug>/usage/?days=7|30|90``: pulls over time, by type, top denials (owners).

    Reads daily rollups only (``policies.events.usage_reports.usage_report``): a fixed number
    of queries at any volume. The charts are SVG laid out in ``policies.console.charts``; no
    JavaScript.
    """

    template_name = "policies/usage.html"
    capability = Capability.VIEW_ACTIVITY

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        report = usage_report(self.org, days=period_days(self.request.GET.get("days")))
        context.update(
            report=report,
            periods=PERIODS,
            over_time=column_chart(
                [day for day, _ in report.daily],
                {day: counts.as_dict() for day, counts in report.daily},
            ),
            by_category=row_chart(
                [(key, label, counts.as_dict()) for key, label, counts in report.categories]
            ),
            outcome_labels=OUTCOME_LABELS,
        )
        return context


EVENT_CSV_HEADER = [
    "time",
    "user",
    "image",
    "reference",
    "registry",
    "repository",
    "category",
    "outcome",
    "reason",
    "enforcer",
    "client_address",
    "user_agent",
]


def _event_rows(events: Iterable[DecisionEvent]) -> Iterator[list[Any]]:
    # Image names, reasons and user agents come from callers: csv_lines defuses formulas.
    for event in events:
        yield [
            event.created_at.isoformat(),
            event.username,
            event.image,
            event.reference,
            event.registry,
            event.repository,
            event.category,
            outcome_of(event),
            event.reason,
            event.enforcer,
            event.client_address,
            event.user_agent,
        ]


class EventListView(ConsoleMixin, ListView):
    """``/orgs/<slug>/usage/events/``: raw decision events, filtered, 50 a page (owners).

    ``?format=csv`` streams every event that matches the filters.
    """

    template_name = "policies/events.html"
    capability = Capability.VIEW_ACTIVITY
    paginate_by = 50
    context_object_name = "events"

    def get_queryset(self) -> QuerySet[DecisionEvent]:
        self.filter_form = EventFilterForm(self.request.GET or None)
        events = DecisionEvent.objects.for_org(self.org)
        if not self.filter_form.is_bound:
            return events
        if not self.filter_form.is_valid():
            # A filter that does not parse must not silently widen to every event.
            return events.none()
        return filter_events(events, self.filter_form.filters())

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.GET.get("format") == "csv":
            return csv_response(  # type: ignore[return-value]
                f"{self.org.slug}-events.csv",
                EVENT_CSV_HEADER,
                _event_rows(self.get_queryset().iterator(chunk_size=1000)),
            )
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["filter_form"] = self.filter_form
        context["filtered"] = self.filter_form.is_bound
        for event in context["events"]:
            event.outcome = outcome_of(event)
            event.outcome_label = OUTCOME_LABELS[event.outcome]
            event.category_label = IMAGE_TYPE_LABELS.get(event.category, event.category)
        return context


# --- My access and access requests -----------------------------------------------------------


def _requests_url(request: HttpRequest, slug: str) -> str:
    return request.build_absolute_uri(reverse("policies:requests", kwargs={"slug": slug}))


def _my_access_url(request: HttpRequest, slug: str) -> str:
    return request.build_absolute_uri(reverse("policies:my-access", kwargs={"slug": slug}))


class MyAccessView(ConsoleMixin, FormView):
    """``/orgs/<slug>/my-access/``: the caller's recent denials and requests; ask for access.

    ``?repository=ns/name`` (the "Ask for access" links) pre-fills the form. Any member may
    file (POST), the rules live in ``policies.access_requests.file_request``.
    """

    template_name = "policies/my_access.html"
    form_class = AccessRequestForm
    write_capability = Capability.VIEW

    def get_initial(self) -> dict[str, Any]:
        for kind in (AccessRequest.Kind.REPOSITORY, AccessRequest.Kind.NAMESPACE):
            if value := self.request.GET.get(kind, "").strip():
                return {"kind": kind, "repository": value[:600]}
        if value := self.request.GET.get(AccessRequest.Kind.IMAGE_TYPE, "").strip():
            return {"kind": AccessRequest.Kind.IMAGE_TYPE, "image_type": value}
        return {}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        user = current_user(self.request)
        pending = pending_values(self.org, user)
        denials = recent_denials(self.org, user)
        context.update(
            denials=[
                (denial, (AccessRequest.Kind.REPOSITORY, denial.repository) in pending)
                for denial in denials
            ],
            my_requests=AccessRequest.objects.for_org(self.org)
            .filter(requester=user)
            .select_related("decided_by")[:50],
        )
        return context

    def form_valid(self, form: AccessRequestForm) -> HttpResponse:
        kind, value = form.target()
        try:
            access_request = file_request(
                org=self.org,
                requester=current_user(self.request),
                kind=kind,
                value=value,
                justification=form.cleaned_data["justification"],
                review_url=_requests_url(self.request, self.org.slug),
            )
        except RequestError as exc:
            form.add_error(form.field_for(exc.field), f"{str(exc)[:1].upper()}{str(exc)[1:]}.")
            return self.form_invalid(form)
        messages.success(
            self.request,
            f"Request sent: the owners of {self.org.name} will review your request for "
            f"{describe(access_request)}. You will get an email when they decide.",
        )
        return redirect("policies:my-access", slug=self.org.slug)


class RequestsView(ConsoleMixin, TemplateView):
    """``/orgs/<slug>/requests/``: pending requests to decide, and the history (owners).

    Members and editors are sent to My access, where their own requests are listed.
    """

    template_name = "policies/requests.html"
    write_capability = Capability.MANAGE_REQUESTS

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not self.can(Capability.MANAGE_REQUESTS):
            messages.info(request, "Owners decide requests. Your own requests are listed here.")
            return redirect("policies:my-access", slug=self.org.slug)
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        requests = AccessRequest.objects.for_org(self.org).select_related("requester", "decided_by")
        context.update(
            pending=requests.filter(status=AccessRequest.Status.PENDING).order_by("created_at"),
            history=requests.exclude(status=AccessRequest.Status.PENDING)[:100],
            decision_form=RequestDecisionForm(),
        )
        return context


class _RequestDecisionView(OrgActionView):
    """POST with an optional ``comment``: decide one request (owners)."""

    write_capability = Capability.MANAGE_REQUESTS
    verb = ""
    # approve_request or decline_request: both take the same keyword arguments.
    service: ClassVar[Callable[..., AccessRequest]]

    def post(self, request: HttpRequest, slug: str, pk: int) -> HttpResponse:
        access_request = get_object_or_404(
            AccessRequest.objects.for_org(self.org).select_related("org", "requester"), pk=pk
        )
        form = RequestDecisionForm(request.POST)
        if not form.is_valid():
            problem = " ".join(str(error) for error in form.errors.get("comment", []))
            messages.error(request, f"The comment was not saved: {problem}")
            return redirect("policies:requests", slug=slug)
        try:
            type(self).service(
                request=access_request,
                actor=current_user(request),
                comment=form.cleaned_data["comment"],
                status_url=_my_access_url(request, self.org.slug),
            )
        except RequestError as exc:
            messages.error(request, f"{str(exc)[:1].upper()}{str(exc)[1:]}.")
        else:
            messages.success(
                request,
                f"{self.verb} {access_request.requester.get_username()}'s request for "
                f"{describe(access_request)}.",
            )
        return redirect("policies:requests", slug=slug)


class RequestApproveView(_RequestDecisionView):
    """POST: approve, which grants the exception or image type in the same transaction."""

    verb = "Approved"

    service = staticmethod(approve_request)


class RequestDeclineView(_RequestDecisionView):
    """POST: decline with a comment for the requester."""

    verb = "Declined"

    service = staticmethod(decline_request)
