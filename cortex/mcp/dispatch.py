"""Method handlers for both protocol eras, and the dispatcher that picks one.

A handler takes a ``Call`` (tenant, principal, params) and returns the JSON-RPC ``result`` object, or
raises an ``McpError`` / ``AuthzError``. The modern era adds ``resultType: "complete"`` to every result.

Caching hints (modern ``ttlMs``/``cacheScope``): our tool list depends on the tenant only, never on the
token. ``tools.service.list_tools(tenant)`` lists every enabled tool with the scopes it needs (in
``securitySchemes``) whatever the caller holds, and the same per-tool scope map is public in the
protected-resource metadata. So both results are ``cacheScope: "public"``. ``tools/list`` has ``ttlMs: 0``
because an admin's edit must show on the next request (no stale copies, as for the metadata);
``server/discover`` (versions, capabilities, instructions: fixed per deployment) may be cached for an hour.
If tools are ever filtered by the token's scopes, ``tools/list`` must become ``"private"``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpResponse

from authz.errors import InsufficientScope, MissingToken
from authz.models import Tenant
from authz.principal import Principal
from cortex.mcp import modern, responses, versions
from cortex.mcp.errors import InvalidParams, MethodNotFound
from cortex.mcp.exchange import Exchange
from cortex.mcp.versions import Era
from tools import service

Result = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Call:
    tenant: Tenant
    principal: Principal | None
    params: dict[str, Any]


Handler = Callable[[Call], Result]

TOOLS_LIST_TTL_MS = 0
DISCOVER_TTL_MS = 3_600_000
CACHE_SCOPE = "public"


def initialize(call: Call) -> Result:
    """Legacy handshake: echo the client's version when we speak it, else offer our latest."""
    requested = call.params.get("protocolVersion")
    version = requested if requested in versions.LEGACY_VERSIONS else versions.LATEST_LEGACY
    return {
        "protocolVersion": version,
        "capabilities": versions.CAPABILITIES,
        "serverInfo": versions.SERVER_INFO,
        "instructions": versions.INSTRUCTIONS,
    }


def ping(call: Call) -> Result:
    return {}


def discover(call: Call) -> Result:
    return {
        "supportedVersions": list(versions.SUPPORTED_VERSIONS),
        "capabilities": versions.CAPABILITIES,
        "instructions": versions.INSTRUCTIONS,
        "ttlMs": DISCOVER_TTL_MS,
        "cacheScope": CACHE_SCOPE,
        "_meta": {versions.META_SERVER_INFO: versions.SERVER_INFO},
    }


def tools_list(call: Call) -> Result:
    """No pagination: a tenant has a handful of tools, so any ``cursor`` is ignored and none is returned."""
    return {"tools": service.list_tools(call.tenant)}


def tools_list_modern(call: Call) -> Result:
    result = tools_list(call)
    result["ttlMs"] = TOOLS_LIST_TTL_MS
    result["cacheScope"] = CACHE_SCOPE
    return result


def tools_call(call: Call) -> Result:
    tenant, params = call.tenant, call.params
    name = params.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidParams("tools/call needs params.name, the name of the tool to call")
    arguments = params.get("arguments")
    try:
        outcome = service.call_tool(tenant, call.principal, name, {} if arguments is None else arguments)
    except service.UnknownTool:
        raise InvalidParams(f"Unknown tool: {name}") from None
    except (MissingToken, InsufficientScope) as exc:
        if tenant.challenge_style == Tenant.ChallengeStyle.RESULT:
            return responses.challenge_result(tenant, exc)
        raise
    result: Result = {"content": outcome.content, "isError": outcome.is_error}
    if outcome.structured is not None:
        result["structuredContent"] = outcome.structured
    return result


# server/discover is absent from the legacy table on purpose: -32601 there makes the SDK's auto mode fall
# back to initialize. ping and initialize are absent from the modern table: 2026-07-28 removed them.
LEGACY: dict[str, Handler] = {
    "initialize": initialize,
    "ping": ping,
    "tools/list": tools_list,
    "tools/call": tools_call,
}
MODERN: dict[str, Handler] = {
    "server/discover": discover,
    "tools/list": tools_list_modern,
    "tools/call": tools_call,
}


def dispatch(ex: Exchange) -> HttpResponse:
    """Answer a request (never a notification: the pipeline has acknowledged those with 202)."""
    message, tenant = ex.message, ex.tenant
    assert message is not None and tenant is not None
    if ex.era is Era.MODERN:
        modern.check(ex.request.META, message)
        handler = MODERN.get(message.method)
    else:
        handler = LEGACY.get(message.method)
    if handler is None:
        raise MethodNotFound(message.method)
    result = handler(Call(tenant, ex.principal, message.params))
    if ex.era is Era.MODERN:
        result["resultType"] = "complete"
    return responses.result(message.id, result)
