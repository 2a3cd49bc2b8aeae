"""The setup doctor: the seed guide's troubleshooting table (section 5), automated.

Each check is a plain function that returns ``Row``s (``PASS``/``WARN``/``FAIL``, a message naming what was
found, and for anything not passing the fix). ``manage.py oauth_doctor`` prints them and exits non-zero on
any FAIL; the admin's "Doctor" page on a tenant shows the same rows.

Which troubleshooting row each check answers:

- *401 w/ invalid_token* (issuer/audience mismatch): ``discovery`` (the issuer Auth0 announces equals the
  issuer tokens are checked against, trailing slash included), ``jwks`` (reachable, a key of an allowed
  algorithm), ``api`` (an Auth0 API whose identifier is the audience, signing with an allowed algorithm) and,
  given ``--token``, ``token`` (signature, issuer, audience, expiry, exactly as the MCP endpoint checks it).
- *401 w/ insufficient_scope*: ``api`` (RBAC on, permissions in the access token), ``api scopes`` (every
  enabled tool's scope exists on the API) and, given a token, which tools it can call and the scopes it lacks.
- *ChatGPT fails to register connector*: ``discovery`` has ``registration_endpoint`` (Auth0 announces it only
  with Dynamic Client Registration on) and ``code_challenge_methods_supported`` contains ``S256`` (PKCE).
- *Metadata missing scopes*: ``metadata`` (served at the connector's URL, ``resource`` equals
  ``MCP_RESOURCE_URL``, the per-tool map covers every enabled tool, every enabled tool has a handler and scopes).
- And the resource URL is https (ChatGPT refuses plain http).

The Auth0 API checks need Management API credentials (a Machine-to-Machine application authorized for the
Auth0 Management API with ``read:resource_servers`` and ``read:tenant_settings``): the tenant's own when it has
them, or passed in; without them those checks are a WARN saying so. Nothing here changes anything in Auth0.
"""

from __future__ import annotations

import enum
import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from django.conf import settings
from django.http.request import validate_host

from authz import auth0, devissuer, jwks
from authz.bootstrap import is_loopback
from authz.connect import metadata_url
from authz.errors import (
    AlgorithmNotAllowed,
    AudienceMismatch,
    AuthzError,
    EncryptedToken,
    IssuerMismatch,
    KeysUnavailable,
    TokenExpired,
    TokenNotYetValid,
    UnknownSigningKey,
)
from authz.metadata import authorization_server
from authz.models import DEFAULT_TENANT, Tenant
from authz.verifier import verify_token
from tools.catalog import catalog
from tools.models import Tool
from tools.registry import get

TIMEOUT_SECONDS = 5.0
PERMISSIONS_DIALECTS = {"access_token_authz", "rfc9068_profile_authz"}


class Status(enum.StrEnum):
    PASS = "PASS"
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Row:
    check: str
    status: Status
    message: str
    fix: str = ""


@dataclass(frozen=True)
class ManagementCredentials:
    """A Machine-to-Machine application's credentials for the Auth0 Management API of ``domain``."""

    client_id: str
    client_secret: str
    domain: str = ""  # TENANT.auth0.com; empty: the tenant's own setting, else its issuer's host


@dataclass
class Context:
    """What one run has learned so far (later checks use the discovery document and the API)."""

    tenant: Tenant
    http: httpx.Client
    discovery: dict[str, Any] | None = None
    api: dict[str, Any] | None = None
    mgmt_token: str | None = None
    notes: dict[str, Any] = field(default_factory=dict)


def PASS(check: str, message: str) -> Row:
    return Row(check, Status.PASS, message)


def WARN(check: str, message: str, fix: str = "") -> Row:
    return Row(check, Status.WARN, message, fix)


def FAIL(check: str, message: str, fix: str) -> Row:
    return Row(check, Status.FAIL, message, fix)


# --- the resource side (this server) --------------------------------------------------------------------------


