"""Give every tenant a ``Tool`` row for every registered handler.

Runs after ``migrate`` (post_migrate of the tools app, which follows authz's bootstrap of the default
tenant: authz comes first in INSTALLED_APPS), when a tenant is created, and from ``manage.py sync_tools``.

It only ever creates: an existing row is left exactly as the admin left it (enabled, title, description,
scopes, noauth). A new row gets the handler's default scopes (``Scope`` rows are created for the tenant
when missing) and an empty title and description, which means "the handler's own" (``tools.catalog``
falls back to the code), so improved descriptions reach tenants that never customised them. A row an
admin deletes comes back on the next sync: disable a tool instead of deleting it.
"""

from __future__ import annotations

from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, router, transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from authz.models import Scope, Tenant
from tools.models import Tool
from tools.registry import registry

# Descriptions for the seed's scopes (seed guide, "Define permissions"); others get a generic one.
SCOPE_DESCRIPTIONS = {
    "search.read": "Allows search tools to run",
    "docs.write": "Enables document creation tools",
    "memory.read": "Allows reading your memories",
    "memory.write": "Allows storing memories",
    "memory.delete": "Allows deleting your memories",
}


def sync_tenant(tenant: Tenant) -> dict[str, list[str]]:
    """Create the tenant's missing tool rows (and their scopes); ``{"tools": [...], "scopes": [...]}`` made."""
    created: dict[str, list[str]] = {"tools": [], "scopes": []}
    with transaction.atomic():
        existing = set(Tool.objects.filter(tenant=tenant).values_list("name", flat=True))
        scopes = {scope.name: scope for scope in Scope.objects.filter(tenant=tenant)}
        for name, spec in sorted(registry().items()):
            if name in existing:
                continue
            tool, made = Tool.objects.get_or_create(tenant=tenant, name=name)
            if not made:  # another process won the race; its row stands
                continue
            created["tools"].append(name)
            for scope_name in spec.default_scopes:
                if scope_name not in scopes:
                    scope, scope_made = Scope.objects.get_or_create(
                        tenant=tenant,
                        name=scope_name,
                        defaults={"description": SCOPE_DESCRIPTIONS.get(scope_name, f"Allows {name}")},
                    )
                    scopes[scope_name] = scope
                    if scope_made:
                        created["scopes"].append(scope_name)
            tool.scopes.set([scopes[scope_name] for scope_name in spec.default_scopes])
    if created["tools"]:
        # Each new row bumped config_version in the database; keep the caller's instance current so a later
        # save() of it does not write an old version back.
        tenant.config_version = Tenant.objects.values_list("config_version", flat=True).get(pk=tenant.pk)
    return created


def sync_tools(tenant: Tenant | None = None) -> dict[str, dict[str, list[str]]]:
    """Sync one tenant or all; returns what was created, by tenant slug."""
    tenants = [tenant] if tenant is not None else list(Tenant.objects.order_by("slug"))
    return {item.slug: sync_tenant(item) for item in tenants}


def _tables_ready(using: str) -> bool:
    """False while the tools tables do not exist yet (e.g. ``migrate authz`` on a fresh database)."""
    tables = set(connections[using].introspection.table_names())
    return {Tool._meta.db_table, Scope._meta.db_table, Tenant._meta.db_table} <= tables


def sync_after_migrate(**kwargs: Any) -> None:
    using = kwargs.get("using", DEFAULT_DB_ALIAS)
    if not router.allow_migrate_model(using, Tool) or not _tables_ready(using):
        return
    created = sync_tools()
    if kwargs.get("verbosity", 1) >= 2:
        for slug, made in created.items():
            if made["tools"]:
                print(f"  Tools for tenant {slug}: created {', '.join(made['tools'])}")


@receiver(post_save, sender=Tenant, dispatch_uid="tools.sync.tenant_created")
def _tenant_created(sender: type[Tenant], instance: Tenant, created: bool, raw: bool = False, **kwargs: Any) -> None:
    """A new tenant gets its tool rows at once (not for fixtures being loaded: ``raw``)."""
    if created and not raw and _tables_ready(kwargs.get("using") or DEFAULT_DB_ALIAS):
        sync_tenant(instance)
