"""Django admin for platform staff."""

from django.contrib import admin
from django.http import HttpRequest

from orgs.models import (
    ActivityLog,
    Invitation,
    Membership,
    Namespace,
    Organization,
    PersonalAccessToken,
    RegistryRefreshToken,
    Team,
)


class NamespaceInline(admin.TabularInline):
    model = Namespace
    extra = 0


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ("user",)


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "plan", "enforce_sign_in", "created_at")
    list_filter = ("plan", "enforce_sign_in")
    search_fields = ("slug", "name")
    inlines = (NamespaceInline, MembershipInline)


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ("org", "email", "username", "role", "created_at", "expires_at")
    exclude = ("token_hash",)


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("org", "name")
    filter_horizontal = ("members",)


@admin.register(PersonalAccessToken)
class PersonalAccessTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "scope", "display", "created_at", "expires_at", "revoked_at")
    readonly_fields = ("token_hash", "pepper_id", "last_chars", "last_used_at")
    list_filter = ("scope",)


@admin.register(RegistryRefreshToken)
class RegistryRefreshTokenAdmin(admin.ModelAdmin):
    """Refresh tokens the registry token service issued: staff can see and delete, not forge."""

    list_display = ("access_token", "user", "created_at", "expires_at", "revoked_at")
    readonly_fields = (
        "user",
        "access_token",
        "token_hash",
        "pepper_id",
        "created_at",
        "expires_at",
        "revoked_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(ActivityLog)
class ActivityLogAdmin(admin.ModelAdmin):
    list_display = ("created_at", "org", "actor", "action", "target")
    list_filter = ("action",)
    readonly_fields = [f.name for f in ActivityLog._meta.fields]
