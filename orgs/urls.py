"""Organization page URLs, mounted at ``/orgs/``."""

from django.urls import path

from orgs import views

app_name = "orgs"

urlpatterns = [
    path("", views.OrganizationListView.as_view(), name="list"),
    path("<slug:slug>/", views.OrganizationHomeView.as_view(), name="home"),
]
