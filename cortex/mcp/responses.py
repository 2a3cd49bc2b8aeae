"""The one place that turns a refusal (``authz.errors.AuthzError`` or ``cortex.mcp.errors.McpError``) into an
HTTP response: status, headers (``WWW-Authenticate`` from ``authz.challenge``, ``Allow``, ``Retry-After``) and
a JSON-RPC error body. Every 4xx/5xx body is ``application/json`` with ``id: null`` where the id is unknown.

Status table (first failing step wins; steps in the order ``cortex.mcp.pipeline`` runs them).
Columns: HTTP status | JSON-RPC code | headers or body.

- ``Host`` not in ``ALLOWED_HOSTS``: 400 | -32600
- unknown tenant slug (``/t/<slug>/mcp``): 404 | -32600
- ``Origin`` present, not allowed and not the resource's own: 403 | -32600
- method other than POST (GET, DELETE, ...): 405 | -32600 | ``Allow: POST``
- no token, ``oauth2`` mode: 401 | -32001 | bare ``Bearer resource_metadata="...", scope="..."``
- token invalid (expired, wrong iss/aud/kid/alg, ...): 401 | -32001 | ``Bearer error="invalid_token", ...``
- Authorization header malformed: 400 | -32600 | ``Bearer error="invalid_request", ...``
- signing keys unavailable (JWKS down, nothing cached): 503 | -32603 | ``Retry-After: 30``
- over the tenant's rate limit for this subject (``cortex.ratelimit``): 429 | -32029 | ``Retry-After: <s>``,
  data ``{"retryAfter": <s>}``
- ``Accept`` excludes application/json: 406 | -32600
- ``Content-Type`` not application/json: 415 | -32600
- body over ``MCP_MAX_BODY_BYTES``: 413 | -32600
- body not JSON: 400 | -32700
- batch, or not a JSON-RPC 2.0 object: 400 | -32600
- ``MCP-Protocol-Version`` not supported: 400 | -32022 | data ``{"supported": [...], "requested": "..."}``
- notification, or a client's response: 202 | - | empty body
- modern: ``params._meta`` lacks an envelope key: 400 | -32602
- modern: ``Mcp-Method``/``Mcp-Name``/version header disagrees with the body, or repeats: 400 | -32020
- unknown method (and ``ping``/``initialize`` in modern): 404 modern, 200 legacy | -32601 | data: the method
- bad params, unknown tool: 400 modern, 200 legacy | -32602
- tools/call, token lacks the tool's scopes, style ``http``: 403 | -32003 |
  ``Bearer error="insufficient_scope", scope="...", resource_metadata="...", error_description="..."``
- the same, style ``result``: 200 | - | tool result ``isError: true``, ``_meta["mcp/www_authenticate"]: [challenge]``
- tools/call of an oauth tool without a token (``optional`` mode): 401 | -32001 | bare challenge (style
  ``http``), or 200 with the tool result as above (style ``result``)
- arguments fail the tool's schema: 200 | - | tool result ``isError: true`` naming the field
- unexpected failure on our side: 500 | -32603

Why the legacy era answers dispatch errors with 200: the SDK's legacy Streamable HTTP transport does, and
its client accepts either. The modern era uses the SDK's ``ERROR_CODE_HTTP_STATUS`` table (400 / 404), which
clients use to tell "not this era" (404) from "bad request" (400). Authorization failures keep their own
status in both eras, because clients start OAuth from the 401/403 and its ``WWW-Authenticate``.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse

from authz.challenge import www_authenticate
from authz.errors import AuthzError, InsufficientScope, KeysUnavailable, MissingToken
from authz.models import Tenant
from cortex.mcp import jsonrpc
from cortex.mcp.errors import McpError
from cortex.mcp.versions import Era

CONTENT_TYPE = "application/json"
# When signing keys cannot be fetched: about one JWKS refetch cooldown.
KEYS_RETRY_AFTER_SECONDS = 30
# OpenAI Apps SDK: a tool error result whose _meta holds RFC 7235 challenges (string or list) starts OAuth.
WWW_AUTHENTICATE_META = "mcp/www_authenticate"


def json_response(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> HttpResponse:
    response = HttpResponse(body, status=status, content_type=CONTENT_TYPE)
    if headers:
        for name, value in headers.items():
            response[name] = value
    return response


def result(request_id: jsonrpc.RequestId | None, payload: dict[str, Any]) -> HttpResponse:
    return json_response(jsonrpc.result_body(request_id, payload))


def accepted() -> HttpResponse:
    """202 for notifications and client responses: no body, so no content type either."""
    response = HttpResponse(status=202)
    del response["Content-Type"]
    return response


def error(
    exc: AuthzError | McpError,
    *,
    tenant: Tenant | None,
    request_id: jsonrpc.RequestId | None = None,
    era: Era | None = None,
) -> HttpResponse:
    """The HTTP response for a refusal. ``era`` is set once dispatch has begun (see the table above)."""
    if isinstance(exc, AuthzError):
        return _authz_error(exc, tenant, request_id)
    status = exc.status
    if era is Era.LEGACY and status < 500:
        status = 200
    return json_response(
        jsonrpc.error_body(request_id, exc.code, exc.message, exc.data), status, dict(exc.headers) or None
    )


def _authz_error(exc: AuthzError, tenant: Tenant | None, request_id: jsonrpc.RequestId | None) -> HttpResponse:
    headers: dict[str, str] = {}
    if isinstance(exc, KeysUnavailable):
        headers["Retry-After"] = str(KEYS_RETRY_AFTER_SECONDS)
    elif exc.status < 500 and tenant is not None:
        headers["WWW-Authenticate"] = www_authenticate(tenant, exc)
    return json_response(jsonrpc.error_body(request_id, exc.jsonrpc_code, exc.description), exc.status, headers)


def challenge_result(tenant: Tenant, exc: MissingToken | InsufficientScope) -> dict[str, Any]:
    """The ``result`` challenge style (ChatGPT Apps): a tool error carrying the same challenge as the header."""
    return {
        "content": [{"type": "text", "text": exc.description}],
        "isError": True,
        "_meta": {WWW_AUTHENTICATE_META: [www_authenticate(tenant, exc)]},
    }
