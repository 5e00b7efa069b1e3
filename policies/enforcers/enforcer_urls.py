"""Enforcer URLs, mounted at the site root: the decision API and the registry token service."""

from django.urls import path

from policies.enforcers.decision_api import DecisionView
from policies.enforcers.token_service import token_endpoint

urlpatterns = [
    path("api/v1/decisions", DecisionView.as_view(), name="api-decisions"),
    path("v2/token", token_endpoint.token, name="registry-token"),
]
