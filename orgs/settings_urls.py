"""Per-user page URLs outside any organization, mounted at the site root.

``imageaccess/urls.py`` includes this module with ``path("", include("orgs.settings_urls"))``;
the names are not namespaced (``tokens``, ``token-revoke``, ``invitation``).
"""

from django.urls import path

from orgs import views

urlpatterns = [
    path("settings/tokens/", views.TokensView.as_view(), name="tokens"),
    path("settings/tokens/<int:pk>/revoke/", views.TokenRevokeView.as_view(), name="token-revoke"),
    path("invitations/<str:secret>/", views.InvitationView.as_view(), name="invitation"),
]
