"""Policies API URLs, mounted at ``/api/v1/``."""

from django.urls import path

from policies import api, monitoring_api

urlpatterns = [
    path("decisions", api.DecisionView.as_view(), name="api-decisions"),
    path("orgs/<slug:slug>/image-access", api.ImageAccessPolicyView.as_view(), name="api-policy"),
    path("orgs/<slug:slug>/exceptions", api.ExceptionListView.as_view(), name="api-exceptions"),
    path(
        "orgs/<slug:slug>/exceptions/<int:pk>",
        api.ExceptionDetailView.as_view(),
        name="api-exception",
    ),
    path("orgs/<slug:slug>/events", monitoring_api.EventListView.as_view(), name="api-events"),
    path(
        "orgs/<slug:slug>/access-requests",
        monitoring_api.AccessRequestListView.as_view(),
        name="api-access-requests",
    ),
    path(
        "orgs/<slug:slug>/access-requests/<int:pk>/approve",
        monitoring_api.AccessRequestApproveView.as_view(),
        name="api-access-request-approve",
    ),
    path(
        "orgs/<slug:slug>/access-requests/<int:pk>/decline",
        monitoring_api.AccessRequestDeclineView.as_view(),
        name="api-access-request-decline",
    ),
]
