"""authz.metadata and authz.api: RFC 9728 protected-resource metadata, as the seed guide shows it."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper

from authz.bootstrap import bootstrap_default_tenant
from authz.metadata import protected_resource_metadata
from authz.models import Tenant
from tools.models import Tool

pytestmark = pytest.mark.urls("tests.authz_helpers")

# seed-guide.md, section 3: the environment and the "healthy response".
SEED_ENV = {
    "AUTH_MODE": "oauth2",
    "AUTH0_DOMAIN": "TENANT.auth0.com",
    "AUTH0_AUDIENCE": "https://your-mcp-host/mcp",
    "MCP_RESOURCE_URL": "https://your-mcp-host/mcp",
    "REQUIRED_SCOPES": "search.read docs.write memory.read memory.write memory.delete",
}
SEED_HEALTHY = {
    "authorization_servers": ["https://TENANT.auth0.com"],
    "resource": "https://your-mcp-host/mcp",
    "scopes": {
        "codebase.search": ["search.read"],
        "docs.create": ["docs.write"],
        "local_memory_search": ["memory.read"],
        "local_memory_store": ["memory.write"],
        "local_memory_delete": ["memory.delete"],
    },
}
SEED_SCOPES = ["search.read", "docs.write", "memory.read", "memory.write", "memory.delete"]


@pytest.fixture
def seeded(db: None, fresh_caches: None) -> Tenant:
    """The default tenant exactly as the seed guide's environment makes it (from scratch)."""
    Tenant.objects.filter(slug="default").delete()
    return bootstrap_default_tenant(SEED_ENV)


def test_seed_healthy_response(seeded: Tenant) -> None:
    assert protected_resource_metadata(seeded) == {
        **SEED_HEALTHY,
        "scopes_supported": SEED_SCOPES,
        "bearer_methods_supported": ["header"],
        "resource_name": "Cortex MCP",
    }


@pytest.mark.parametrize(
    "path",
    ["/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"],
)
def test_seed_healthy_response_over_http(seeded: Tenant, client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-cache"
    assert response["Access-Control-Allow-Origin"] == "*"
    body = json.loads(response.content)
    assert {key: body[key] for key in SEED_HEALTHY} == SEED_HEALTHY


def test_documentation_only_when_set(seeded: Tenant) -> None:
    assert "resource_documentation" not in protected_resource_metadata(seeded)
    seeded.resource_documentation = "https://docs.example/cortex"
    seeded.resource_name = "Acme MCP"
    body = protected_resource_metadata(seeded)
    assert (body["resource_documentation"], body["resource_name"]) == ("https://docs.example/cortex", "Acme MCP")


def test_edits_show_at_once_and_change_the_etag(seeded: Tenant, client: Client) -> None:
    first = client.get("/.well-known/oauth-protected-resource")
    etag = first["ETag"]
    assert client.get("/.well-known/oauth-protected-resource", headers={"If-None-Match": etag}).status_code == 304
    # Admin edits (saves and m2m changes fire the signals that bump config_version).
    docs = Tool.objects.get(tenant=seeded, name="docs.create")
    docs.enabled = False
    docs.save()
    Tool.objects.get(tenant=seeded, name="local_memory_delete").scopes.clear()
    second = client.get("/.well-known/oauth-protected-resource", headers={"If-None-Match": etag})
    assert second.status_code == 200
    assert second["ETag"] != etag
    scopes = json.loads(second.content)["scopes"]
    assert "docs.create" not in scopes
    assert scopes["local_memory_delete"] == []


@pytest.mark.django_db
def test_paths_select_the_tenant(client: Client, fresh_caches: None) -> None:
    Tenant.objects.create(slug="acme", name="Acme", resource_url="https://acme.example/t/acme/mcp")
    Tenant.objects.create(slug="custom", name="Custom", resource_url="https://host.example/api/v2/mcp/")
    expected = {
        "/.well-known/oauth-protected-resource/t/acme/mcp": "https://acme.example/t/acme/mcp",
        "/.well-known/oauth-protected-resource/api/v2/mcp": "https://host.example/api/v2/mcp/",
    }
    for path, resource in expected.items():
        response = client.get(path)
        assert response.status_code == 200, path
        assert json.loads(response.content)["resource"] == resource
    for path in ["/.well-known/oauth-protected-resource/t/nobody/mcp", "/.well-known/oauth-protected-resource/x"]:
        response = client.get(path)
        assert response.status_code == 404
        assert json.loads(response.content)["error"] == "not_found"


@pytest.mark.django_db
def test_no_default_tenant_is_404(client: Client, fresh_caches: None) -> None:
    Tenant.objects.filter(slug="default").delete()
    assert client.get("/.well-known/oauth-protected-resource").status_code == 404


def test_cors_preflight(seeded: Tenant, client: Client) -> None:
    response = client.options(
        "/.well-known/oauth-protected-resource/mcp",
        headers={"Origin": "http://localhost:6274", "Access-Control-Request-Headers": "mcp-protocol-version"},
    )
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "MCP-Protocol-Version" in response["Access-Control-Allow-Headers"]


@pytest.mark.django_db
def test_dev_issuer_jwks_route(client: Client, settings: SettingsWrapper, fresh_caches: None) -> None:
    path = "/dev-issuer/.well-known/jwks.json"
    Tenant.objects.update(use_dev_issuer=False)
    settings.DEBUG = True
    assert client.get(path).status_code == 404  # nobody trusts it
    Tenant.objects.create(slug="dev", name="Dev", resource_url="http://testserver/mcp", use_dev_issuer=True)
    response = client.get(path)
    assert response.status_code == 200
    keys = json.loads(response.content)["keys"]
    assert [(key["kty"], key["alg"], key["use"]) for key in keys] == [("RSA", "RS256", "sig")]
    assert "d" not in keys[0]  # public half only
    settings.DEBUG = False
    assert client.get(path).status_code == 404
