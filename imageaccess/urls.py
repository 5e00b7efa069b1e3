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
from orgs import urls as organization_urls
from orgs.api import MeView
from policies.console.views import OrganizationOverviewView

admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]

api_v1: list[URLPattern | URLResolver] = [
    path("me", MeView.as_view(), name="api-me"),
    path("", include("policies.policy_api_urls")),
    path("", include("policies.events.events_api_urls")),
]
# The organization pages of ``orgs`` and, in the same ``orgs`` namespace, the overview, a
# console page (``orgs`` knows nothing of policies).
organization_pages = (
    [
        *organization_urls.urlpatterns,
        path("<slug:slug>/", OrganizationOverviewView.as_view(), name="home"),
    ],
    organization_urls.app_name,
)

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="orgs:list", permanent=False), name="root"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("accounts/", include("allauth.urls")),
    path("", include("orgs.settings_urls")),
    path("orgs/", include(organization_pages)),
    path("orgs/<slug:slug>/", include("policies.console.page_urls")),
    path("", include("policies.enforcers.enforcer_urls")),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("admin/", admin.site.urls),
]

# A database outage answers 503 with Retry-After (pages and APIs alike), never a bare 500.
handler500 = "imageaccess.views.server_error"
