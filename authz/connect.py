"""The values an operator types into ChatGPT's "Create connector" form (seed guide, section 4), and the Auth0
settings the tenant needs, computed live from the tenant row (never stored, so they cannot drift).

============================ ============================================================================
Authorization URL            ``<authorization server>/authorize`` (Auth0: ``https://TENANT.auth0.com/authorize``)
Token URL                    ``<authorization server>/oauth/token``
Client authentication        ``Basic`` (the Auth0 client secret of the dynamically registered client)
Scopes                       the tenant's connector scopes, space separated (``REQUIRED_SCOPES`` order)
Protected Resource Metadata  ``https://host/.well-known/oauth-protected-resource`` for the default tenant
                             (the seed's URL); RFC 9728's path-inserted URL for the others
MCP endpoint URL             the tenant's resource URL (``MCP_RESOURCE_URL``)
============================ ============================================================================

The Authorization and Token URLs are Auth0's layout under the advertised authorization server; a tenant that
uses another provider (``AUTH_ISSUER``) gets the endpoints from that provider's discovery document instead
(:func:`connector_values` takes it when the caller has fetched it, e.g. the doctor).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from authz.metadata import authorization_server, connector_scopes
from authz.models import DEFAULT_TENANT, WELL_KNOWN_PRM, Tenant
from tools.catalog import catalog


@dataclass(frozen=True)
class ConnectorValue:
    field: str  # the label in ChatGPT's form
    value: str
    note: str = ""


@dataclass(frozen=True)
class AuthSetting:
    where: str  # where in the Auth0 dashboard
    setting: str
    value: str
    why: str


def metadata_url(tenant: Tenant) -> str:
    """The seed's root URL for the default tenant (``/.well-known/oauth-protected-resource``); RFC 9728's
    path-inserted URL for the others (both forms are served for every tenant)."""
    if tenant.slug == DEFAULT_TENANT:
        parts = urlsplit(tenant.resource_url)
        return f"{parts.scheme}://{parts.netloc}{WELL_KNOWN_PRM}"
    return tenant.metadata_url


def connector_values(tenant: Tenant, discovery: dict[str, Any] | None = None) -> list[ConnectorValue]:
    server = authorization_server(tenant)
    authorize = f"{server}/authorize"
    token = f"{server}/oauth/token"
    if discovery:
        authorize = str(discovery.get("authorization_endpoint") or authorize)
        token = str(discovery.get("token_endpoint") or token)
    return [
        ConnectorValue("Authorization URL", authorize),
        ConnectorValue("Token URL", token),
        ConnectorValue("Client authentication", "Basic", "Auth0 client secret (client_secret_basic)"),
        ConnectorValue("Scopes", " ".join(connector_scopes(tenant))),
        ConnectorValue("Protected Resource Metadata", metadata_url(tenant)),
        ConnectorValue("MCP endpoint URL", tenant.resource_url, "the connector's server URL"),
    ]


def auth0_settings(tenant: Tenant) -> list[AuthSetting]:
    """What the Auth0 tenant must have for ChatGPT to connect (seed guide, section 2)."""
    tool_scopes = sorted({scope for entry in catalog(tenant).values() for scope in entry.scopes})
    algorithms = " or ".join(tenant.algorithm_list) or "RS256"
    return [
        AuthSetting(
            "Settings → Advanced",
            "Enable Dynamic Client Registration",
            "on",
            "ChatGPT registers its own client (the discovery document then has registration_endpoint).",
        ),
        AuthSetting(
            "Settings → Advanced",
            "Resource Parameter Compatibility Profile",
            "on",
            "ChatGPT sends resource=<MCP URL> (RFC 8707); with the profile on, Auth0 issues the token for it.",
        ),
        AuthSetting(
            "Applications → APIs → Create API",
            "Identifier",
            tenant.effective_audience,
            "Must equal the audience this server checks"
            + (" and the resource URL." if tenant.effective_audience == tenant.resource_url else "."),
        ),
        AuthSetting("Applications → APIs → your API", "Signing Algorithm", algorithms, "Tokens are verified with it."),
        AuthSetting(
            "Applications → APIs → your API → Permissions",
            "Permissions",
            " ".join(tool_scopes) or "(no enabled tool needs a scope)",
            "Each enabled tool's scope must exist on the API.",
        ),
        AuthSetting(
            "Applications → APIs → your API → Settings",
            "Enable RBAC and Add Permissions in the Access Token",
            "both on",
            "The granted permissions arrive in the token's permissions claim.",
        ),
        AuthSetting(
            "Authentication → Database / Social",
            "Promote connection to domain level",
            "on",
            "Dynamically registered clients can only use domain-level connections.",
        ),
    ]