def check_resource_url(ctx: Context) -> list[Row]:
    url = ctx.tenant.resource_url
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return [
            FAIL("resource URL", f"{url!r} is not an http(s) URL", "Set MCP_RESOURCE_URL=https://your-mcp-host/mcp")
        ]
    if parts.scheme == "https":
        return [PASS("resource URL", f"{url} is https")]
    if is_loopback(url):
        return [
            WARN(
                "resource URL",
                f"{url} is plain http on loopback: fine for local tests, ChatGPT needs a public https URL",
                "Serve the MCP endpoint over https (a tunnel for testing) and set MCP_RESOURCE_URL to it",
            )
        ]
    return [
        FAIL(
            "resource URL",
            f"{url} is plain http: ChatGPT and Auth0 need an https resource",
            "Serve the endpoint over https and set MCP_RESOURCE_URL=https://... (then run manage.py migrate)",
        )
    ]


def _served_metadata(tenant: Tenant, url: str) -> tuple[int, dict[str, Any] | None, str]:
    """The metadata as this deployment serves it at ``url``: a request through the full URLconf and middleware
    (so a Host that ``ALLOWED_HOSTS`` refuses shows up), in process."""
    from django.test import Client

    parts = urlsplit(url)
    client = Client(raise_request_exception=False)
    response = client.get(parts.path, HTTP_HOST=parts.netloc, secure=parts.scheme == "https")
    text = response.content.decode(errors="replace")
    try:
        body = json.loads(text) if response.status_code == 200 else None
    except ValueError:
        body = None
    return response.status_code, body, text[:200]


def expected_resource(tenant: Tenant) -> str:
    """``MCP_RESOURCE_URL`` for the default tenant (the seed's variable), the tenant's resource URL otherwise."""
    if tenant.slug == DEFAULT_TENANT and os.environ.get("MCP_RESOURCE_URL"):
        return os.environ["MCP_RESOURCE_URL"]
    return tenant.resource_url


def check_metadata(ctx: Context) -> list[Row]:
    tenant = ctx.tenant
    url = metadata_url(tenant)
    host = urlsplit(url).hostname or ""
    if not validate_host(host, settings.ALLOWED_HOSTS):
        return [
            FAIL(
                "metadata",
                f"{url} cannot be served: the host {host} is not in ALLOWED_HOSTS (requests get HTTP 400)",
                f"Add {host} to ALLOWED_HOSTS (the MCP_RESOURCE_URL host is added automatically)",
            )
        ]
    status, body, _text = _served_metadata(tenant, url)
    if status != 200 or body is None:
        return [
            FAIL(
                "metadata",
                f"{url} answered HTTP {status}, not the protected-resource metadata",
                "Check the resource URL's path (…/mcp or …/t/<slug>/mcp) and that this tenant exists",
            )
        ]
    rows = [PASS("metadata", f"served at {url}")]
    expected = expected_resource(tenant)
    if body.get("resource") != expected:
        rows.append(
            FAIL(
                "metadata resource",
                f"resource is {body.get('resource')!r}, MCP_RESOURCE_URL is {expected!r}",
                "Make them equal: set MCP_RESOURCE_URL and run manage.py migrate (or edit the tenant's resource URL)",
            )
        )
    else:
        rows.append(PASS("metadata resource", f"resource equals MCP_RESOURCE_URL ({expected})"))
    server = authorization_server(tenant)
    if not body.get("authorization_servers"):
        rows.append(
            FAIL(
                "metadata servers",
                "authorization_servers is empty: clients cannot find Auth0",
                "Set AUTH0_DOMAIN (or the tenant's issuer / authorization server) and run manage.py migrate",
            )
        )
    else:
        rows.append(PASS("metadata servers", f"authorization_servers: {', '.join(body['authorization_servers'])}"))
    rows += _check_tool_map(tenant, body.get("scopes") or {}, server)
    return rows


