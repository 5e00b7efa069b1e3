"""Organization pages: organizations, members and invitations, tokens, activity.

Views stay thin: parse the request, authorize through ``OrgMixin`` (the one place that
resolves the organization and the caller's membership), call a service, render. The
organization's overview page (``orgs:home``) is a console page: ``policies.console.views``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from allauth.account.decorators import reauthentication_required
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db.models import QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
)
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.generic import FormView, ListView, TemplateView

from imageaccess.csv_export import csv_response
from imageaccess.mail import mail_subject
from orgs.forms import (
    ActivityFilterForm,
    DeleteOrganizationForm,
    InviteForm,
    NamespaceForm,
    OrganizationCreateForm,
    OrganizationSettingsForm,
    RoleForm,
    TokenCreateForm,
)
from orgs.models import ActivityLog, Invitation, Membership, Namespace, PersonalAccessToken
from orgs.roles import Capability, Role
from orgs.services import (
    IssuedInvitation,
    MembershipError,
    accept_invitation,
    add_namespace,
    cancel_invitation,
    change_role,
    create_organization,
    decline_invitation,
    delete_organization,
    find_invitation,
    invite,
    remove_member,
    remove_namespace,
    renew_invitation,
    update_organization,
)
from orgs.tenancy import ConsoleMixin, OrgActionView, current_user
from orgs.tokens import mint_token, revoke_token

logger = logging.getLogger(__name__)


# --- Organizations ---------------------------------------------------------------------------


class OrganizationListView(LoginRequiredMixin, FormView):
    """The signed-in user's organizations, the switcher's target and a form to create one."""

    template_name = "orgs/list.html"
    form_class = OrganizationCreateForm

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # The organization switcher submits here; only the user's own organizations resolve.
        slug = request.GET.get("switch")
        if slug and Membership.objects.filter(user=current_user(request), org__slug=slug).exists():
            return redirect("orgs:home", slug=slug)
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["memberships"] = Membership.objects.filter(
            user=current_user(self.request)
        ).select_related("org")
        return context

    def form_valid(self, form: OrganizationCreateForm) -> HttpResponse:
        try:
            org = create_organization(
                creator=current_user(self.request),
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


# --- Members and invitations -----------------------------------------------------------------


def _invitation_url(request: HttpRequest, issued: IssuedInvitation) -> str:
    return request.build_absolute_uri(reverse("invitation", args=[issued.secret]))


def _send_in_background(subject: str, body: str, recipient: str, *, invitation_pk: int) -> None:
    """Send one email on a thread of its own; a failure is logged, never shown."""

    def send() -> None:
        try:
            send_mail(subject, body, None, [recipient])
        except Exception:
            logger.exception("could not email invitation %s", invitation_pk)

    threading.Thread(target=send, name="invitation-mail", daemon=True).start()


def _deliver_invitation(request: HttpRequest, issued: IssuedInvitation) -> None:
    """Show the link once (email may go to the console backend) and email it when we can.

    An invitation by email goes to the address the owner typed, so a failure to send it is
    reported. One by username goes to that account's address when there is such an account,
    in the background: neither the mail server's time nor its failure may tell the owner
    whether the account exists.
    """
    invitation = issued.invitation
    url = _invitation_url(request, issued)
    messages.success(
        request,
        f"Invitation for {invitation.invitee} ready. Share this link; it is shown only once "
        f"and works for 7 days: {url}",
    )
    recipient = invitation.email
    if not recipient and invitation.username:
        user = get_user_model().objects.filter(username__iexact=invitation.username).first()
        recipient = getattr(user, "email", "") or ""
    if not recipient:
        return
    inviter = request.user.get_username()
    body = (
        f"{inviter} invited you to join {invitation.org.name} on imageaccess as "
        f"{invitation.get_role_display().lower()}.\n\n"
        f"Accept or decline here (the link works for 7 days): {url}\n"
    )
    subject = mail_subject(f"Join {invitation.org.name} on imageaccess")
    if invitation.username:
        _send_in_background(subject, body, recipient, invitation_pk=invitation.pk)
        return
    try:
        send_mail(subject, body, None, [recipient])
    except Exception:
        # The link is already on screen, so a mail outage must not lose the invitation.
        logger.exception("could not email invitation %s", invitation.pk)
        messages.warning(request, "The invitation email could not be sent; share the link.")


class MembersView(ConsoleMixin, FormView):
    """Members with their roles; owners also see invitations and invite (POST)."""

    template_name = "orgs/members.html"
    form_class = InviteForm
    write_capability = Capability.MANAGE_MEMBERS

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["members"] = (
            Membership.objects.for_org(self.org).select_related("user").order_by("user__username")
        )
        context["role_choices"] = Role.choices
        if self.can(Capability.MANAGE_MEMBERS):
            context["invitations"] = Invitation.objects.for_org(self.org).filter(
                accepted_at__isnull=True, declined_at__isnull=True, cancelled_at__isnull=True
            )
        return context

    def form_valid(self, form: InviteForm) -> HttpResponse:
        try:
            issued = invite(
                actor=self.membership, role=form.cleaned_data["role"], **form.addressee()
            )
        except MembershipError as exc:
            form.add_error("invitee", str(exc))
            return self.form_invalid(form)
        _deliver_invitation(self.request, issued)
        return redirect("orgs:members", slug=self.org.slug)


@method_decorator(reauthentication_required, name="dispatch")
class MemberRoleView(OrgActionView):
    """POST: change one member's role (owners; the role rules live in the service).

    Asks for the password again when the last sign-in is more than a few minutes old.
    """

    def post(self, request: HttpRequest, slug: str, pk: int) -> HttpResponse:
        target = get_object_or_404(
            Membership.objects.for_org(self.org).select_related("user"), pk=pk
        )
        form = RoleForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Choose a role: member, editor or owner.")
        else:
            try:
                change_role(actor=self.membership, target=target, role=form.cleaned_data["role"])
            except MembershipError as exc:
                messages.error(request, str(exc))
            else:
                messages.success(
                    request,
                    f"{target.user.get_username()} is now {target.get_role_display().lower()}.",
                )
        return redirect("orgs:members", slug=slug)


class MemberRemoveView(OrgActionView):
    """POST: remove a member (owners)."""

    def post(self, request: HttpRequest, slug: str, pk: int) -> HttpResponse:
        target = get_object_or_404(
            Membership.objects.for_org(self.org).select_related("user"), pk=pk
        )
        try:
            remove_member(actor=self.membership, target=target)
        except MembershipError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"{target.user.get_username()} was removed.")
        return redirect("orgs:members", slug=slug)


class LeaveView(OrgActionView):
    """POST: the caller leaves the organization (anyone but the last owner)."""

    write_capability = Capability.VIEW

    def post(self, request: HttpRequest, slug: str) -> HttpResponse:
        try:
            remove_member(actor=self.membership, target=self.membership)
        except MembershipError as exc:
            messages.error(request, str(exc))
            return redirect("orgs:members", slug=slug)
        messages.success(request, f"You left {self.org.name}.")
        return redirect("orgs:list")


class InvitationResendView(OrgActionView):
    """POST: issue a fresh link and expiry for a pending or expired invitation (owners)."""

    def post(self, request: HttpRequest, slug: str, pk: int) -> HttpResponse:
        invitation = get_object_or_404(Invitation.objects.for_org(self.org), pk=pk)
        try:
            issued = renew_invitation(actor=self.membership, invitation=invitation)
        except MembershipError as exc:
            messages.error(request, str(exc))
        else:
            _deliver_invitation(request, issued)
        return redirect("orgs:members", slug=slug)


class InvitationCancelView(OrgActionView):
    """POST: withdraw a pending invitation (owners)."""

    def post(self, request: HttpRequest, slug: str, pk: int) -> HttpResponse:
        invitation = get_object_or_404(Invitation.objects.for_org(self.org), pk=pk)
        try:
            cancel_invitation(actor=self.membership, invitation=invitation)
        except MembershipError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"The invitation for {invitation.invitee} was cancelled.")
        return redirect("orgs:members", slug=slug)


@method_decorator(never_cache, name="dispatch")
class InvitationView(LoginRequiredMixin, TemplateView):
    """``/invitations/<secret>/``: the invitee accepts or declines (sign-in required).

    The secret is the only key, so an unknown one is a 404 and the page is never cached.
    """

    template_name = "orgs/invitation.html"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.user.is_authenticated:
            invitation = find_invitation(kwargs["secret"])
            if invitation is None:
                raise Http404("No such invitation")
            self.invitation = invitation
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["invitation"] = self.invitation
        context["already_member"] = Membership.objects.filter(
            org=self.invitation.org, user=current_user(self.request)
        ).exists()
        return context

    def post(self, request: HttpRequest, secret: str) -> HttpResponse:
        action = request.POST.get("action")
        user = current_user(request)
        try:
            if action == "accept":
                accept_invitation(invitation=self.invitation, user=user)
            elif action == "decline":
                decline_invitation(invitation=self.invitation, user=user)
            else:
                messages.error(request, "Choose Accept or Decline.")
                return redirect("invitation", secret=secret)
        except MembershipError as exc:
            messages.error(request, str(exc))
            return redirect("invitation", secret=secret)
        org = self.invitation.org
        if action == "accept":
            messages.success(request, f"Welcome to {org.name}.")
            return redirect("orgs:home", slug=org.slug)
        messages.info(request, f"You declined the invitation to {org.name}.")
        return redirect("orgs:list")


# --- Personal access tokens ------------------------------------------------------------------


@method_decorator(never_cache, name="dispatch")
@method_decorator(reauthentication_required(allow_get=True), name="dispatch")
class TokensView(LoginRequiredMixin, FormView):
    """``/settings/tokens/``: the caller's tokens and a form to create one.

    The plaintext of a new token is rendered in the POST response itself and nowhere else: it
    is never put in the session, a message or a redirect, so it cannot outlive that page.
    """

    template_name = "orgs/tokens.html"
    form_class = TokenCreateForm

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["tokens"] = PersonalAccessToken.objects.filter(user=current_user(self.request))
        return context

    def form_valid(self, form: TokenCreateForm) -> HttpResponse:
        try:
            minted = mint_token(
                user=current_user(self.request),
                name=form.cleaned_data["name"],
                scope=form.cleaned_data["scope"],
                expires_at=form.expires_at,
            )
        except ValueError as exc:
            form.add_error(None, f"{str(exc).capitalize()}.")
            return self.form_invalid(form)
        return self.render_to_response(
            self.get_context_data(form=self.form_class(), new_token=minted)
        )


@method_decorator(never_cache, name="dispatch")
class TokenRevokeView(LoginRequiredMixin, View):
    """POST: revoke one of the caller's own tokens (anyone else's is a 404)."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        token = get_object_or_404(PersonalAccessToken, pk=pk, user=current_user(request))
        revoke_token(token=token, actor=current_user(request))
        messages.success(request, f"Token “{token.name}” ({token.display}) was revoked.")
        return redirect("tokens")


