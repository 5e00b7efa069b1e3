"""Organization page URLs, mounted at ``/orgs/``.

The overview of an organization (``orgs:home``, ``/orgs/<slug>/``) shows its image access, so
it is a console page (``policies.console.views``); the root URL conf adds it to this namespace.
"""

from django.urls import path

from orgs import views

app_name = "orgs"

urlpatterns = [
    path("", views.OrganizationListView.as_view(), name="list"),
    path("<slug:slug>/members/", views.MembersView.as_view(), name="members"),
    path("<slug:slug>/members/<int:pk>/role/", views.MemberRoleView.as_view(), name="member-role"),
    path(
        "<slug:slug>/members/<int:pk>/remove/",
        views.MemberRemoveView.as_view(),
        name="member-remove",
    ),
    path("<slug:slug>/leave/", views.LeaveView.as_view(), name="leave"),
    path(
        "<slug:slug>/invitations/<int:pk>/resend/",
        views.InvitationResendView.as_view(),
        name="invitation-resend",
    ),
    path(
        "<slug:slug>/invitations/<int:pk>/cancel/",
        views.InvitationCancelView.as_view(),
        name="invitation-cancel",
    ),
    path("<slug:slug>/activity/", views.ActivityView.as_view(), name="activity"),
    path("<slug:slug>/settings/", views.OrganizationSettingsView.as_view(), name="settings"),
    path(
        "<slug:slug>/settings/namespaces/",
        views.NamespaceAddView.as_view(),
        name="namespace-add",
    ),
    path(
        "<slug:slug>/settings/namespaces/<int:pk>/remove/",
        views.NamespaceRemoveView.as_view(),
        name="namespace-remove",
    ),
    path("<slug:slug>/delete/", views.OrganizationDeleteView.as_view(), name="delete"),
]