def _check_tool_map(tenant: Tenant, tool_map: dict[str, list[str]], server: str) -> list[Row]:
    rows: list[Row] = []
    enabled = list(Tool.objects.filter(tenant=tenant, enabled=True).prefetch_related("scopes").order_by("name"))
    gone = [tool.name for tool in enabled if get(tool.name) is None]
    if gone:
        rows.append(
            FAIL(
                "metadata tools",
                f"enabled but no handler registered (not served, so missing from the metadata): {', '.join(gone)}",
                "Restore the handler module in CORTEX_TOOL_MODULES and restart, or disable the tool in the admin",
            )
        )
    served = [tool for tool in enabled if get(tool.name) is not None]
    missing = [tool.name for tool in served if tool.name not in tool_map]
    wrong = [
        tool.name
        for tool in served
        if tool.name in tool_map and sorted(tool_map[tool.name]) != sorted(s.name for s in tool.scopes.all())
    ]
    if missing or wrong:
        rows.append(
            FAIL(
                "metadata tools",
                f"the per-tool scope map does not match the enabled tools (missing: {', '.join(missing) or '-'}; "
                f"different scopes: {', '.join(wrong) or '-'})",
                "Restart the server processes (a stale process cache), then reload the metadata",
            )
        )
    unscoped = [tool.name for tool in served if not tool.scopes.exists() and not tool.noauth]
    if unscoped:
        rows.append(
            WARN(
                "metadata tools",
                f"enabled tools without a scope (any valid token may call them): {', '.join(unscoped)}",
                "Give each tool its scope in the admin (Tools → scopes), e.g. docs.create → docs.write",
            )
        )
    for seed in ("codebase.search", "docs.create"):
        if seed not in tool_map:
            rows.append(
                WARN(
                    "metadata tools",
                    f"{seed} is not in the metadata (disabled or not registered): the seed's test steps need it",
                    f"Enable {seed} for this tenant in the admin (Tools), or run manage.py sync_tools",
                )
            )
    if not rows:
        rows.append(PASS("metadata tools", f"per-tool scopes cover the {len(served)} enabled tools"))
    return rows


def check_audience(ctx: Context) -> list[Row]:
    tenant = ctx.tenant
    if tenant.effective_audience == tenant.resource_url:
        return [PASS("audience", f"the audience is the resource URL ({tenant.resource_url})")]
    return [
        WARN(
            "audience",
            f"the audience {tenant.effective_audience!r} differs from the resource URL {tenant.resource_url!r}: "
            "ChatGPT asks for resource=<resource URL>, so Auth0 issues tokens for an API with that identifier",
            "Use the resource URL as the Auth0 API Identifier and AUTH0_AUDIENCE (or leave AUTH0_AUDIENCE empty)",
        )
    ]


# --- the authorization server (Auth0) ---------------------------------------------------------------------------


def _get_json(ctx: Context, url: str, **kwargs: Any) -> tuple[int, Any, str]:
    try:
        response = ctx.http.get(url, **kwargs)
    except httpx.HTTPError as exc:
        return 0, None, f"{type(exc).__name__}: {exc}"
    try:
        return response.status_code, response.json(), ""
    except ValueError:
        return response.status_code, None, "not JSON" if response.status_code == 200 else ""


def check_discovery(ctx: Context) -> list[Row]:
    tenant = ctx.tenant
    if tenant.use_dev_issuer:
        return [
            WARN(
                "discovery",
                "this tenant trusts the development issuer: no Auth0, so ChatGPT cannot sign in to it",
                "Set AUTH0_DOMAIN and AUTH0_AUDIENCE (seed guide, section 3) and run manage.py migrate",
            )
        ]
    server = authorization_server(tenant)
    if not server:
        return [FAIL("discovery", "no authorization server configured", "Set AUTH0_DOMAIN and run manage.py migrate")]
    url = f"{server}/.well-known/openid-configuration"
    status, doc, problem = _get_json(ctx, url)
    if status != 200 or not isinstance(doc, dict):
        return [
            FAIL(
                "discovery",
                f"{url} is not reachable ({problem or f'HTTP {status}'})",
                "Check AUTH0_DOMAIN (TENANT.auth0.com, or your custom domain) and that this host can reach it",
            )
        ]
    ctx.discovery = doc
    rows = [PASS("discovery", f"{url} answered")]
    if doc.get("issuer") != tenant.issuer:
        rows.append(
            FAIL(
                "issuer",
                f"Auth0 announces issuer {doc.get('issuer')!r} but tokens are checked against {tenant.issuer!r}: "
                "every token will be refused with invalid_token (issuer mismatch)",
                f"Set the tenant's issuer to {doc.get('issuer')!r} exactly (trailing slash included), or fix "
                "AUTH0_DOMAIN / AUTH_ISSUER and run manage.py migrate",
            )
        )
    else:
        rows.append(PASS("issuer", f"issuer {tenant.issuer} matches the discovery document"))
    if doc.get("registration_endpoint"):
        rows.append(PASS("registration", f"registration_endpoint: {doc['registration_endpoint']}"))
    else:
        rows.append(
            FAIL(
                "registration",
                "the discovery document has no registration_endpoint: Dynamic Client Registration is off, so "
                "ChatGPT fails to register the connector",
                "Auth0 dashboard → Settings → Advanced → enable Dynamic Client Registration, and promote the "
                "login connection to domain level",
            )
        )
    methods = doc.get("code_challenge_methods_supported") or []
    if "S256" in methods:
        rows.append(PASS("pkce", "code_challenge_methods_supported has S256"))
    else:
        rows.append(
            FAIL(
                "pkce",
                f"code_challenge_methods_supported is {methods!r}, without S256: ChatGPT requires PKCE S256",
                "Use an authorization server that supports PKCE with S256 (Auth0 does: check AUTH0_DOMAIN)",
            )
        )
    return rows


