"""Policies API URLs, mounted at ``/api/v1/``."""

from django.urls import path

from policies import api

urlpatterns = [
    path("decisions", api.DecisionView.as_view(), name="api-decisions"),
    path("orgs/<slug:slug>/image-access", api.ImageAccessPolicyView.as_view(), name="api-policy"),
    path("orgs/<slug:slug>/exceptions", api.ExceptionListView.as_view(), name="api-exceptions"),
    path(
        "orgs/<slug:slug>/exceptions/<int:pk>",
        api.ExceptionDetailView.as_view(),
        name="api-exception",
    ),
]
