"""Policy API URLs, mounted at ``/api/v1/``: image access, exceptions, access requests."""

from django.urls import path

from policies import api

urlpatterns = [
    path("orgs/<slug:slug>/image-access", api.ImageAccessPolicyView.as_view(), name="api-policy"),
    path("orgs/<slug:slug>/exceptions", api.ExceptionListView.as_view(), name="api-exceptions"),
    path(
        "orgs/<slug:slug>/exceptions/<int:pk>",
        api.ExceptionDetailView.as_view(),
        name="api-exception",
    ),
    path(
        "orgs/<slug:slug>/access-requests",
        api.AccessRequestListView.as_view(),
        name="api-access-requests",
    ),
    path(
        "orgs/<slug:slug>/access-requests/<int:pk>/approve",
        api.AccessRequestApproveView.as_view(),
        name="api-access-request-approve",
    ),
    path(
        "orgs/<slug:slug>/access-requests/<int:pk>/decline",
        api.AccessRequestDeclineView.as_view(),
        name="api-access-request-decline",
    ),
]
