"""URL map: the admin, and the django-ninja API (MCP endpoint, protected-resource metadata, dev JWKS)."""

from django.contrib import admin
from django.urls import include, path

from authz.views import admin_logout
from cortex import health, observability
from cortex.api import api

urlpatterns = [
    # First: the MCP endpoint is the hottest route, and Django tries patterns in order.
    path("", api.urls),
    # Operator routes (issue 5): admin logout through Auth0, Auth0 sign-in (mozilla-django-oidc), probes, metrics.
    path("admin/logout/", admin_logout, name="admin_logout"),
    path("oidc/", include("mozilla_django_oidc.urls")),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", observability.metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
]
