"""Admin for tenants and their scopes (plain registrations; the tools app adds its own)."""

from __future__ import annotations

from django.contrib import admin

from authz.models import Scope, Tenant


class ScopeInline(admin.TabularInline):
    model = Scope
    extra = 0
    fields = ["name", "description"]


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "auth_mode", "issuer", "resource_url", "use_dev_issuer"]
    search_fields = ["slug", "name", "issuer", "resource_url"]
    readonly_fields = ["config_version"]
    inlines = [ScopeInline]


@admin.register(Scope)
class ScopeAdmin(admin.ModelAdmin):
    list_display = ["name", "tenant", "description"]
    list_filter = ["tenant"]
    search_fields = ["name", "description"]
