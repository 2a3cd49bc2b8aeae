"""The MCP endpoint as a fixed sequence of small steps (DESIGN.md, "Requests"):

    host -> tenant -> origin -> method -> token -> rate limit -> media types -> body size -> JSON -> era
         -> notification? -> dispatch

Each step reads the request, fills in the ``Exchange`` or raises; the first refusal wins and
``cortex.mcp.responses`` renders it. Nothing is logged per request below WARNING, and per-request work that
only depends on a header value or a tenant setting (Accept parsing, the origin allowlist) is cached.

The Host is checked here against ``ALLOWED_HOSTS`` (the API runs under a middleware chain without
``CommonMiddleware``, see ``cortex/wsgi.py``), so a bad Host gets a JSON-RPC 400 like every other refusal.
"""

from __future__ import annotations

import functools
import logging
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse

from authz.errors import AuthzError, MissingToken
from authz.models import Tenant
from authz.principal import Principal
from authz.verifier import bearer_token, verify_token
from cortex import observability, ratelimit
from cortex.mcp import jsonrpc, responses, versions
from cortex.mcp.dispatch import dispatch
from cortex.mcp.errors import (
    BodyTooLarge,
    ForbiddenHost,
    ForbiddenOrigin,
    HeaderMismatch,
    HttpMethodNotAllowed,
    InternalError,
    InvalidRequest,
    McpError,
    NotAcceptable,
    UnknownTenant,
    UnsupportedMediaType,
    UnsupportedVersion,
)
from cortex.mcp.exchange import Exchange
from cortex.mcp.tenants import tenant_by_slug
from cortex.mcp.versions import Era

logger = logging.getLogger(__name__)

DEFAULT_PORTS = {"http": 80, "https": 443}


def handle(request: HttpRequest, slug: str) -> HttpResponse:
    """Serve one POST to ``/mcp`` or ``/t/<slug>/mcp``; every outcome is an ``HttpResponse``."""
    ex = Exchange(request)
    try:
        check_host(request)
        ex.tenant = load_tenant(slug)
        check_origin(request, ex.tenant)
        check_method(request)
        ex.principal = authenticate(request, ex.tenant)
        ratelimit.check(request, ex.tenant, ex.principal)
        check_media_types(request)
        ex.message = jsonrpc.message(jsonrpc.parse(read_body(request)))
        ex.era = select_era(request)
        if not ex.message.is_request:
            return responses.accepted()
        return dispatch(ex)
    except (McpError, AuthzError) as exc:
        request_id = ex.message.id if ex.message is not None else None
        return responses.error(exc, tenant=ex.tenant, request_id=request_id, era=ex.era)
    except Exception:
        logger.exception("MCP request failed (tenant %s)", slug)
        request_id = ex.message.id if ex.message is not None else None
        return responses.error(InternalError(), tenant=ex.tenant, request_id=request_id)


def check_host(request: HttpRequest) -> None:
    """DNS-rebinding protection, first half: the Host must be one of ``ALLOWED_HOSTS``."""
    try:
        request.get_host()
    except DisallowedHost:
        raise ForbiddenHost() from None


def load_tenant(slug: str) -> Tenant:
    """One query per request, on purpose: an admin's edit to the tenant applies on the next request."""
    tenant = tenant_by_slug(slug)
    if tenant is None:
        raise UnknownTenant()
    return tenant


@functools.lru_cache(maxsize=1024)
def normalize_origin(value: str) -> str:
    """``scheme://host[:port]``, lower case, default port dropped: how browsers serialize an Origin."""
    parts = urlsplit(value.strip())
    scheme = parts.scheme.lower()
    if not scheme or not parts.hostname:
        return value.strip().lower()
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        return value.strip().lower()
    if port is not None and port != DEFAULT_PORTS.get(scheme):
        return f"{scheme}://{host}:{port}"
    return f"{scheme}://{host}"


@functools.lru_cache(maxsize=256)
def allowed_origins(allowed: str, resource_url: str) -> frozenset[str]:
    """The tenant's allowlist plus the resource's own origin (keyed on the raw settings, so edits apply)."""
    words = allowed.replace(",", " ").split()
    return frozenset(normalize_origin(word) for word in [*words, resource_url] if word)


