"""The tools admin pages render and enforce their rules (read-only audit, codebase roots, tenant scopes)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.contrib import admin
from django.test import Client

from authz.models import Scope, Tenant
from tools.models import Codebase, Document, Memory, Tool, ToolCall

pytestmark = pytest.mark.django_db


@pytest.fixture
def tenant() -> Tenant:
    return Tenant.objects.create(slug="adm-co", name="Adm", resource_url="https://adm.example/mcp")


@pytest.fixture
def data(tenant: Tenant, tmp_path: Path) -> None:
    Document.objects.create(tenant=tenant, title="Doc", body="0123456789", author="alice")
    Memory.objects.create(tenant=tenant, subject="alice", content="remember")
    Codebase.objects.create(tenant=tenant, name="demo", root=str(tmp_path))
    ToolCall.objects.create(tenant=tenant, tool="docs.create", outcome="ok", duration_ms=1.5)
    Tool.objects.create(tenant=tenant, name="gone.tool")


@pytest.mark.parametrize("model", ["tool", "document", "memory", "codebase", "toolcall"])
def test_changelists_render(admin_client: Client, data: None, model: str) -> None:
    reply = admin_client.get(f"/admin/tools/{model}/")
    assert reply.status_code == 200


def test_tool_list_shows_availability_and_scopes(admin_client: Client, tenant: Tenant, data: None) -> None:
    tool_admin = admin.site._registry[Tool]
    available = {tool.name: tool_admin.available(tool) for tool in Tool.objects.filter(tenant=tenant)}
    assert available == {
        "codebase.search": True,
        "docs.create": True,
        "gone.tool": False,
        "local_memory_delete": True,
        "local_memory_search": True,
        "local_memory_store": True,
    }
    assert tool_admin.scope_list(Tool.objects.get(tenant=tenant, name="docs.create")) == "docs.write"
    html = admin_client.get(f"/admin/tools/tool/?tenant__id__exact={tenant.pk}").content.decode()
    assert "gone.tool" in html and "memory.delete" in html


def test_tool_calls_are_read_only(admin_client: Client, data: None) -> None:
    call = ToolCall.objects.get()
    assert admin_client.get("/admin/tools/toolcall/add/").status_code == 403
    change = admin_client.post(f"/admin/tools/toolcall/{call.pk}/change/", {"tool": "x", "outcome": "ok"})
    assert change.status_code == 403
    assert ToolCall.objects.get().tool == "docs.create"


def test_codebase_root_must_exist_and_is_stored_resolved(admin_client: Client, tenant: Tenant, tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "link")
    form = {"tenant": tenant.pk, "name": "demo", "include": "", "exclude": ""}
    bad = admin_client.post("/admin/tools/codebase/add/", {**form, "root": str(tmp_path / "missing")})
    assert bad.status_code == 200
    assert "is not an existing directory" in bad.content.decode()
    good = admin_client.post("/admin/tools/codebase/add/", {**form, "root": str(tmp_path / "link")})
    assert good.status_code == 302
    assert Codebase.objects.get().root == os.path.realpath(tmp_path / "real")


def test_tool_scopes_must_belong_to_the_tools_tenant(admin_client: Client, tenant: Tenant) -> None:
    other = Tenant.objects.create(slug="adm-other", name="Other", resource_url="https://o.example/mcp")
    tool = Tool.objects.get(tenant=tenant, name="docs.create")
    foreign = Scope.objects.get(tenant=other, name="docs.write")
    form = {"tenant": tenant.pk, "name": "docs.create", "enabled": "on", "title": "", "description": ""}
    reply = admin_client.post(f"/admin/tools/tool/{tool.pk}/change/", {**form, "scopes": [foreign.pk]})
    assert reply.status_code == 200
    assert "Scopes of another tenant: docs.write" in reply.content.decode()
    own = Scope.objects.get(tenant=tenant, name="search.read")
    reply = admin_client.post(f"/admin/tools/tool/{tool.pk}/change/", {**form, "scopes": [own.pk]})
    assert reply.status_code == 302
    assert [scope.name for scope in tool.scopes.all()] == ["search.read"]


def test_codebase_list_shows_whether_the_index_is_current(admin_client: Client, tenant: Tenant, tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x = 1\ny = 2\n")
    codebase = Codebase.objects.create(tenant=tenant, name="tree", root=str(tmp_path))
    before = admin_client.get("/admin/tools/codebase/").content.decode()
    assert 'alt="False"' in before
    reply = admin_client.post(
        "/admin/tools/codebase/", {"action": "reindex", "_selected_action": [codebase.pk]}, follow=True
    )
    shown = [str(message) for message in reply.context["messages"]]
    assert len(shown) == 1 and shown[0].startswith("tree: re-indexed"), shown
    after = admin_client.get("/admin/tools/codebase/").content.decode()
    assert 'alt="True"' in after
