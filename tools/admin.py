"""Admin for the tools app: tool rows (what admins edit), the data the built-in tools own, and the
read-only audit of tool calls.

A tool's scopes can only be chosen among its own tenant's scopes (the form offers only those and refuses
others); every edit bumps the tenant's ``config_version``, so the protected-resource metadata and
``tools/list`` change on the next request. Codebases have a "re-index now" action (``tools.codebase_index``).
The audit log filters by tenant, tool, outcome, subject and date, and searches subject, client and error.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from authz.models import Scope
from tools import codebase_index
from tools.codebase_files import resolve_root
from tools.models import Codebase, Document, Memory, Tool, ToolCall
from tools.registry import get


class ToolForm(forms.ModelForm):
    class Meta:
        model = Tool
        fields = "__all__"
        help_texts = {
            "enabled": "Listed in tools/list and the protected-resource metadata, and callable.",
            "title": "Shown to users by ChatGPT; empty: the handler's title.",
            "description": "Tells the model when to use the tool; empty: the handler's description.",
            "scopes": "A token needs all of these to call the tool. Each must be a permission of the tenant's "
            "Auth0 API (Applications → APIs → Permissions) and granted to the user (RBAC).",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        tenant_id = self.instance.tenant_id if self.instance.pk else None
        self.foreign_scopes: list[str] = []
        if "scopes" in self.fields and tenant_id:
            self.fields["scopes"].queryset = Scope.objects.filter(tenant_id=tenant_id)
            if self.is_bound:
                key = self.add_prefix("scopes")
                getlist = getattr(self.data, "getlist", None)
                values = getlist(key) if getlist else self.data.get(key) or []
                chosen = [pk for pk in values if str(pk).isdigit()]
                others = Scope.objects.filter(pk__in=chosen).exclude(tenant_id=tenant_id)
                self.foreign_scopes = sorted(others.values_list("name", flat=True))

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.foreign_scopes:
            raise forms.ValidationError(f"Scopes of another tenant: {', '.join(self.foreign_scopes)}")
        tenant = data.get("tenant")
        foreign = [
            scope.name for scope in data.get("scopes") or [] if tenant is not None and scope.tenant_id != tenant.pk
        ]
        if foreign:
            raise forms.ValidationError(f"Scopes of another tenant: {', '.join(foreign)}")
        return data


class ScopeListFilter(admin.SimpleListFilter):
    title = "scope"
    parameter_name = "scope"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        names = sorted(set(Scope.objects.values_list("name", flat=True)))
        return [(name, name) for name in names]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Tool]) -> QuerySet[Tool]:
        return queryset.filter(scopes__name=self.value()).distinct() if self.value() else queryset


@admin.register(Tool)
class ToolAdmin(admin.ModelAdmin):
    form = ToolForm
    list_display = ["name", "tenant", "enabled", "available", "noauth", "scope_list", "title"]
    list_editable = ["enabled"]
    list_filter = ["tenant", "enabled", "noauth", ScopeListFilter]
    search_fields = ["name", "title", "description"]
    filter_horizontal = ["scopes"]
    fields = ["tenant", "name", "enabled", "title", "description", "scopes", "noauth"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # The name is the registered handler's; the tenant is fixed once the row exists.
        return ["tenant", "name"] if obj is not None else []

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("tenant").prefetch_related("scopes")

    @admin.display(boolean=True, description="available")
    def available(self, obj: Tool) -> bool:
        """False when no registered handler has this name (the code was removed): the tool is not served."""
        return get(obj.name) is not None

    @admin.display(description="scopes")
    def scope_list(self, obj: Tool) -> str:
        return " ".join(sorted(scope.name for scope in obj.scopes.all()))


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ["title", "tenant", "author", "client_id", "created"]
    list_filter = ["tenant", "created"]
    search_fields = ["title", "author", "body"]
    readonly_fields = ["uid", "created"]


@admin.register(Memory)
class MemoryAdmin(admin.ModelAdmin):
    list_display = ["__str__", "tenant", "subject", "importance", "domain", "created"]
    list_filter = ["tenant", "domain", "created"]
    search_fields = ["subject", "content"]
    readonly_fields = ["created"]


class CodebaseForm(forms.ModelForm):
    class Meta:
        model = Codebase
        fields = "__all__"

    def clean_root(self) -> str:
        try:
            return resolve_root(self.cleaned_data["root"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None


@admin.register(Codebase)
class CodebaseAdmin(admin.ModelAdmin):
    form = CodebaseForm
    list_display = ["name", "tenant", "root", "index_current", "indexed_files", "indexed_lines", "indexed_at"]
    list_filter = ["tenant"]
    list_select_related = ["tenant", "index"]
    actions = ["reindex"]

    @admin.display(boolean=True, description="index current")
    def index_current(self, codebase: Codebase) -> bool:
        """False until the first re-index, and again once the root or globs change (searches then scan)."""
        return codebase_index.is_current(codebase)

    @admin.display(description="files")
    def indexed_files(self, codebase: Codebase) -> int | None:
        return codebase.index.files if hasattr(codebase, "index") else None

    @admin.display(description="lines")
    def indexed_lines(self, codebase: Codebase) -> int | None:
        return codebase.index.lines if hasattr(codebase, "index") else None

    @admin.display(description="indexed at")
    def indexed_at(self, codebase: Codebase) -> object:
        return codebase.index.indexed_at if hasattr(codebase, "index") else None

    @admin.action(description="Re-index now (codebase.search)")
    def reindex(self, request: HttpRequest, queryset: QuerySet[Codebase]) -> None:
        for codebase in queryset:
            try:
                stats = codebase_index.reindex(codebase)
            except Exception as exc:  # a vanished root, a permission error: say which codebase and why
                self.message_user(request, f"{codebase.name}: re-index failed: {exc}", messages.ERROR)
                continue
            summary = ", ".join(f"{key} {value}" for key, value in (stats or {}).items() if not isinstance(value, dict))
            self.message_user(request, f"{codebase.name}: re-indexed ({summary})")


@admin.register(ToolCall)
class ToolCallAdmin(admin.ModelAdmin):
    list_display = ["created", "tenant", "tool", "outcome", "subject", "client_id", "duration_ms", "error"]
    list_filter = ["outcome", "tenant", "tool", "created", "subject"]
    search_fields = ["subject", "client_id", "tool", "error"]
    date_hierarchy = "created"
    list_select_related = ["tenant"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