# --- Activity --------------------------------------------------------------------------------


def _changes(entry: ActivityLog) -> list[tuple[str, Any, Any]]:
    before, after = entry.before or {}, entry.after or {}
    return [(key, before.get(key), after.get(key)) for key in sorted({*before, *after})]


ACTIVITY_CSV_HEADER = ["time", "actor", "action", "target", "before", "after"]


def _activity_rows(entries: Iterable[ActivityLog]) -> Iterator[list[Any]]:
    for entry in entries:
        yield [
            entry.created_at.isoformat(),
            entry.actor.get_username() if entry.actor else "",
            entry.action,
            entry.target,
            json.dumps(entry.before, sort_keys=True) if entry.before else "",
            json.dumps(entry.after, sort_keys=True) if entry.after else "",
        ]


class ActivityView(ConsoleMixin, ListView):
    """The organization's activity log (owners): filter by action and actor, 50 a page.

    ``?format=csv`` exports every entry that matches the filters, streamed.
    """

    template_name = "orgs/activity.html"
    capability = Capability.VIEW_ACTIVITY
    paginate_by = 50
    context_object_name = "entries"

    def get_filter_form(self) -> ActivityFilterForm:
        log = ActivityLog.objects.for_org(self.org)
        actions = list(log.order_by("action").values_list("action", flat=True).distinct())
        actors = list(
            log.exclude(actor=None)
            .order_by("actor__username")
            .values_list("actor__username", flat=True)
            .distinct()
        )
        return ActivityFilterForm(self.request.GET or None, actions=actions, actors=actors)

    def get_queryset(self) -> QuerySet[ActivityLog]:
        self.filter_form = self.get_filter_form()
        queryset = ActivityLog.objects.for_org(self.org).select_related("actor")
        # An unknown choice (a stale bookmark) shows everything rather than an error page.
        if self.filter_form.is_bound and self.filter_form.is_valid():
            if action := self.filter_form.cleaned_data["action"]:
                queryset = queryset.filter(action=action)
            if actor := self.filter_form.cleaned_data["actor"]:
                queryset = queryset.filter(actor__username=actor)
        return queryset

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.GET.get("format") == "csv":
            return csv_response(  # type: ignore[return-value]
                f"{self.org.slug}-activity.csv",
                ACTIVITY_CSV_HEADER,
                _activity_rows(self.get_queryset().iterator(chunk_size=500)),
            )
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["filter_form"] = self.filter_form
        for entry in context["entries"]:
            entry.changes = _changes(entry)
        return context


