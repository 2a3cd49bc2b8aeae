"""The audit trail of tool calls: one ``ToolCall`` row per ``tools/call``, written before the reply.

Written on every call, so it is on the hottest path. ``Model.objects.create`` spends most of its time
building the INSERT (about two thirds of the cost, measured on SQLite); here the statement is built once per
database alias from the model's own metadata, and each call only adapts its values and executes it through
``cortex.rawsql`` (the driver's cursor), in autocommit, like ``create`` would.
"""

from __future__ import annotations

from django.db import connections, router
from django.utils import timezone

from authz.models import Tenant
from authz.principal import Principal
from cortex import observability, rawsql
from tools.models import ToolCall

COLUMNS = ("tenant_id", "subject", "client_id", "tool", "outcome", "error", "duration_ms", "created")
_statements: dict[str, str] = {}


def _statement(alias: str) -> str:
    sql = _statements.get(alias)
    if sql is None:
        quote = connections[alias].ops.quote_name
        fields = [ToolCall._meta.get_field(name).column for name in COLUMNS]
        sql = "INSERT INTO {} ({}) VALUES ({})".format(
            quote(ToolCall._meta.db_table), ", ".join(quote(f) for f in fields), ", ".join(["%s"] * len(fields))
        )
        _statements[alias] = sql
    return sql


def record(
    tenant: Tenant, principal: Principal | None, tool: str, outcome: str, error: str, duration_ms: float
) -> None:
    """Write one audit row (values cut to the model's column sizes) and count it in the metrics."""
    alias = router.db_for_write(ToolCall)
    connection = connections[alias]
    values = [
        tenant.pk,
        (principal.subject if principal else "")[:255],
        (principal.client_id if principal else "")[:255],
        tool[:64],
        outcome,
        error[:500],
        round(duration_ms, 3),
        connection.ops.adapt_datetimefield_value(timezone.now()),
    ]
    rawsql.execute(_statement(alias), values, using=alias)
    observability.tool_called(tool, outcome, duration_ms)
