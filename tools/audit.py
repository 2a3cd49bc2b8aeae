"""The audit trail of tool calls: one ``ToolCall`` row per ``tools/call``, written before the reply.

Written on every call, so it is on the hottest path. ``Model.objects.create`` spends most of its time
building the INSERT (about two thirds of the cost, measured on SQLite); here the statement is built once per
database alias from the model's own metadata, and each call only adapts its values and executes it through
``cortex.rawsql`` (the driver's cursor), in autocommit, like ``create`` would; or the tool's handler writes
the row with its own data, in the same commit (``CallAudit``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from django.db import connections, router
from django.utils import timezone

from authz.models import Tenant
from authz.principal import Principal
from cortex import observability, rawsql
from tools.models import ToolCall

# PostgreSQL: this row's commit does not wait for the WAL flush (``synchronous_commit`` off for this
# statement's own transaction only, set within the statement: still one round trip). About 200 µs less per
# tool call here. What it risks is what SQLite's ``synchronous=NORMAL`` (our SQLite setting) risks: nothing
# when the app is killed, the last fraction of a second of audit rows if the database host itself crashes.
# Memories and documents keep PostgreSQL's default, synchronous commits.
RELAXED_COMMIT = "SELECT set_config('synchronous_commit', 'off', true)"
COLUMNS = ("tenant_id", "subject", "client_id", "tool", "outcome", "error", "duration_ms", "created")
_statements: dict[tuple[str, bool], str] = {}


def insert_statement(alias: str, relaxed: bool = False) -> str:
    """The audit row's INSERT for ``alias`` (``%s`` placeholders for ``row_values``).

    Plain, it can also be one part of a handler's own statement (a PostgreSQL data-modifying CTE, see
    ``CallAudit``). ``relaxed`` (PostgreSQL, outside a transaction): with the relaxed commit."""
    sql = _statements.get((alias, relaxed))
    if sql is None:
        connection = connections[alias]
        quote = connection.ops.quote_name
        fields = [ToolCall._meta.get_field(name) for name in COLUMNS]
        table = quote(ToolCall._meta.db_table)
        columns = ", ".join(quote(field.column) for field in fields)
        if connection.vendor == "postgresql":
            casts = ", ".join(f"%s::{field.db_type(connection)}" for field in fields)
            if relaxed:
                sql = f"WITH relaxed AS ({RELAXED_COMMIT}) INSERT INTO {table} ({columns}) SELECT {casts} FROM relaxed"
            else:
                sql = f"INSERT INTO {table} ({columns}) VALUES ({casts})"
        else:
            sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"
        _statements[(alias, relaxed)] = sql
    return sql


def row_values(
    alias: str, tenant: Tenant, principal: Principal | None, tool: str, outcome: str, error: str, duration_ms: float
) -> list[Any]:
    """The values of one audit row, in ``COLUMNS`` order, cut to the model's column sizes."""
    return [
        tenant.pk,
        (principal.subject if principal else "")[:255],
        (principal.client_id if principal else "")[:255],
        tool[:64],
        outcome,
        error[:500],
        round(duration_ms, 3),
        connections[alias].ops.adapt_datetimefield_value(timezone.now()),
    ]


def record(
    tenant: Tenant, principal: Principal | None, tool: str, outcome: str, error: str, duration_ms: float
) -> None:
    """Write one audit row and count it in the metrics."""
    alias = router.db_for_write(ToolCall)
    values = row_values(alias, tenant, principal, tool, outcome, error, duration_ms)
    # Inside a transaction the setting would last until that transaction's commit (relaxing whatever else it
    # writes), so there the row is inserted plainly.
    relaxed = not connections[alias].in_atomic_block
    rawsql.execute(insert_statement(alias, relaxed=relaxed), values, using=alias)
    observability.tool_called(tool, outcome, duration_ms)


@dataclass
class CallAudit:
    """The successful-outcome audit row of a ``tools/call`` in progress, offered to its handler.

    A handler whose work is one write may put this row in that write (same transaction, or same statement on
    PostgreSQL): one commit, or one round trip, instead of two, and the data never exists without its audit
    row. It calls ``claim()`` for the row's values (the duration is measured then, just before the write is
    sent) and uses ``insert_statement(alias)``. ``tools.service`` then writes no row of its own when the
    handler returns normally; when the handler raises, its write was rolled back with the row, and the
    service records the failure as for any other call. ``local_memory_store`` does this."""

    tenant: Tenant
    principal: Principal | None
    tool: str
    started: float
    claimed: bool = False

    def claim(self, alias: str) -> list[Any]:
        self.claimed = True
        duration_ms = (time.perf_counter() - self.started) * 1000
        return row_values(alias, self.tenant, self.principal, self.tool, ToolCall.Outcome.OK, "", duration_ms)
