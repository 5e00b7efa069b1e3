"""Events API URLs, mounted at ``/api/v1/``."""

from django.urls import path

from policies.events import events_api

urlpatterns = [
    path("orgs/<slug:slug>/events", events_api.EventListView.as_view(), name="api-events"),
]
