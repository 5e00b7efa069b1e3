"""Policy page URLs, mounted at ``/orgs/<slug>/``."""

from django.urls import path

from policies import views

app_name = "policies"

urlpatterns = [
    path("image-access/", views.ImageAccessView.as_view(), name="image-access"),
    path("exceptions/", views.ExceptionsView.as_view(), name="exceptions"),
    path(
        "exceptions/<int:pk>/remove/",
        views.ExceptionRemoveView.as_view(),
        name="exception-remove",
    ),
]