def check_jwks(ctx: Context) -> list[Row]:
    tenant = ctx.tenant
    allowed = [alg for alg in tenant.algorithm_list if alg in jwks.KEY_TYPES]
    if tenant.use_dev_issuer:
        document: Any = devissuer.jwks()
        source = "the development issuer"
    else:
        source = jwks.source_for(tenant)
        status, document, problem = _get_json(ctx, source)
        if status != 200 or not isinstance(document, dict):
            return [
                FAIL(
                    "jwks",
                    f"{source} is not reachable ({problem or f'HTTP {status}'}): tokens cannot be verified",
                    "Check the tenant's JWKS URI (Auth0: https://TENANT.auth0.com/.well-known/jwks.json)",
                )
            ]
        announced = (ctx.discovery or {}).get("jwks_uri")
        if announced and announced != source:
            ctx.notes["jwks_mismatch"] = announced
    keys = jwks.parse_keys(document)
    usable = [
        kid
        for kid, key in keys.items()
        if any(key.key_type == jwks.KEY_TYPES[alg] and key._jwk_data.get("alg") in (None, alg) for alg in allowed)
    ]
    if not usable:
        return [
            FAIL(
                "jwks",
                f"{source} has no signing key for the allowed algorithms ({', '.join(allowed) or 'none'}); "
                f"keys: {', '.join(sorted(keys)) or 'none'}",
                "Set the tenant's algorithms to the Auth0 API's Signing Algorithm (RS256 by default)",
            )
        ]
    rows = [PASS("jwks", f"{source}: {len(usable)} key(s) for {', '.join(allowed)} ({', '.join(sorted(usable))})")]
    if "jwks_mismatch" in ctx.notes:
        rows.append(
            WARN(
                "jwks",
                f"the discovery document announces {ctx.notes['jwks_mismatch']}, the tenant uses {source}",
                "Clear the tenant's JWKS URI (it then follows the issuer) or set it to the announced one",
            )
        )
    return rows


# --- the Auth0 API (Management API) -------------------------------------------------------------------------------


def management_tenant(tenant: Tenant, given: ManagementCredentials | None) -> Tenant | None:
    """The tenant with the Management API credentials to use: those passed in (on an unsaved copy), else
    its own; ``None`` when there are none."""
    if given is not None:
        copy = Tenant.objects.get(pk=tenant.pk) if tenant.pk else tenant
        copy.mgmt_client_id, copy.mgmt_client_secret = given.client_id, given.client_secret
        if given.domain:
            copy.mgmt_domain = given.domain
        return copy
    return tenant if auth0.configured(tenant) else None


