"""The tenant row for a request: one query, with the ORM's query building done once per process.

The row is read on every request on purpose (an admin's edit applies on the next request in every
process, and ``Tenant.config_version`` there keys the per-process tool caches). Building that one
``SELECT ... WHERE slug = %s`` through the ORM costs about as much as the rest of a ``ping``, so the SQL and
the column converters are compiled once per database alias and the row is turned into a ``Tenant`` with
``Model.from_db``, exactly as a queryset would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, router
from django.db.models.sql.compiler import SQLCompiler

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


def tenant_by_slug(slug: str) -> Tenant | None:
    alias = router.db_for_read(Tenant) or DEFAULT_DB_ALIAS
    lookup = _lookups.get(alias)
    if lookup is None:
        lookup = _lookups[alias] = _CompiledLookup(alias)
    return lookup.get(slug)