# --- Organization settings -------------------------------------------------------------------


class OrganizationSettingsView(ConsoleMixin, FormView):
    """Name, sign-in rules and namespaces (owners change them; members read them)."""

    template_name = "orgs/settings.html"
    form_class = OrganizationSettingsForm
    write_capability = Capability.MANAGE_MEMBERS

    def get_form_kwargs(self) -> dict[str, Any]:
        kwargs = super().get_form_kwargs()
        kwargs["instance"] = self.org
        return kwargs

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["namespaces"] = Namespace.objects.for_org(self.org)
        context["namespace_form"] = NamespaceForm()
        context["delete_form"] = DeleteOrganizationForm()
        return context

    def form_valid(self, form: OrganizationSettingsForm) -> HttpResponse:
        changes = {name: form.cleaned_data[name] for name in form.Meta.fields}
        # The form validated against the instance it was given; reload what is stored.
        self.org.refresh_from_db()
        try:
            changed = update_organization(actor=self.membership, changes=changes)
        except MembershipError as exc:
            form.add_error(None, str(exc))
            return self.form_invalid(form)
        if changed:
            messages.success(self.request, "Saved: " + ", ".join(sorted(changed)) + ".")
        else:
            messages.info(self.request, "Nothing changed.")
        return redirect("orgs:settings", slug=self.org.slug)