def check_api(ctx: Context, management: Tenant | None) -> list[Row]:
    tenant = ctx.tenant
    if tenant.use_dev_issuer:
        return []
    if management is None:
        return [
            WARN(
                "api",
                "the Auth0 API was not checked: no Management API credentials",
                "Set the tenant's Management API client id and secret in the admin (a Machine-to-Machine app "
                "with read:resource_servers and read:tenant_settings), or AUTH0_MGMT_CLIENT_ID/SECRET",
            )
        ]
    try:
        token = auth0.token(management)
    except auth0.ManagementApiError as exc:
        return [FAIL("api", f"no Management API token: {exc}", "Fix the Management API application (see the message)")]
    ctx.mgmt_token = token
    host = auth0.domain(management)
    base = f"{'http' if is_loopback(f'http://{host}') else 'https'}://{host}"
    audience = tenant.effective_audience
    headers = {"Authorization": f"Bearer {token}"}
    status, api, problem = _get_json(ctx, f"{base}/api/v2/resource-servers/{quote(audience, safe='')}", headers=headers)
    if status == 404:
        return [
            FAIL(
                "api",
                f"no Auth0 API has the identifier {audience!r}: Auth0 cannot issue tokens for this audience",
                f"Create the API (Applications → APIs → Create API) with Identifier {audience}, or set "
                "AUTH0_AUDIENCE to your API's identifier",
            )
        ]
    if status != 200 or not isinstance(api, dict):
        return [
            FAIL(
                "api",
                f"the Auth0 API could not be read ({problem or f'HTTP {status}'})",
                "Grant the M2M app read:resource_servers on the Auth0 Management API",
            )
        ]
    ctx.api = api
    rows = [PASS("api", f"Auth0 API {api.get('name', '')!r} has the identifier {audience}")]
    if api.get("enforce_policies") is not True:
        rows.append(
            FAIL(
                "api rbac",
                "RBAC is off on the Auth0 API: permissions are not enforced and not put in tokens "
                "(tools fail with insufficient_scope)",
                "Auth0 → Applications → APIs → your API → Settings → enable RBAC",
            )
        )
    else:
        rows.append(PASS("api rbac", "RBAC is on"))
    if api.get("token_dialect") not in PERMISSIONS_DIALECTS:
        rows.append(
            FAIL(
                "api permissions",
                f"permissions are not added to the access token (token_dialect {api.get('token_dialect')!r}): "
                "tokens carry no permissions claim, so tools fail with insufficient_scope",
                "Auth0 → Applications → APIs → your API → Settings → enable Add Permissions in the Access Token",
            )
        )
    else:
        rows.append(PASS("api permissions", "permissions are added to the access token"))
    alg = api.get("signing_alg")
    if alg and alg not in tenant.algorithm_list:
        rows.append(
            FAIL(
                "api algorithm",
                f"the API signs with {alg}, the tenant allows {tenant.algorithms!r}: tokens fail with invalid_token",
                f"Add {alg} to the tenant's algorithms, or set the API's Signing Algorithm to RS256",
            )
        )
    rows += check_api_scopes(ctx)
    rows += _check_tenant_settings(ctx, base, headers)
    return rows


def check_api_scopes(ctx: Context) -> list[Row]:
    defined = {scope.get("value") for scope in (ctx.api or {}).get("scopes") or []}
    needed: dict[str, list[str]] = {}
    for name, entry in catalog(ctx.tenant).items():
        for scope in entry.scopes:
            needed.setdefault(scope, []).append(name)
    missing = {scope: tools for scope, tools in needed.items() if scope not in defined}
    if missing:
        listing = "; ".join(f"{scope} (for {', '.join(tools)})" for scope, tools in sorted(missing.items()))
        return [
            FAIL(
                "api scopes",
                f"scopes enabled tools need are not permissions of the Auth0 API: {listing}",
                "Add them under Applications → APIs → your API → Permissions, or use the admin action "
                "'Sync scopes to Auth0 now'",
            )
        ]
    return [PASS("api scopes", f"all {len(needed)} scope(s) of enabled tools exist on the Auth0 API")]


