"""Registry token service URLs, mounted at ``/v2/``."""

from django.urls import path

from policies.registry import views

urlpatterns = [
    path("token", views.token, name="registry-token"),
]
