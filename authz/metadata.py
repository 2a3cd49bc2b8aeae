"""OAuth 2.0 Protected Resource Metadata (RFC 9728) for a tenant: what MCP clients read to find the
authorization server and the scopes to ask for.

The body is built per request from the tenant row (read fresh, so an edited issuer or resource URL shows
at once) and from per-process answers keyed on ``Tenant.config_version``, which every tool or scope edit
bumps: the per-tool ``scopes`` map (the seed guide's ``{tool: [scope, ...]}``, enabled tools only) and the
tenant's scope names. Served by ``authz.api`` with ``Cache-Control: no-cache`` and an ETag.
"""

from __future__ import annotations

from typing import Any

from authz.devissuer import issuer_for
from authz.models import Scope, Tenant
from tools.catalog import catalog

_scope_names: dict[int, tuple[int, list[str]]] = {}


def connector_scopes(tenant: Tenant) -> list[str]:
    """The tenant's scope names in the order they were created (``REQUIRED_SCOPES`` order for the default
    tenant): ``scopes_supported`` here and the ``scope`` of the bare 401 challenge."""
    cached = _scope_names.get(tenant.pk)
    if cached is not None and cached[0] == tenant.config_version:
        return cached[1]
    names = list(Scope.objects.filter(tenant=tenant).order_by("id").values_list("name", flat=True))
    _scope_names[tenant.pk] = (tenant.config_version, names)
    return names


def authorization_server(tenant: Tenant) -> str:
    """The advertised authorization server: the tenant's setting, else its issuer without the trailing
    slash (Auth0's issuer is ``https://TENANT.auth0.com/``, its metadata base ``https://TENANT.auth0.com``)."""
    if tenant.authorization_server:
        return tenant.authorization_server
    if tenant.use_dev_issuer:
        return issuer_for(tenant).rstrip("/")
    return tenant.issuer.rstrip("/")


def protected_resource_metadata(tenant: Tenant) -> dict[str, Any]:
    server = authorization_server(tenant)
    body: dict[str, Any] = {
        "resource": tenant.resource_url,
        "authorization_servers": [server] if server else [],
        "scopes_supported": connector_scopes(tenant),
        "bearer_methods_supported": ["header"],
        "resource_name": tenant.resource_name,
    }
    if tenant.resource_documentation:
        body["resource_documentation"] = tenant.resource_documentation
    body["scopes"] = {name: list(entry.scopes) for name, entry in catalog(tenant).items()}
    return body
