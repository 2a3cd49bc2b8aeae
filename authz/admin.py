"""Admin for tenants, their scopes and tools, and the scope-sync records.

The tenant page is where an operator sets a tenant up: its fields are grouped the way the seed guide walks
through Auth0, each help text names the Auth0 setting it must match, the tenant's tools are edited inline
(enable, title, description, scopes), and the page links to "Connect ChatGPT" (the connector values) and
"Doctor" (the troubleshooting checks). Actions: refresh the JWKS now, sync scopes to Auth0 now, mint a
development token (development issuer only). Management API secrets are write-only: the form never shows
them back, and leaving the field empty keeps the stored value.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from authz import devissuer, jwks, scopesync, views
from authz.models import Scope, ScopeSyncRun, Tenant
from tools.models import Tool

SECRET_FIELDS = ("mgmt_client_secret",)
DEV_TOKEN_TTL_SECONDS = 3600


def model_fields(model: type) -> set[str]:
    return {field.name for field in model._meta.get_fields()}


class WriteOnlySecret(forms.CharField):
    """A password-style input that never renders the stored value; empty input means "keep it"."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs["widget"] = forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})
        super().__init__(**kwargs)


class TenantForm(forms.ModelForm):
    class Meta:
        model = Tenant
        fields = "__all__"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in SECRET_FIELDS:
            if name in self.fields:
                stored = bool(self.instance.pk and getattr(self.instance, name, ""))
                help_text = (
                    "Write-only: the Auth0 Machine-to-Machine application's Client Secret (Applications → your "
                    "M2M app → Settings). It is never shown again; leave empty to keep the stored one."
                )
                self.fields[name] = WriteOnlySecret(
                    label=self.fields[name].label,
                    help_text=help_text + (" A secret is stored." if stored else " No secret is stored."),
                )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for name in SECRET_FIELDS:
            if name in self.fields and not data.get(name) and self.instance.pk:
                data[name] = getattr(Tenant.objects.get(pk=self.instance.pk), name)
        return data


class ScopeInline(admin.TabularInline):
    model = Scope
    extra = 0
    fields = ["name", "description"]


