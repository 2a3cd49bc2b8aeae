"""Operator pages (thin: the values come from ``authz.connect`` and ``authz.doctor``). Mounted inside the admin
by ``authz.admin.TenantAdmin.get_urls``, so they get the admin's login, permissions and look."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from mozilla_django_oidc.views import OIDCLogoutView

from authz import connect, doctor
from authz.models import Tenant


def connect_page(request: HttpRequest, tenant_id: int, model_admin: admin.ModelAdmin) -> HttpResponse:
    tenant = get_object_or_404(Tenant, pk=tenant_id)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"Connect ChatGPT to {tenant.name}",
        "tenant": tenant,
        "opts": Tenant._meta,
        "values": connect.connector_values(tenant),
        "auth0_settings": connect.auth0_settings(tenant),
    }
    return TemplateResponse(request, "operator/connect.html", context)


def doctor_page(request: HttpRequest, tenant_id: int, model_admin: admin.ModelAdmin) -> HttpResponse:
    """GET runs the configuration checks; POST with a token also checks the token (never stored or logged)."""
    tenant = get_object_or_404(Tenant, pk=tenant_id)
    token = request.POST.get("token", "").strip() if request.method == "POST" else ""
    rows = doctor.run(tenant, token or None)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"OAuth doctor: {tenant.name}",
        "tenant": tenant,
        "opts": Tenant._meta,
        "rows": rows,
        "failed": doctor.failed(rows),
        "token_checked": bool(token),
    }
    return TemplateResponse(request, "operator/doctor.html", context)


def admin_logout(request: HttpRequest) -> HttpResponse:
    """The admin's logout: through Auth0's OIDC logout when the session came from Auth0, else Django's own."""
    if request.method != "POST":
        return HttpResponseRedirect("/admin/")
    if request.session.get("oidc_id_token"):
        return OIDCLogoutView.as_view()(request)
    logout(request)
    return HttpResponseRedirect("/admin/login/")
