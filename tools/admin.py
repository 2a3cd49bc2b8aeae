"""Admin for the tools app: tool rows (what admins edit), the data the built-in tools own, and the
read-only audit of tool calls."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from tools.codebase_files import resolve_root
from tools.models import Codebase, Document, Memory, Tool, ToolCall
from tools.registry import get


class ToolForm(forms.ModelForm):
    class Meta:
        model = Tool
        fields = "__all__"

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        tenant = data.get("tenant")
        foreign = [
            scope.name for scope in data.get("scopes") or [] if tenant is not None and scope.tenant_id != tenant.pk
        ]
        if foreign:
            raise forms.ValidationError(f"Scopes of another tenant: {', '.join(foreign)}")
        return data


@admin.register(Tool)
class ToolAdmin(admin.ModelAdmin):
    form = ToolForm
    list_display = ["name", "tenant", "enabled", "available", "noauth", "scope_list"]
    list_filter = ["tenant", "enabled", "noauth"]
    search_fields = ["name", "title"]
    filter_horizontal = ["scopes"]

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
    list_filter = ["tenant"]
    search_fields = ["title", "author", "body"]
    readonly_fields = ["uid", "created"]


@admin.register(Memory)
class MemoryAdmin(admin.ModelAdmin):
    list_display = ["__str__", "tenant", "subject", "importance", "domain", "created"]
    list_filter = ["tenant", "domain"]
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
    list_display = ["name", "tenant", "root"]
    list_filter = ["tenant"]


@admin.register(ToolCall)
class ToolCallAdmin(admin.ModelAdmin):
    list_display = ["created", "tenant", "tool", "outcome", "subject", "client_id", "duration_ms", "error"]
    list_filter = ["outcome", "tenant", "tool"]
    search_fields = ["subject", "client_id", "tool", "error"]
    date_hierarchy = "created"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