class ToolInline(admin.TabularInline):
    """The tenant's tools: what clients see and the scopes a token needs for each."""

    model = Tool
    extra = 0
    fields = ["name", "enabled", "title", "description", "scopes", "noauth"]
    readonly_fields = ["name"]
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # rows come from the registered handlers (manage.py sync_tools)

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "scopes":
            tenant_id = request.resolver_match.kwargs.get("object_id") if request.resolver_match else None
            kwargs["queryset"] = Scope.objects.filter(tenant_id=tenant_id) if tenant_id else Scope.objects.none()
            kwargs["widget"] = forms.SelectMultiple(attrs={"size": 5})
        return super().formfield_for_manytomany(db_field, request, **kwargs)


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    form = TenantForm
    list_display = ["slug", "name", "auth_mode", "issuer", "resource_url", "use_dev_issuer", "operator_links"]
    search_fields = ["slug", "name", "issuer", "resource_url"]
    readonly_fields = ["config_version", "metadata_link"]
    inlines = [ScopeInline, ToolInline]
    actions = ["refresh_jwks", "sync_scopes", "mint_dev_token"]
    change_form_template = "admin/authz/tenant/change_form.html"

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list[tuple[str | None, dict[str, Any]]]:
        present = model_fields(Tenant)
        groups: list[tuple[str | None, list[str], str]] = [
            (None, ["slug", "name", "auth_mode", "challenge_style"], ""),
            (
                "The MCP resource",
                ["resource_url", "audience", "metadata_link", "resource_name", "resource_documentation"],
                "The resource URL is MCP_RESOURCE_URL and must equal the Auth0 API Identifier (the audience).",
            ),
            (
                "Auth0 (the authorization server)",
                ["issuer", "authorization_server", "jwks_uri", "algorithms", "leeway_seconds", "scope_claims"],
                "Seed guide section 2. Issuer: https://TENANT.auth0.com/ (with the trailing slash).",
            ),
            (
                "Auth0 Management API (scope sync, doctor)",
                ["mgmt_domain", "mgmt_client_id", "mgmt_client_secret"],
                "A Machine-to-Machine application authorized for the Auth0 Management API with "
                "read:resource_servers, update:resource_servers and read:tenant_settings.",
            ),
            ("Browsers and development", ["allowed_origins", "use_dev_issuer", "config_version"], ""),
        ]
        extra = "metadata_link"
        fieldsets: list[tuple[str | None, dict[str, Any]]] = []
        placed: set[str] = set()
        for title, names, description in groups:
            names = [name for name in names if name in present or name == extra]
            placed.update(names)
            if names:
                fieldsets.append((title, {"fields": names, "description": description}))
        rest = [name for name in self.get_form(request, obj, fields=None).base_fields if name not in placed]
        if rest:
            fieldsets.append(("Other", {"fields": rest}))
        return fieldsets

    @admin.display(description="metadata")
    def metadata_link(self, obj: Tenant) -> str:
        if not obj.pk:
            return "-"
        return format_html('<a href="{}" target="_blank">{}</a>', obj.metadata_url, obj.metadata_url)

    @admin.display(description="operator")
    def operator_links(self, obj: Tenant) -> str:
        return format_html(
            '<a href="{}">Connect ChatGPT</a> · <a href="{}">Doctor</a>',
            reverse("admin:authz_tenant_connect", args=[obj.pk]),
            reverse("admin:authz_tenant_doctor", args=[obj.pk]),
        )

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path(
                "<int:tenant_id>/connect/",
                wrap(lambda request, tenant_id: views.connect_page(request, tenant_id, self)),
                name="authz_tenant_connect",
            ),
            path(
                "<int:tenant_id>/doctor/",
                wrap(lambda request, tenant_id: views.doctor_page(request, tenant_id, self)),
                name="authz_tenant_doctor",
            ),
            *super().get_urls(),
        ]

    @admin.action(description="Refresh JWKS now (fetch the signing keys)")
    def refresh_jwks(self, request: HttpRequest, queryset: QuerySet[Tenant]) -> None:
        for tenant in queryset:
            status = jwks.refresh(tenant)
            if status["ok"]:
                kids = ", ".join(status.get("kids") or []) or "none"
                self.message_user(request, f"{tenant.slug}: JWKS refreshed from {status['source']} (kids: {kids})")
            else:
                self.message_user(request, f"{tenant.slug}: JWKS refresh failed: {status['error']}", messages.ERROR)

    @admin.action(description="Sync scopes to Auth0 now (Management API)")
    def sync_scopes(self, request: HttpRequest, queryset: QuerySet[Tenant]) -> None:
        for tenant in queryset:
            try:
                run = scopesync.sync(tenant)
            except scopesync.NotConfigured as exc:
                self.message_user(request, str(exc), messages.ERROR)
                continue
            if run.status == ScopeSyncRun.Status.OK:
                self.message_user(request, f"{tenant.slug}: scopes synced (added: {', '.join(run.added) or 'none'})")
            else:
                self.message_user(request, f"{tenant.slug}: scope sync failed: {run.error}", messages.ERROR)

    @admin.action(description="Mint a development token (development issuer only, 1 hour, all scopes)")
    def mint_dev_token(self, request: HttpRequest, queryset: QuerySet[Tenant]) -> None:
        for tenant in queryset:
            if not (tenant.use_dev_issuer and settings.DEBUG):
                self.message_user(
                    request,
                    f"{tenant.slug}: not minted: only tenants that trust the development issuer, with DEBUG on",
                    messages.ERROR,
                )
                continue
            scopes = list(Scope.objects.filter(tenant=tenant).order_by("id").values_list("name", flat=True))
            user = getattr(request, "user", None)
            subject = f"admin|{getattr(user, 'username', 'operator')}"
            token = devissuer.mint(tenant, scopes, subject, DEV_TOKEN_TTL_SECONDS)
            self.message_user(request, f"{tenant.slug}: development token ({' '.join(scopes)}): {token}")


@admin.register(Scope)
class ScopeAdmin(admin.ModelAdmin):
    list_display = ["name", "tenant", "description"]
    list_filter = ["tenant"]
    search_fields = ["name", "description"]


@admin.register(ScopeSyncRun)
class ScopeSyncRunAdmin(admin.ModelAdmin):
    """Each scope sync to Auth0, read-only: what it added, updated, left alone and kept, or why it failed."""

    list_display = ["started", "tenant", "status", "added", "updated", "unchanged", "kept", "error"]
    list_filter = ["status", "tenant"]
    date_hierarchy = "started"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
