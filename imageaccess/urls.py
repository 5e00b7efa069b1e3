"""Root URL configuration.

Signing in happens in one place, allauth's sign-in (``/accounts/login/``), which asks for
the second factor of users who have one and limits failed attempts. The Django admin's own
password form is not served: its login page sends to allauth's and comes back.
"""

from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from imageaccess import views
from orgs.api import MeView

admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]

api_v1: list[URLPattern | URLResolver] = [
    path("me", MeView.as_view(), name="api-me"),
    path("", include("policies.api_urls")),
]

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="orgs:list", permanent=False), name="root"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("accounts/", include("allauth.urls")),
    path("", include("orgs.settings_urls")),
    path("orgs/", include("orgs.urls")),
    path("orgs/<slug:slug>/", include("policies.urls")),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("v2/", include("policies.registry_urls")),
    path("admin/", admin.site.urls),
]

# A database outage answers 503 with Retry-After (pages and APIs alike), never a bare 500.
handler500 = "imageaccess.views.server_error"