def check_origin(request: HttpRequest, tenant: Tenant) -> None:
    """DNS-rebinding protection (MCP transport spec): a browser Origin must be allowed. No Origin: not a browser."""
    origin = request.META.get("HTTP_ORIGIN")
    if origin is None:
        return
    if normalize_origin(origin) not in allowed_origins(tenant.allowed_origins, tenant.resource_url):
        raise ForbiddenOrigin(f"Forbidden: Origin {origin} is not allowed for this MCP endpoint")


def check_method(request: HttpRequest) -> None:
    if request.method != "POST":
        raise HttpMethodNotAllowed()


def authenticate(request: HttpRequest, tenant: Tenant) -> Principal | None:
    """The bearer token, per the tenant's AUTH_MODE.

    ``oauth2``: a valid token is required. ``optional``: no token is fine (``None``: tools decide, via
    ``MissingToken``), but a presented token must be valid. ``none``: no check at all (a presented token is
    ignored), only when DEBUG is on, otherwise it behaves as ``oauth2``; ``tools.service`` then runs every
    tool without a principal.
    """
    mode = tenant.auth_mode
    if mode == Tenant.AuthMode.NONE and settings.DEBUG:
        return None
    try:
        token = bearer_token(request.META.get("HTTP_AUTHORIZATION"))
        if token is None:
            observability.token_checked(missing=True)
            if mode == Tenant.AuthMode.OPTIONAL:
                return None
            raise MissingToken()
        principal = verify_token(tenant, token)
    except AuthzError as exc:
        if not isinstance(exc, MissingToken):
            observability.token_checked(exc)
        raise
    observability.token_checked()
    return principal


@functools.lru_cache(maxsize=256)
def accepts_json(accept: str) -> bool:
    """Whether an Accept header admits application/json (``*/*`` and ``application/*`` do; ``q=0`` does not)."""
    for item in accept.split(","):
        media, *params = item.split(";")
        if media.strip().lower() not in ("application/json", "application/*", "*/*"):
            continue
        refused = any(p.strip().replace(" ", "").lower() in ("q=0", "q=0.0", "q=0.00", "q=0.000") for p in params)
        if not refused:
            return True
    return False


def check_media_types(request: HttpRequest) -> None:
    """406 unless the client accepts JSON (no Accept header means anything, per RFC 9110); 415 unless it sends JSON."""
    accept = request.META.get("HTTP_ACCEPT")
    if accept and not accepts_json(accept):
        raise NotAcceptable()
    content_type = request.META.get("CONTENT_TYPE", "")
    if content_type.partition(";")[0].strip().lower() != "application/json":
        raise UnsupportedMediaType()


def read_body(request: HttpRequest) -> bytes:
    """At most ``MCP_MAX_BODY_BYTES``: refused on the declared length before reading, and on what was read.

    A declared length is read exactly (asking the server for ``limit + 1`` bytes costs a buffer that size on
    every request); without one, at most ``limit + 1`` bytes are read to tell an oversized body."""
    limit: int = settings.MCP_MAX_BODY_BYTES
    declared = request.META.get("CONTENT_LENGTH")
    wanted = limit + 1
    if declared:
        try:
            length = int(declared)
        except ValueError:
            raise InvalidRequest("Invalid Content-Length") from None
        if length < 0:
            raise InvalidRequest("Invalid Content-Length")
        if length > limit:
            raise BodyTooLarge(f"Payload Too Large: the limit is {limit} bytes")
        wanted = length
    body = request.read(wanted)
    if len(body) > limit:
        raise BodyTooLarge(f"Payload Too Large: the limit is {limit} bytes")
    return body


def select_era(request: HttpRequest) -> Era:
    """By the ``MCP-Protocol-Version`` header only, as the SDK routes: absent or a handshake version: legacy."""
    header = request.META.get("HTTP_MCP_PROTOCOL_VERSION")
    if header is None or header in versions.LEGACY_VERSIONS:
        return Era.LEGACY
    if header in versions.MODERN_VERSIONS:
        return Era.MODERN
    if "," in header:
        raise HeaderMismatch("mcp-protocol-version header appears more than once")
    raise UnsupportedVersion(header)
