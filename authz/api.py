"""HTTP routes of the authz app (mounted by ``cortex.api``): protected-resource metadata and the dev JWKS.

- ``GET /.well-known/oauth-protected-resource``: the default tenant's metadata (the seed guide's URL).
- ``GET /.well-known/oauth-protected-resource/<resource path>``: RFC 9728 path-inserted form. ``mcp`` is the
  default tenant, ``t/<slug>/mcp`` that tenant, anything else the tenant whose resource URL has that path.
  ``Cache-Control: no-cache`` with an ETag (``If-None-Match`` gives 304), so an admin's edit is seen at once
  while unchanged bodies cost clients nothing; ``Access-Control-Allow-Origin: *`` (and an ``OPTIONS``
  preflight answer) because browser-based MCP clients read it cross-origin with an ``MCP-Protocol-Version``
  header.
- ``GET /dev-issuer/.well-known/jwks.json``: the development issuer's public keys. Served only while DEBUG
  is on and some tenant trusts that issuer; otherwise 404, so a production deployment publishes nothing.

Responses are plain Django responses (no schema validation on these hot, fixed-shape bodies).
"""

from __future__ import annotations

import hashlib
import json
import re
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from ninja import Router

from authz import devissuer
from authz.metadata import protected_resource_metadata
from authz.models import DEFAULT_TENANT, Tenant

router = Router(tags=["authz"])

_TENANT_PATH = re.compile(r"t/(?P<slug>[a-z0-9][a-z0-9-]{0,48})/mcp/?")
_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, MCP-Protocol-Version, Content-Type",
    "Access-Control-Max-Age": "86400",
}


def _json(status: int, body: object, **headers: str) -> HttpResponse:
    response = HttpResponse(
        json.dumps(body, separators=(",", ":")).encode(), status=status, content_type="application/json"
    )
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _not_found(what: str) -> HttpResponse:
    return _json(404, {"error": "not_found", "error_description": what}, Access_Control_Allow_Origin="*")


def tenant_for_resource_path(rest: str) -> Tenant | None:
    """The tenant whose protected-resource metadata lives at ``/.well-known/oauth-protected-resource/<rest>``."""
    rest = rest.strip("/")
    if rest in {"", "mcp"}:
        return Tenant.objects.filter(slug=DEFAULT_TENANT).first()
    match = _TENANT_PATH.fullmatch(rest)
    if match:
        return Tenant.objects.filter(slug=match["slug"]).first()
    for tenant in Tenant.objects.all():
        if urlsplit(tenant.resource_url).path.rstrip("/") == "/" + rest:
            return tenant
    return None


def _metadata_response(request: HttpRequest, rest: str) -> HttpResponse:
    if request.method == "OPTIONS":
        response = HttpResponse(status=204)
        for name, value in _CORS.items():
            response[name] = value
        return response
    tenant = tenant_for_resource_path(rest)
    if tenant is None:
        return _not_found(f"no protected resource at /{rest.strip('/')}")
    body = json.dumps(protected_resource_metadata(tenant), separators=(",", ":")).encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"Cache-Control": "no-cache", "ETag": etag, "Access-Control-Allow-Origin": "*"}
    match_tags = {tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")}
    if etag in match_tags or f"W/{etag}" in match_tags:
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(body, content_type="application/json")
    for name, value in headers.items():
        response[name] = value
    return response


@router.api_operation(["GET", "OPTIONS"], "/.well-known/oauth-protected-resource", include_in_schema=False)
def protected_resource_root(request: HttpRequest) -> HttpResponse:
    return _metadata_response(request, "")


@router.api_operation(["GET", "OPTIONS"], "/.well-known/oauth-protected-resource/{path:rest}", include_in_schema=False)
def protected_resource(request: HttpRequest, rest: str) -> HttpResponse:
    return _metadata_response(request, rest)


@router.get("/dev-issuer/.well-known/jwks.json", include_in_schema=False)
def dev_issuer_jwks(request: HttpRequest) -> HttpResponse:
    if not settings.DEBUG or not Tenant.objects.filter(use_dev_issuer=True).exists():
        return _not_found("the development issuer is not enabled")
    return _json(200, devissuer.jwks(), Cache_Control="max-age=300", Access_Control_Allow_Origin="*")
