"""Organization pages: my organizations, create one, and an organization's home."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.generic import FormView, TemplateView

from orgs.forms import OrganizationCreateForm
from orgs.models import Membership
from orgs.services import create_organization
from orgs.tenancy import OrgMixin


class OrganizationListView(LoginRequiredMixin, FormView):
    """The signed-in user's organizations and a form to create one."""

    template_name = "orgs/list.html"
    form_class = OrganizationCreateForm

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # The organization switcher submits here; only the user's own organizations resolve.
        slug = request.GET.get("switch")
        if slug and Membership.objects.filter(user=request.user, org__slug=slug).exists():
            return redirect("orgs:home", slug=slug)
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["memberships"] = Membership.objects.filter(user=self.request.user).select_related(
            "org"
        )
        return context

    def form_valid(self, form: OrganizationCreateForm) -> HttpResponse:
        try:
            org = create_organization(
                creator=self.request.user,  # type: ignore[arg-type]
                slug=form.cleaned_data["slug"],
                name=form.cleaned_data["name"],
                plan=form.cleaned_data["plan"],
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
            return self.form_invalid(form)
        messages.success(self.request, f"Organization {org.name} created. You are its owner.")
        return redirect("orgs:home", slug=org.slug)


class OrganizationHomeView(OrgMixin, TemplateView):
    """An organization's landing page: its namespaces, plan and the caller's role."""

    template_name = "orgs/home.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["namespaces"] = self.org.namespaces.all()
        context["member_count"] = self.org.memberships.count()
        return context
