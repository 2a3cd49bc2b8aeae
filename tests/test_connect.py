"""The Connect ChatGPT values are the seed guide's section 4 table, read live from the tenant."""

from __future__ import annotations

import pytest
from django.test import Client

from authz import connect
from authz.models import DEFAULT_TENANT, Scope, Tenant

pytestmark = pytest.mark.django_db

SEED_TABLE = [
    ("Authorization URL", "https://TENANT.auth0.com/authorize"),
    ("Token URL", "https://TENANT.auth0.com/oauth/token"),
    ("Client authentication", "Basic"),
    ("Scopes", "search.read docs.write memory.read memory.write memory.delete"),
    ("Protected Resource Metadata", "https://your-mcp-host/.well-known/oauth-protected-resource"),
    ("MCP endpoint URL", "https://your-mcp-host/mcp"),
]


@pytest.fixture
def seed_tenant(fresh_caches: None) -> Tenant:
    """The default tenant as the seed guide's section 3 variables make it."""
    tenant, _ = Tenant.objects.update_or_create(
        slug=DEFAULT_TENANT,
        defaults={
            "name": "Default",
            "use_dev_issuer": False,
            "issuer": "https://TENANT.auth0.com/",
            "authorization_server": "https://TENANT.auth0.com",
            "audience": "https://your-mcp-host/mcp",
            "resource_url": "https://your-mcp-host/mcp",
        },
    )
    for name in SEED_TABLE[3][1].split():
        Scope.objects.get_or_create(tenant=tenant, name=name)
    return Tenant.objects.get(pk=tenant.pk)


def test_values_are_the_seed_table(seed_tenant: Tenant) -> None:
    assert [(item.field, item.value) for item in connect.connector_values(seed_tenant)] == SEED_TABLE


def test_other_tenants_get_the_path_inserted_metadata_url(seed_tenant: Tenant) -> None:
    other = Tenant.objects.create(
        slug="acme",
        name="Acme",
        issuer="https://acme.eu.auth0.com/",
        resource_url="https://mcp.acme.example/t/acme/mcp",
    )
    values = dict((item.field, item.value) for item in connect.connector_values(other))
    assert (
        values["Protected Resource Metadata"]
        == "https://mcp.acme.example/.well-known/oauth-protected-resource/t/acme/mcp"
    )
    assert values["Authorization URL"] == "https://acme.eu.auth0.com/authorize"


def test_auth0_settings_name_the_identifier_and_the_toggles(seed_tenant: Tenant) -> None:
    settings = {item.setting: item.value for item in connect.auth0_settings(seed_tenant)}
    assert settings["Identifier"] == "https://your-mcp-host/mcp"
    assert settings["Enable Dynamic Client Registration"] == "on"
    assert settings["Resource Parameter Compatibility Profile"] == "on"
    assert settings["Enable RBAC and Add Permissions in the Access Token"] == "both on"
    assert settings["Permissions"] == "docs.write memory.delete memory.read memory.write search.read"


def test_page_shows_values_with_copy_buttons_and_follows_edits(admin_client: Client, seed_tenant: Tenant) -> None:
    page = admin_client.get(f"/admin/authz/tenant/{seed_tenant.pk}/connect/").content.decode()
    for field, value in SEED_TABLE:
        assert f'data-value="{value}"' in page and field in page
    assert "Resource Parameter Compatibility Profile" in page
    Scope.objects.create(tenant=seed_tenant, name="extra.read")
    page = admin_client.get(f"/admin/authz/tenant/{seed_tenant.pk}/connect/").content.decode()
    assert 'data-value="search.read docs.write memory.read memory.write memory.delete extra.read"' in page


def test_page_needs_staff(client: Client, seed_tenant: Tenant) -> None:
    reply = client.get(f"/admin/authz/tenant/{seed_tenant.pk}/connect/")
    assert reply.status_code == 302 and reply["Location"].startswith("/admin/login/")
