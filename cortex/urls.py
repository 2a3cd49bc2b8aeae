"""URL map: the admin, and the django-ninja API (MCP endpoint, protected-resource metadata, dev JWKS)."""

from django.contrib import admin
from django.urls import path

from cortex.api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", api.urls),
]