def _check_tenant_settings(ctx: Context, base: str, headers: dict[str, str]) -> list[Row]:
    status, doc, problem = _get_json(ctx, f"{base}/api/v2/tenants/settings", headers=headers)
    if status != 200 or not isinstance(doc, dict):
        return [
            WARN(
                "resource parameter",
                f"tenant settings not readable ({problem or f'HTTP {status}'}): the Resource Parameter "
                "Compatibility Profile was not checked",
                "Grant the M2M app read:tenant_settings to check it",
            )
        ]
    if doc.get("resource_parameter_profile") == "compatibility":
        return [PASS("resource parameter", "Resource Parameter Compatibility Profile is on")]
    return [
        WARN(
            "resource parameter",
            f"resource_parameter_profile is {doc.get('resource_parameter_profile', 'audience')!r}: Auth0 ignores "
            "the resource parameter ChatGPT sends, so tokens may lack this API's audience",
            "Auth0 → Settings → Advanced → enable Resource Parameter Compatibility Profile",
        )
    ]


# --- a given token ------------------------------------------------------------------------------------------------

_TOKEN_FIXES: list[tuple[type[AuthzError], str]] = [
    (TokenExpired, "Get a fresh token (sign in again); check the server clock if new tokens fail too"),
    (TokenNotYetValid, "Sync the clocks (NTP) of this server and check the tenant's leeway"),
    (IssuerMismatch, "Set the tenant's issuer to the token's iss exactly (AUTH0_DOMAIN gives https://DOMAIN/)"),
    (AudienceMismatch, "Request tokens for this API (resource/audience = the API Identifier) or fix AUTH0_AUDIENCE"),
    (EncryptedToken, "Request the token with audience (or resource) = the API Identifier, so it is a JWT"),
    (UnknownSigningKey, "The token is from another tenant/issuer, or keys rotated: check AUTH0_DOMAIN"),
    (AlgorithmNotAllowed, "Allow the API's Signing Algorithm in the tenant's algorithms (RS256 by default)"),
    (KeysUnavailable, "Make the JWKS reachable from this server (see the jwks check)"),
]


def check_token(ctx: Context, token: str) -> list[Row]:
    tenant = ctx.tenant
    try:
        principal = verify_token(tenant, token.strip())
    except AuthzError as exc:
        fix = next((text for kind, text in _TOKEN_FIXES if isinstance(exc, kind)), "See the message")
        return [FAIL("token", f"refused with {exc.error or exc.status}: {exc.description}", fix)]
    left = principal.expires_at - int(time.time())
    rows = [
        PASS(
            "token",
            f"signature, issuer and audience valid; sub {principal.subject}; expires in {left} s; "
            f"scopes: {' '.join(sorted(principal.scopes)) or '(none)'}",
        )
    ]
    has_permissions = "permissions" in principal.claims
    for name, entry in catalog(tenant).items():
        missing = principal.missing(list(entry.scopes))
        if not missing:
            rows.append(PASS("token tools", f"can call {name}"))
            continue
        hint = "" if has_permissions else " (the token has no permissions claim)"
        rows.append(
            FAIL(
                "token tools",
                f"cannot call {name}: missing {' '.join(missing)}{hint} (the client gets insufficient_scope)",
                f"Grant {' '.join(missing)} to the user or their role in Auth0 (User Management), make sure the "
                "API has RBAC and Add Permissions in the Access Token on, then sign in again",
            )
        )
    return rows


# --- running it ---------------------------------------------------------------------------------------------------


def run(
    tenant: Tenant,
    token: str | None = None,
    management: ManagementCredentials | None = None,
    *,
    http: httpx.Client | None = None,
) -> list[Row]:
    """Every check for one tenant, in the order an operator fixes things."""
    own = http is None
    client = http or httpx.Client(timeout=TIMEOUT_SECONDS)
    ctx = Context(tenant=tenant, http=client)
    try:
        steps: list[Callable[[], Iterable[Row]]] = [
            lambda: check_resource_url(ctx),
            lambda: check_metadata(ctx),
            lambda: check_audience(ctx),
            lambda: check_discovery(ctx),
            lambda: check_jwks(ctx),
            lambda: check_api(ctx, management_tenant(tenant, management)),
        ]
        if token:
            steps.append(lambda: check_token(ctx, token))
        rows: list[Row] = []
        for step in steps:
            rows.extend(step())
        return rows
    finally:
        if own:
            client.close()


def failed(rows: Iterable[Row]) -> bool:
    return any(row.status is Status.FAIL for row in rows)
