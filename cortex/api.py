"""The django-ninja API. Views are thin: each hands the request to a plain module."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI

from authz.api import router as authz_router
from authz.models import DEFAULT_TENANT
from cortex.mcp import pipeline

api = NinjaAPI(title="Cortex MCP", urls_namespace="cortex", docs_url=None, openapi_url=None)

# Protected-resource metadata (RFC 9728) and the development issuer's JWKS.
api.add_router("", authz_router)

# Every method is routed to the pipeline, which answers non-POST with 405 + Allow: POST and a JSON-RPC body
# (after the Origin check, in the contract's order) instead of ninja's bare 405.
MCP_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@api.api_operation(MCP_METHODS, "/mcp", include_in_schema=False, url_name="mcp")
def mcp(request: HttpRequest) -> HttpResponse:
    return pipeline.handle(request, DEFAULT_TENANT)


@api.api_operation(MCP_METHODS, "/t/{slug}/mcp", include_in_schema=False, url_name="tenant_mcp")
def tenant_mcp(request: HttpRequest, slug: str) -> HttpResponse:
    return pipeline.handle(request, slug)