class NamespaceAddView(OrgActionView):
    """POST: claim another Docker Hub namespace (owners)."""

    def post(self, request: HttpRequest, slug: str) -> HttpResponse:
        form = NamespaceForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Name a Docker Hub namespace.")
        else:
            try:
                add_namespace(actor=self.membership, name=form.cleaned_data["name"])
            except MembershipError as exc:
                messages.error(request, str(exc))
            else:
                messages.success(request, f"{form.cleaned_data['name']} is now yours.")
        return redirect("orgs:settings", slug=slug)


class NamespaceRemoveView(OrgActionView):
    """POST: give up a namespace (owners)."""

    def post(self, request: HttpRequest, slug: str, pk: int) -> HttpResponse:
        namespace = get_object_or_404(Namespace.objects.for_org(self.org), pk=pk)
        try:
            remove_namespace(actor=self.membership, namespace=namespace)
        except MembershipError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"{namespace.name} was removed.")
        return redirect("orgs:settings", slug=slug)


@method_decorator(reauthentication_required, name="dispatch")
class OrganizationDeleteView(OrgActionView):
    """POST: delete the organization (owners, after re-authenticating and typing its slug)."""

    def post(self, request: HttpRequest, slug: str) -> HttpResponse:
        form = DeleteOrganizationForm(request.POST)
        confirm = form.cleaned_data["confirm"] if form.is_valid() else ""
        try:
            delete_organization(actor=self.membership, confirm_slug=confirm)
        except MembershipError as exc:
            messages.error(request, str(exc))
            return redirect("orgs:settings", slug=slug)
        messages.success(request, f"{self.org.name} was deleted.")
        return redirect("orgs:list")
