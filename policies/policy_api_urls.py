"""Policy API URLs, mounted at ``/api/v1/``: image and registry access, exceptions, requests."""

from django.urls import path

from policies import policy_api

urlpatterns = [
    path(
        "orgs/<slug:slug>/image-access",
        policy_api.ImageAccessPolicyView.as_view(),
        name="api-policy",
    ),
    path(
        "orgs/<slug:slug>/registry-access",
        policy_api.RegistryAccessView.as_view(),
        name="api-registry-access",
    ),
    path(
        "orgs/<slug:slug>/exceptions", policy_api.ExceptionListView.as_view(), name="api-exceptions"
    ),
    path(
        "orgs/<slug:slug>/exceptions/<int:pk>",
        policy_api.ExceptionDetailView.as_view(),
        name="api-exception",
    ),
    path(
        "orgs/<slug:slug>/access-requests",
        policy_api.AccessRequestListView.as_view(),
        name="api-access-requests",
    ),
    path(
        "orgs/<slug:slug>/access-requests/<int:pk>/approve",
        policy_api.AccessRequestApproveView.as_view(),
        name="api-access-request-approve",
    ),
    path(
        "orgs/<slug:slug>/access-requests/<int:pk>/decline",
        policy_api.AccessRequestDeclineView.as_view(),
        name="api-access-request-decline",
    ),
]
