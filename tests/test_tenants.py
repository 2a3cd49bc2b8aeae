"""cortex.mcp.tenants: the per-process copy of a tenant row, its time limit and its invalidation."""

from __future__ import annotations

from typing import Any

import pytest

from authz.models import Tenant
from cortex.mcp import tenants


@pytest.fixture
def acme(db: None) -> Tenant:
    tenants.forget()
    return Tenant.objects.create(slug="acme", name="Acme", resource_url="https://acme.example/mcp")


def test_a_save_in_this_process_is_seen_at_once(acme: Tenant) -> None:
    assert tenants.tenant_by_slug("acme").auth_mode == "oauth2"
    acme.auth_mode = Tenant.AuthMode.OPTIONAL
    acme.save()
    assert tenants.tenant_by_slug("acme").auth_mode == "optional"


def test_another_process_edit_is_seen_after_the_time_limit(acme: Tenant, settings: Any) -> None:
    settings.TENANT_CACHE_SECONDS = 60
    assert tenants.tenant_by_slug("acme").challenge_style == "http"
    Tenant.objects.filter(pk=acme.pk).update(challenge_style="result")  # no signal: as from another process
    assert tenants.tenant_by_slug("acme").challenge_style == "http"
    settings.TENANT_CACHE_SECONDS = 0
    tenants.forget()
    assert tenants.tenant_by_slug("acme").challenge_style == "result"
    Tenant.objects.filter(pk=acme.pk).update(challenge_style="http")
    assert tenants.tenant_by_slug("acme").challenge_style == "http"  # limit 0: read every time


def test_unknown_slugs_are_remembered_within_a_bound(acme: Tenant) -> None:
    for number in range(tenants.MAX_REMEMBERED + 5):
        assert tenants.tenant_by_slug(f"nope-{number}") is None
    assert len(tenants._recent) <= tenants.MAX_REMEMBERED
    assert tenants.tenant_by_slug("acme") is not None


def test_deleting_a_tenant_forgets_it(acme: Tenant) -> None:
    assert tenants.tenant_by_slug("acme") is not None
    acme.delete()
    assert tenants.tenant_by_slug("acme") is None
