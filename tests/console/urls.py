"""The root URLconf plus ``orgs.settings_urls`` while the root does not include it yet.

Once ``imageaccess/urls.py`` has ``path("", include("orgs.settings_urls"))`` the console
fixtures stop using this module (see ``console_urls`` in ``tests/console/conftest.py``).
"""

from django.urls import include, path

from imageaccess.urls import urlpatterns as root_urlpatterns

urlpatterns = [*root_urlpatterns, path("", include("orgs.settings_urls"))]
