"""tools.audit writes rows the ORM reads back exactly, cut to the column sizes, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from authz.models import Tenant
from authz.principal import Principal
from tools import audit
from tools.models import ToolCall


@pytest.mark.django_db
def test_record_is_read_back_by_the_orm() -> None:
    tenant = Tenant.objects.create(slug="audited", name="Audited", resource_url="https://x/mcp")
    principal = Principal(subject="s" * 300, client_id="client-1", scopes=frozenset(), expires_at=0)
    before = timezone.now()
    audit.record(tenant, principal, "t" * 70, ToolCall.Outcome.TOOL_ERROR, "e" * 600, 1.23456)
    row = ToolCall.objects.get(tenant=tenant)
    assert (row.subject, row.client_id, row.tool, row.outcome, row.error, row.duration_ms) == (
        "s" * 255,
        "client-1",
        "t" * 64,
        "tool_error",
        "e" * 500,
        1.235,
    )
    assert before - timedelta(seconds=1) <= row.created <= timezone.now()


@pytest.mark.django_db
def test_anonymous_call_has_empty_subject() -> None:
    tenant = Tenant.objects.create(slug="anon", name="Anon", resource_url="https://x/mcp")
    audit.record(tenant, None, "docs.create", ToolCall.Outcome.DENIED, "Authorization required", 0.5)
    assert list(ToolCall.objects.values_list("subject", "client_id", "outcome")) == [("", "", "denied")]


@pytest.mark.django_db
def test_each_record_is_counted_in_the_metrics() -> None:
    from prometheus_client import REGISTRY

    tenant = Tenant.objects.create(slug="counted", name="Counted", resource_url="https://x/mcp")
    labels = {"tool": "local_memory_store", "outcome": "ok"}
    before = REGISTRY.get_sample_value("cortex_tool_calls_total", labels) or 0.0
    audit.record(tenant, None, "local_memory_store", ToolCall.Outcome.OK, "", 0.5)
    audit.record(tenant, None, "local_memory_store", ToolCall.Outcome.OK, "", 0.5)
    assert REGISTRY.get_sample_value("cortex_tool_calls_total", labels) == before + 2


def _recorded_statement(tenant: Tenant) -> str:
    with CaptureQueriesContext(connection) as queries:
        audit.record(tenant, None, "docs.create", ToolCall.Outcome.OK, "", 0.5)
    (query,) = queries.captured_queries
    return query["sql"]


@pytest.mark.django_db(transaction=True)
def test_postgresql_relaxes_the_audit_commit_of_its_own_statement_only() -> None:
    tenant = Tenant.objects.create(slug="relaxed", name="Relaxed", resource_url="https://x/mcp")
    outside = _recorded_statement(tenant)
    with transaction.atomic():
        inside = _recorded_statement(tenant)
    assert ToolCall.objects.filter(tenant=tenant).count() == 2
    if connection.vendor == "postgresql":
        assert "set_config('synchronous_commit', 'off', true)" in outside
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone() == ("on",)  # the session keeps the default for every other write
    else:
        assert "synchronous_commit" not in outside
    # In a transaction the setting would relax everything that transaction writes: a plain INSERT there.
    assert "synchronous_commit" not in inside
    assert inside.startswith("INSERT INTO")
