"""A tenant's tools as clients see them: the enabled ``Tool`` rows joined with their registered code.

Read on every MCP request, so each process keeps the answer keyed on ``Tenant.config_version``, which the
signals below bump on every edit of a tool or scope. The tenant row is read fresh per request, so an
admin's edit shows on the next request in every process, with no stale copies and no shared cache needed.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import F
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from authz.models import Scope, Tenant
from tools.models import Tool
from tools.registry import ToolSpec, get


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    title: str
    description: str
    scopes: tuple[str, ...]
    noauth: bool
    spec: ToolSpec


_cache: dict[int, tuple[int, dict[str, CatalogEntry]]] = {}


def catalog(tenant: Tenant) -> dict[str, CatalogEntry]:
    """Enabled tools whose handler is registered, by name, in name order."""
    cached = _cache.get(tenant.pk)
    if cached is not None and cached[0] == tenant.config_version:
        return cached[1]
    entries: dict[str, CatalogEntry] = {}
    rows = Tool.objects.filter(tenant=tenant, enabled=True).prefetch_related("scopes").order_by("name")
    for row in rows:
        spec = get(row.name)
        if spec is None:
            continue
        entries[row.name] = CatalogEntry(
            name=row.name,
            title=row.title or spec.title,
            description=row.description or spec.description,
            scopes=tuple(sorted(scope.name for scope in row.scopes.all())),
            noauth=row.noauth,
            spec=spec,
        )
    _cache[tenant.pk] = (tenant.config_version, entries)
    return entries


def bump(tenant_id: int) -> None:
    Tenant.objects.filter(pk=tenant_id).update(config_version=F("config_version") + 1)


@receiver([post_save, post_delete], sender=Tool)
@receiver([post_save, post_delete], sender=Scope)
def _tool_or_scope_changed(sender: type, instance: Tool | Scope, **kwargs: object) -> None:
    bump(instance.tenant_id)


@receiver(m2m_changed, sender=Tool.scopes.through)
def _tool_scopes_changed(sender: type, instance: Tool | Scope, action: str, **kwargs: object) -> None:
    if action.startswith("post_"):
        bump(instance.tenant_id)
