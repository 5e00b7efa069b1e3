"""Access requests: a member asks for a repository, a namespace or an image type; owners decide.

Filing, approving and declining each write the activity log in the same transaction as the
change. Approval grants through the ordinary policy services (``add_exception``,
``update_policy``), so the grant is versioned and logged exactly like an owner's own change,
and it commits or rolls back together with the request's new status. Emails go out only after
the commit, so a rolled-back change never announces itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.core.mail import send_mail, send_mass_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from imageaccess.mail import mail_subject
from orgs.activity import log_action
from orgs.models import Membership, Organization, PersonalAccessToken
from orgs.roles import Capability, Role, role_can
from policies.choices import POLICY_IMAGE_TYPES
from policies.decision_service import PolicyUnavailable, decide_images
from policies.engine.registries import RegistryEntryError, parse_registry_entry
from policies.models import AccessRequest, RepositoryException
from policies.registry_access import get_registry_access, update_registry_access
from policies.services import (
    PolicyError,
    add_exception,
    get_policy,
    parse_repository_pattern,
    remove_exception,
    update_policy,
)

logger = logging.getLogger(__name__)

Kind = AccessRequest.Kind
Status = AccessRequest.Status

MAX_JUSTIFICATION = 2000
MAX_COMMENT = 2000
# A repository name nobody uses, so that deciding "namespace/<probe>" asks the engine about
# the namespace (its category, a namespace exception) rather than about one repository.
NAMESPACE_PROBE = "imageaccess-namespace-probe"


class RequestError(Exception):
    """A request that cannot be filed or decided; the message is shown as is.

    ``code`` is the API's machine code; ``field`` names the input at fault, if one is.
    """

    def __init__(self, message: str, *, code: str = "invalid_request", field: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.field = field


@dataclass(frozen=True)
class Target:
    """What a request asks for, normalized: ``repository`` ``ns/name``, ``namespace`` ``ns``,
    ``image_type`` ``community`` | ``verified_publisher`` | ``official``, or ``registry``
    ``ghcr.io`` (a host as the registry allowlist stores it)."""

    kind: str
    value: str

    def describe(self) -> str:
        """``repository bitnami/redis``, ``namespace bitnami (all its repositories)``..."""
        if self.kind == Kind.IMAGE_TYPE:
            return POLICY_IMAGE_TYPES[self.value].noun
        if self.kind == Kind.NAMESPACE:
            return f"namespace {self.value} (all its repositories)"
        if self.kind == Kind.REGISTRY:
            return f"registry {self.value}"
        return f"repository {self.value}"


def describe(request: AccessRequest) -> str:
    """What ``request`` asks for, in words."""
    return Target(request.kind, request.value).describe()


def normalize_target(kind: str, value: str) -> Target:
    """Validate what is asked for; ``ns/*`` asked as a repository becomes namespace ``ns``.

    Raises ``RequestError`` naming the field (``repository``, ``namespace``, ``image_type``
    or ``kind``) with the reference parser's own message for names that do not parse.
    """
    text = (value or "").strip()
    if kind == Kind.REPOSITORY and text.endswith("/*"):
        kind, text = Kind.NAMESPACE, text[:-2]
    if kind == Kind.REPOSITORY:
        if not text:
            raise RequestError("name a repository, such as bitnami/redis", field="repository")
        try:
            namespace, name = parse_repository_pattern(text)
        except PolicyError as exc:
            raise RequestError(str(exc), field="repository") from None
        return Target(Kind.REPOSITORY.value, f"{namespace}/{name}")
    if kind == Kind.NAMESPACE:
        if not text or "/" in text:
            raise RequestError(
                "name a Docker Hub namespace, such as bitnami, without a repository",
                field="namespace",
            )
        try:
            namespace, _ = parse_repository_pattern(f"{text}/*")
        except PolicyError as exc:
            raise RequestError(str(exc), field="namespace") from None
        if namespace != text:
            # "docker.io/*" parses as library/*; only a plain namespace means what it says.
            raise RequestError(f"{text}: not a Docker Hub namespace", field="namespace")
        return Target(Kind.NAMESPACE.value, namespace)
    if kind == Kind.IMAGE_TYPE:
        if text not in POLICY_IMAGE_TYPES:
            *others, last = POLICY_IMAGE_TYPES
            raise RequestError(f"choose {', '.join(others)} or {last}", field="image_type")
        return Target(Kind.IMAGE_TYPE.value, text)
    if kind == Kind.REGISTRY:
        try:
            return Target(Kind.REGISTRY.value, parse_registry_entry(text).text)
        except RegistryEntryError as exc:
            raise RequestError(str(exc), field="registry") from None
    raise RequestError("choose repository, namespace, image_type or registry", field="kind")


def already_allowed(org: Organization, membership: Membership, target: Target) -> str | None:
    """Why ``target`` is already allowed for this member, or ``None`` if it is not.

    Repositories and namespaces ask the decision engine itself (policy, exceptions, owner
    bypass, organization namespaces), so this can never disagree with what a pull gets. An
    audit-mode "would deny" counts as not allowed: the request prepares for enforcement.
    """
    if target.kind == Kind.REGISTRY:
        # Registry access restricts owners too: no owner bypass here.
        access = get_registry_access(org)
        if not access.enabled or not org.is_business:
            return "registry access management is not in effect"
        if target.value in access.hosts:
            return f"{target.value} is an allowed registry"
        return None
    if target.kind == Kind.IMAGE_TYPE:
        if membership.role == Role.OWNER:
            return "owners are not restricted"
        policy = get_policy(org)
        if not policy.enabled or not org.is_business:
            return "image access management is not in effect"
        image_type = POLICY_IMAGE_TYPES[target.value]
        return f"{image_type.noun} are allowed" if getattr(policy, image_type.setting) else None
    image = target.value if target.kind == Kind.REPOSITORY else f"{target.value}/{NAMESPACE_PROBE}"
    try:
        (outcome,) = decide_images([image], user_id=membership.user_id, named_orgs=[org.slug])
    except PolicyUnavailable:
        raise RequestError(
            "the policy cannot be read right now: try again shortly", code="policy_unavailable"
        ) from None
    decision = outcome.decision
    if decision is not None and decision.allowed and not decision.would_deny:
        return decision.reason
    return None


def _clean_text(text: str, *, field: str, limit: int, required: bool) -> str:
    cleaned = (text or "").strip()
    if required and not cleaned:
        raise RequestError("say why you need it", field=field)
    if len(cleaned) > limit:
        raise RequestError(f"at most {limit} characters", field=field)
    return cleaned


def file_request(
    *,
    org: Organization,
    requester: User,
    kind: str,
    value: str,
    justification: str,
    review_url: str = "",
    token: PersonalAccessToken | None = None,
) -> AccessRequest:
    """File a member's request and email the owners (``review_url``: the Requests page link).

    Refused with a ``RequestError`` when the requester is not a member, the input does not
    validate, the thing is already allowed for them, or they already have the same request
    pending.
    """
    membership = Membership.objects.filter(org=org, user=requester).first()
    if membership is None:
        raise RequestError("only members of the organization can ask for access", code="not_member")
    target = normalize_target(kind, value)
    text = _clean_text(justification, field="justification", limit=MAX_JUSTIFICATION, required=True)
    reason = already_allowed(org, membership, target)
    if reason is not None:
        raise RequestError(
            f"{target.describe()} is already allowed for you in {org.name} ({reason}): "
            "no request needed",
            code="already_allowed",
        )
    with transaction.atomic():
        # Locking the member's row serializes their concurrent filings, so two clicks cannot
        # both pass the duplicate check.
        Membership.objects.select_for_update().filter(pk=membership.pk).first()
        duplicate = (
            AccessRequest.objects.for_org(org)
            .filter(requester=requester, kind=target.kind, value=target.value)
            .filter(status=Status.PENDING)
            .exists()
        )
        if duplicate:
            raise RequestError(
                f"you already asked for {target.describe()}: the request is pending",
                code="duplicate_request",
            )
        request = AccessRequest.objects.create(
            org=org,
            requester=requester,
            kind=target.kind,
            value=target.value,
            justification=text,
        )
        log_action(
            actor=requester,
            org=org,
            action="access_request.filed",
            target=target.describe(),
            after={"kind": target.kind, "value": target.value, "justification": text},
            token=token,
        )
        _email_after_commit(_notify_owners, request.pk, review_url)
    return request


def _require_reviewer(org: Organization, actor: User) -> None:
    """Owners decide; views check first, this keeps the rule true for every caller."""
    role = Membership.objects.filter(org=org, user=actor).values_list("role", flat=True).first()
    if role is None or not role_can(role, Capability.MANAGE_REQUESTS):
        raise PermissionDenied("only organization owners can decide access requests")


def _lock_pending(request: AccessRequest) -> AccessRequest:
    locked = AccessRequest.objects.select_for_update().select_related("org", "requester")
    current = locked.get(pk=request.pk)
    if current.status != Status.PENDING:
        raise RequestError(f"this request was already {current.status}", code="request_decided")
    return current


def _grant_exception(
    request: AccessRequest, actor: User, token: PersonalAccessToken | None
) -> RepositoryException:
    """The repository (``ns/name``) or namespace (``ns/*``) exception approving ``request``."""
    pattern = request.value if request.kind == Kind.REPOSITORY else f"{request.value}/*"
    namespace, name = parse_repository_pattern(pattern)
    existing = (
        RepositoryException.objects.for_org(request.org).filter(namespace=namespace, name=name)
    ).first()
    if existing is not None and not existing.is_expired:
        return existing  # an owner granted it meanwhile: approving links that grant
    if existing is not None:
        # An expired exception would block a new one with the same name: replace it.
        remove_exception(exception=existing, actor=actor, token=token)
    reason = f"access request by {request.requester.get_username()}: {request.justification}"
    return add_exception(
        org=request.org, actor=actor, repository=pattern, reason=reason[:500], token=token
    )


def approve_request(
    *,
    request: AccessRequest,
    actor: User,
    comment: str = "",
    status_url: str = "",
    token: PersonalAccessToken | None = None,
) -> AccessRequest:
    """Grant what ``request`` asks for and mark it approved, in one transaction.

    A repository or namespace becomes a repository exception; an image type is turned on in
    the policy; a registry joins the registry allowlist. The requester is emailed after the
    commit (``status_url``: their My access page).
    """
    _require_reviewer(request.org, actor)
    comment = _clean_text(comment, field="comment", limit=MAX_COMMENT, required=False)
    with transaction.atomic():
        current = _lock_pending(request)
        try:
            if current.kind == Kind.IMAGE_TYPE:
                setting = POLICY_IMAGE_TYPES[current.value].setting
                update_policy(org=current.org, actor=actor, changes={setting: True}, token=token)
            elif current.kind == Kind.REGISTRY:
                access = get_registry_access(current.org)
                note = f"requested by {current.requester.get_username()}"
                update_registry_access(
                    org=current.org,
                    actor=actor,
                    registries=[*access.registries, {"host": current.value, "note": note}],
                    token=token,
                )
            else:
                current.exception = _grant_exception(current, actor, token)
        except PolicyError as exc:
            raise RequestError(str(exc), code="grant_failed") from None
        _decide(current, actor, Status.APPROVED, comment, token)
        _email_after_commit(_notify_requester, current.pk, status_url)
    return current


def decline_request(
    *,
    request: AccessRequest,
    actor: User,
    comment: str,
    status_url: str = "",
    token: PersonalAccessToken | None = None,
) -> AccessRequest:
    """Mark ``request`` declined with the owner's comment and email the requester."""
    _require_reviewer(request.org, actor)
    comment = _clean_text(comment, field="comment", limit=MAX_COMMENT, required=False)
    with transaction.atomic():
        current = _lock_pending(request)
        _decide(current, actor, Status.DECLINED, comment, token)
        _email_after_commit(_notify_requester, current.pk, status_url)
    return current


def _decide(
    request: AccessRequest,
    actor: User,
    status: str,
    comment: str,
    token: PersonalAccessToken | None,
) -> None:
    request.status = status
    request.decided_by = actor
    request.decided_at = timezone.now()
    request.comment = comment
    request.save(update_fields=["status", "decided_by", "decided_at", "comment", "exception"])
    log_action(
        actor=actor,
        org=request.org,
        action=f"access_request.{status}",
        target=f"{describe(request)} for {request.requester.get_username()}",
        before={"status": Status.PENDING.value},
        after={"status": status, "comment": comment},
        token=token,
    )


# --- Email -----------------------------------------------------------------------------------


def _email_after_commit(notify: Callable[[int, str], None], request_id: int, url: str) -> None:
    """Run ``notify(request_id, url)`` once the transaction commits; a failure is only logged.

    By then the request is filed or decided for good: a mail server that is down, or a
    message Django refuses, must not turn that success into an error answer (which would
    invite a retry of something already done). The callback handles its own failure rather
    than relying on ``on_commit(robust=True)``, whose error report needs a named function.
    """

    def send() -> None:
        try:
            notify(request_id, url)
        except Exception:
            logger.exception(
                "access request %s: %s could not send its email", request_id, notify.__name__
            )

    transaction.on_commit(send)


def _notify_owners(request_id: int, review_url: str) -> None:
    """Tell every owner with an email address about a new request (after the commit)."""
    request = AccessRequest.objects.select_related("org", "requester").get(pk=request_id)
    org = request.org
    url = review_url or reverse("policies:requests", kwargs={"slug": org.slug})
    who = request.requester.get_username()
    subject = mail_subject(f"{who} asks for {describe(request)} in {org.name}")
    body = (
        f"{who} asks for access to {describe(request)} in {org.name}.\n\n"
        f"Why:\n{request.justification}\n\n"
        f"Approve or decline it on the Requests page: {url}\n"
    )
    owners = (
        Membership.objects.for_org(org)
        .filter(role=Role.OWNER)
        .exclude(user__email="")
        .values_list("user__email", flat=True)
    )
    # One message per owner: owners do not see each other's addresses.
    send_mass_mail([(subject, body, None, [email]) for email in owners])


def _notify_requester(request_id: int, status_url: str) -> None:
    """Tell the requester what the owners decided (after the commit)."""
    request = AccessRequest.objects.select_related("org", "requester", "decided_by").get(
        pk=request_id
    )
    email = request.requester.email
    if not email:
        return
    org = request.org
    url = status_url or reverse("policies:my-access", kwargs={"slug": org.slug})
    by = request.decided_by.get_username() if request.decided_by else "an owner"
    if request.status == Status.APPROVED:
        outcome = f"approved by {by}. You can pull it now."
    else:
        outcome = f"declined by {by}."
    comment = f"\nComment:\n{request.comment}\n" if request.comment else ""
    send_mail(
        mail_subject(f"Your request for {describe(request)} in {org.name} was {request.status}"),
        f"Your request for {describe(request)} in {org.name} was {outcome}\n{comment}\n"
        f"Your requests and recent denials: {url}\n",
        None,
        [email],
    )


def pending_values(org: Organization, user: User) -> set[tuple[str, str]]:
    """``(kind, value)`` of the member's pending requests, to mark what is already asked."""
    return set(
        AccessRequest.objects.for_org(org)
        .filter(requester=user, status=Status.PENDING)
        .values_list("kind", "value")
    )
