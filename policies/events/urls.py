"""Events API URLs, mounted at ``/api/v1/``."""

from django.urls import path

from policies.events import api

urlpatterns = [
    path("orgs/<slug:slug>/events", api.EventListView.as_view(), name="api-events"),
]
