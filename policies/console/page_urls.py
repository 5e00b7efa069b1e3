"""Policy page URLs, mounted at ``/orgs/<slug>/``."""

from django.urls import path

from policies.console import views

app_name = "policies"

urlpatterns = [
    path("image-access/", views.ImageAccessView.as_view(), name="image-access"),
    path("registry-access/", views.RegistryAccessView.as_view(), name="registry-access"),
    path(
        "registry-access/switch/",
        views.RegistryAccessSwitchView.as_view(),
        name="registry-access-switch",
    ),
    path(
        "registry-access/remove/",
        views.RegistryRemoveView.as_view(),
        name="registry-access-remove",
    ),
    path("exceptions/", views.ExceptionsView.as_view(), name="exceptions"),
    path(
        "exceptions/<int:pk>/remove/",
        views.ExceptionRemoveView.as_view(),
        name="exception-remove",
    ),
    path("usage/", views.UsageView.as_view(), name="usage"),
    path("usage/events/", views.EventListView.as_view(), name="usage-events"),
    path("my-access/", views.MyAccessView.as_view(), name="my-access"),
    path("requests/", views.RequestsView.as_view(), name="requests"),
    path(
        "requests/<int:pk>/approve/",
        views.RequestApproveView.as_view(),
        name="request-approve",
    ),
    path(
        "requests/<int:pk>/decline/",
        views.RequestDeclineView.as_view(),
        name="request-decline",
    ),
]
