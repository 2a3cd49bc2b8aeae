"""The tenant row for an MCP request, read at most once per ``TENANT_CACHE_SECONDS`` per process.

Why a short cache: the row is needed by every request, and reading it was a tenth of an authenticated
``tools/call``. An admin's edit to a tenant, its tools or its scopes (``Tenant.config_version``, which keys
the per-process tool caches) reaches every process within ``TENANT_CACHE_SECONDS`` (default 1 s), and this
process at once (a save clears its copy). The protected-resource metadata never uses this cache: it reads
the row fresh, so what clients discover is never stale.

The read itself: building ``SELECT ... WHERE slug = %s`` through the ORM costs about as much as the rest of
a ``ping``, so the SQL and the column converters are compiled once per database alias and the row is
turned into a ``Tenant`` with ``Model.from_db``, exactly as a queryset would.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, router
from django.db.models.signals import post_delete, post_save
from django.db.models.sql.compiler import SQLCompiler
from django.dispatch import receiver

from authz.models import Tenant


class _CompiledLookup:
    def __init__(self, alias: str) -> None:
        compiler: SQLCompiler = Tenant.objects.using(alias).filter(slug="").query.get_compiler(using=alias)
        self.sql, _ = compiler.as_sql()
        columns = [expression for expression, _, _ in compiler.select]
        self.names = [column.target.attname for column in columns]
        self.converters: dict[int, tuple[list[Callable[..., Any]], Any]] = compiler.get_converters(columns)
        self.compiler = compiler
        self.alias = alias

    def get(self, slug: str) -> Tenant | None:
        with connections[self.alias].cursor() as cursor:
            cursor.execute(self.sql, [slug])
            row = cursor.fetchone()
        if row is None:
            return None
        if self.converters:
            row = next(iter(self.compiler.apply_converters([row], self.converters)))
        return Tenant.from_db(self.alias, self.names, row)


_lookups: dict[str, _CompiledLookup] = {}
_recent: dict[str, tuple[float, Tenant | None]] = {}
# Unknown slugs are remembered too (a miss costs the same query); a flood of them only refills this bound.
MAX_REMEMBERED = 1024


def tenant_by_slug(slug: str) -> Tenant | None:
    now = time.monotonic()
    remembered = _recent.get(slug)
    if remembered is not None and remembered[0] > now:
        return remembered[1]
    alias = router.db_for_read(Tenant) or DEFAULT_DB_ALIAS
    lookup = _lookups.get(alias)
    if lookup is None:
        lookup = _lookups[alias] = _CompiledLookup(alias)
    tenant = lookup.get(slug)
    if len(_recent) >= MAX_REMEMBERED:
        _recent.clear()
    _recent[slug] = (now + settings.TENANT_CACHE_SECONDS, tenant)
    return tenant


def forget() -> None:
    """Drop this process's copies (every tenant): the next request reads the rows again."""
    _recent.clear()


@receiver([post_save, post_delete], sender=Tenant)
def _tenant_changed(**kwargs: object) -> None:
    forget()
