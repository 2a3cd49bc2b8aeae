"""tools.sync and its commands: rows for every handler in every tenant, created once, admin edits kept."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from authz.models import Scope, Tenant
from tools import codebase_index
from tools.models import Codebase, Tool
from tools.sync import sync_after_migrate, sync_tools

pytestmark = pytest.mark.django_db

SEED = {
    "codebase.search": ["search.read"],
    "docs.create": ["docs.write"],
    "local_memory_delete": ["memory.delete"],
    "local_memory_search": ["memory.read"],
    "local_memory_store": ["memory.write"],
}


def new_tenant(slug: str = "sync-co") -> Tenant:
    return Tenant.objects.create(slug=slug, name=slug, resource_url=f"https://{slug}.example/mcp")


def rows(tenant: Tenant) -> dict[str, list[str]]:
    return {
        tool.name: sorted(scope.name for scope in tool.scopes.all())
        for tool in Tool.objects.filter(tenant=tenant).prefetch_related("scopes")
    }


def test_a_new_tenant_gets_every_tool_with_default_scopes() -> None:
    tenant = new_tenant()
    assert rows(tenant) == SEED
    tool = Tool.objects.get(tenant=tenant, name="docs.create")
    assert (tool.enabled, tool.title, tool.description, tool.noauth) == (True, "", "", False)
    assert Scope.objects.get(tenant=tenant, name="docs.write").description == "Enables document creation tools"
    assert Scope.objects.get(tenant=tenant, name="search.read").description == "Allows search tools to run"
    # The tenant instance the caller holds is current, so saving it later keeps the bumped version.
    assert tenant.config_version == Tenant.objects.get(pk=tenant.pk).config_version > 0


def test_rows_are_created_once() -> None:
    tenant = new_tenant()
    assert sync_tools(tenant) == {"sync-co": {"tools": [], "scopes": []}}
    assert sync_tools()["sync-co"] == {"tools": [], "scopes": []}
    assert Tool.objects.filter(tenant=tenant).count() == 5
    assert Scope.objects.filter(tenant=tenant).count() == 5


def test_missing_rows_and_scopes_are_created_and_reported() -> None:
    tenant = new_tenant()
    Tool.objects.filter(tenant=tenant, name__in=["docs.create", "codebase.search"]).delete()
    Scope.objects.filter(tenant=tenant, name="docs.write").delete()
    assert sync_tools(tenant) == {"sync-co": {"tools": ["codebase.search", "docs.create"], "scopes": ["docs.write"]}}
    assert rows(tenant) == SEED


def test_admin_edits_win() -> None:
    tenant = new_tenant()
    tool = Tool.objects.get(tenant=tenant, name="docs.create")
    tool.enabled = False
    tool.title = "Write a doc"
    tool.description = "Ours"
    tool.noauth = True
    tool.save()
    tool.scopes.set([Scope.objects.get(tenant=tenant, name="search.read")])
    Tool.objects.get(tenant=tenant, name="codebase.search").scopes.clear()
    Scope.objects.filter(tenant=tenant, name="docs.write").update(description="Custom")
    sync_tools()
    tool.refresh_from_db()
    assert (tool.enabled, tool.title, tool.description, tool.noauth) == (False, "Write a doc", "Ours", True)
    assert rows(tenant)["docs.create"] == ["search.read"]
    assert rows(tenant)["codebase.search"] == []
    assert Scope.objects.get(tenant=tenant, name="docs.write").description == "Custom"


def test_existing_scopes_are_reused() -> None:
    tenant = Tenant(slug="pre-scoped", name="x", resource_url="https://p.example/mcp")
    tenant.save()
    Tool.objects.filter(tenant=tenant).delete()
    Scope.objects.filter(tenant=tenant).delete()
    Scope.objects.create(tenant=tenant, name="docs.write", description="From REQUIRED_SCOPES")
    made = sync_tools(tenant)["pre-scoped"]
    assert "docs.write" not in made["scopes"]
    assert Scope.objects.get(tenant=tenant, name="docs.write").description == "From REQUIRED_SCOPES"
    assert rows(tenant) == SEED


def test_tenants_are_independent() -> None:
    one, two = new_tenant("one"), new_tenant("two")
    Tool.objects.filter(tenant=one).delete()
    assert rows(two) == SEED
    result = sync_tools()
    assert result["one"]["tools"] == sorted(SEED)
    assert result["two"]["tools"] == []
    assert rows(one) == SEED
    assert {scope.tenant_id for tool in Tool.objects.filter(tenant=one) for scope in tool.scopes.all()} == {one.pk}


def test_post_migrate_handler_syncs_every_tenant() -> None:
    tenant = new_tenant()
    Tool.objects.filter(tenant=tenant).delete()
    sync_after_migrate(using="default", verbosity=0)
    assert rows(tenant) == SEED


def test_sync_tools_command(capsys: pytest.CaptureFixture[str]) -> None:
    tenant = new_tenant()
    Tool.objects.filter(tenant=tenant, name="docs.create").delete()
    out = io.StringIO()
    call_command("sync_tools", "--tenant", "sync-co", stdout=out)
    assert out.getvalue() == "sync-co: created tools docs.create\n"
    out = io.StringIO()
    call_command("sync_tools", "--tenant", "sync-co", stdout=out)
    assert out.getvalue() == "sync-co: up to date\n"
    with pytest.raises(CommandError, match="No tenant 'nope'"):
        call_command("sync_tools", "--tenant", "nope")


def test_add_codebase_command(tmp_path: Path) -> None:
    tenant = new_tenant()
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "a.py").write_text("one\ntwo\n")
    os.symlink(tmp_path / "real", tmp_path / "link")
    out = io.StringIO()
    call_command(
        "add_codebase",
        "demo",
        str(tmp_path / "link"),
        "--tenant",
        "sync-co",
        "--include",
        "*.py",
        "--include",
        "*.md",
        "--exclude",
        "vendor/",
        stdout=out,
    )
    codebase = Codebase.objects.get(tenant=tenant, name="demo")
    assert codebase.root == os.path.realpath(tmp_path / "real")
    assert (codebase.include, codebase.exclude) == ("*.py\n*.md", "vendor/")
    registered, indexed = out.getvalue().splitlines()
    assert registered == f"Registered codebase demo for tenant sync-co: {codebase.root}"
    assert indexed.startswith("Indexed 1 files, 2 lines in ")
    assert codebase_index.is_current(codebase)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["demo", "{tmp}/missing", "--tenant", "sync-co"], "is not an existing directory"),
        (["demo", "{tmp}/file.txt", "--tenant", "sync-co"], "is not an existing directory"),
        (["demo", "{tmp}", "--tenant", "nope"], "No tenant 'nope'"),
        (["taken", "{tmp}", "--tenant", "sync-co"], "already has a codebase 'taken'"),
        (["x" * 65, "{tmp}", "--tenant", "sync-co"], "NAME must be 1 to 64 characters"),
    ],
)
def test_add_codebase_refusals(tmp_path: Path, arguments: list[str], message: str) -> None:
    tenant = new_tenant()
    (tmp_path / "file.txt").write_text("x")
    Codebase.objects.create(tenant=tenant, name="taken", root=str(tmp_path))
    with pytest.raises(CommandError, match=message):
        call_command("add_codebase", *[item.format(tmp=tmp_path) for item in arguments])
    assert Codebase.objects.count() == 1


def test_migrate_runs_the_sync() -> None:
    tenant = new_tenant()
    Tool.objects.filter(tenant=tenant, name="local_memory_store").delete()
    call_command("migrate", verbosity=0)
    assert rows(tenant) == SEED
