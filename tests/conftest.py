"""Fixtures shared by the MCP endpoint tests: tenants that trust the development issuer, tokens minted by
it (the real verification path), and a small client that speaks both protocol eras over the Django test
client. The development issuer only works with DEBUG on, so these fixtures turn it on."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from django.core.cache import cache
from django.http import HttpResponse
from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper

from authz import devissuer, jwks, metadata, verifier
from authz.models import DEFAULT_TENANT, Tenant
from cortex.mcp import tenants
from tools import catalog, codebase_index, service

MODERN = "2026-07-28"
SEED_TOOLS = ["codebase.search", "docs.create", "local_memory_delete", "local_memory_search", "local_memory_store"]
ALL_SCOPES = ["search.read", "docs.write", "memory.read", "memory.write", "memory.delete"]


def envelope(version: str = MODERN, **extra: Any) -> dict[str, Any]:
    """The ``params._meta`` the SDK client stamps on every modern request."""
    return {
        "io.modelcontextprotocol/protocolVersion": version,
        "io.modelcontextprotocol/clientInfo": {"name": "mcp", "version": "0.1.0"},
        "io.modelcontextprotocol/clientCapabilities": {},
        **extra,
    }


class McpClient:
    """POSTs JSON-RPC to one MCP endpoint with the SDK client's headers (overridable per call)."""

    def __init__(self, client: Client, path: str = "/mcp", token: str | None = None) -> None:
        self.client = client
        self.path = path
        self.token = token

    def post(
        self,
        body: object,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
        raw: bytes | None = None,
    ) -> HttpResponse:
        sent = {"Accept": "application/json, text/event-stream"}
        token = token if token is not None else self.token
        if token:
            sent["Authorization"] = f"Bearer {token}"
        sent.update(headers or {})
        sent = {name: value for name, value in sent.items() if value is not None}
        data = raw if raw is not None else orjson.dumps(body)
        return self.client.post(self.path, data=data, content_type=content_type, headers=sent)

    def legacy(
        self, method: str, params: dict[str, Any] | None = None, *, id: object = 1, **kwargs: Any
    ) -> HttpResponse:
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": id, "method": method}
        if params is not None:
            body["params"] = params
        return self.post(body, **kwargs)

    def modern(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        id: object = 1,
        name: str | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> HttpResponse:
        """A modern request as the SDK sends it: the envelope in ``_meta`` and ``Mcp-*`` headers."""
        params = {**(params or {})}
        params.setdefault("_meta", envelope())
        sent = {"MCP-Protocol-Version": MODERN, "Mcp-Method": method}
        if method == "tools/call":
            sent["Mcp-Name"] = name if name is not None else params.get("name")
        sent.update(headers or {})
        return self.post({"jsonrpc": "2.0", "id": id, "method": method, "params": params}, headers=sent, **kwargs)


def rpc(response: HttpResponse) -> dict[str, Any]:
    assert response["Content-Type"] == "application/json", response["Content-Type"]
    return orjson.loads(response.content)


def ok(response: HttpResponse, id: object = 1) -> dict[str, Any]:
    """The result of a successful JSON-RPC reply (200, our id, no session id, no error)."""
    assert response.status_code == 200, response.content
    assert "Mcp-Session-Id" not in response
    body = rpc(response)
    assert body["id"] == id
    assert "error" not in body, body
    return body["result"]


@pytest.fixture
def fresh_caches() -> Iterator[None]:
    """Per-process caches are keyed on tenant pk and config_version, which a rolled-back test DB reuses."""
    tenants.forget()
    catalog._cache.clear()
    service._descriptors.clear()
    codebase_index._maps.clear()
    metadata._scope_names.clear()
    verifier.clear_cache()
    jwks.reset()
    cache.clear()
    yield


@pytest.fixture
def debug(settings: SettingsWrapper) -> SettingsWrapper:
    settings.DEBUG = True
    return settings


@pytest.fixture
def make_tenant(db: None, debug: SettingsWrapper, fresh_caches: None) -> Callable[..., Tenant]:
    """A tenant trusting the development issuer, serving ``http://testserver/mcp`` (or ``/t/<slug>/mcp``)."""

    def make(slug: str = DEFAULT_TENANT, **fields: Any) -> Tenant:
        path = "/mcp" if slug == DEFAULT_TENANT else f"/t/{slug}/mcp"
        defaults = {
            "name": slug.title(),
            "use_dev_issuer": True,
            "resource_url": f"http://testserver{path}",
            "auth_mode": Tenant.AuthMode.OAUTH2,
            **fields,
        }
        tenant, _ = Tenant.objects.update_or_create(slug=slug, defaults=defaults)
        return tenant

    return make


@pytest.fixture
def tenant(make_tenant: Callable[..., Tenant]) -> Tenant:
    return make_tenant()


@pytest.fixture
def mint() -> Callable[..., str]:
    def make(tenant: Tenant, scopes: list[str] | None = None, subject: str = "auth0|alice", ttl: int = 300) -> str:
        return devissuer.mint(tenant, ALL_SCOPES if scopes is None else scopes, subject, ttl)

    return make


@pytest.fixture
def token(tenant: Tenant, mint: Callable[..., str]) -> str:
    """A token for the default tenant holding every seed scope."""
    return mint(tenant)


@pytest.fixture
def mcp(client: Client, tenant: Tenant, token: str) -> McpClient:
    """The default tenant's endpoint, authenticated with every seed scope."""
    return McpClient(client, "/mcp", token)
