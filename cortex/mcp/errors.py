"""The MCP protocol's error tree: every reason this layer refuses a message, as one exception each.

Each class carries the JSON-RPC ``code``, the HTTP ``status`` it gets on the wire, a default message, and
optionally ``data`` (the JSON-RPC error's data member) and extra response ``headers`` (``Allow``). Authorization
failures are not here: they are ``authz.errors.AuthzError``. ``cortex.mcp.responses`` turns both trees into
HTTP responses, in one place; its module docstring has the full status table.

The statuses follow the MCP SDK's ``ERROR_CODE_HTTP_STATUS`` (-32700/-32600/-32602/-32020/-32022: 400,
-32601: 404). Transport-level refusals (403 origin, 404 tenant, 405, 406, 413, 415) use -32600 Invalid Request
as the Python SDK does, so the body is still a JSON-RPC error a client can show.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from cortex.mcp import versions


class McpError(Exception):
    code: int = -32603
    status: int = 500
    message: str = "Internal error"

    def __init__(
        self, message: str | None = None, *, data: Any = None, headers: Mapping[str, str] | None = None
    ) -> None:
        self.message = message or type(self).message
        self.data = data
        self.headers: Mapping[str, str] = headers or {}
        super().__init__(self.message)


class ParseError(McpError):
    code = -32700
    status = 400
    message = "Parse error"


class InvalidRequest(McpError):
    code = -32600
    status = 400
    message = "Invalid Request"


class MethodNotFound(McpError):
    """Unknown method: 404 in the modern era; the legacy era answers JSON-RPC errors with 200."""

    code = -32601
    status = 404
    message = "Method not found"

    def __init__(self, method: str) -> None:
        super().__init__(data=method)


class InvalidParams(McpError):
    code = -32602
    status = 400
    message = "Invalid params"


class InternalError(McpError):
    """An unexpected failure on our side. 500, not the SDK's 200, so monitoring counts it as an error."""


class HeaderMismatch(McpError):
    """A modern request's ``Mcp-*`` header disagrees with its body (clients re-list tools and retry once)."""

    code = -32020
    status = 400
    message = "Header does not match the request body"


class UnsupportedVersion(McpError):
    """The SDK's auto-negotiation reads ``data.supported`` and ``data.requested`` (both required)."""

    code = -32022
    status = 400
    message = "Unsupported protocol version"

    def __init__(self, requested: object, supported: tuple[str, ...] = versions.SUPPORTED_VERSIONS) -> None:
        super().__init__(data={"supported": list(supported), "requested": requested})


class ForbiddenHost(InvalidRequest):
    """DNS-rebinding protection: a Host header outside ``ALLOWED_HOSTS`` (400, as Django answers it)."""

    message = "Bad Request: Host not allowed"


class ForbiddenOrigin(InvalidRequest):
    """DNS-rebinding protection: a browser Origin that is neither allowed nor the resource's own."""

    status = 403
    message = "Forbidden: Origin not allowed"


class UnknownTenant(InvalidRequest):
    status = 404
    message = "Not Found: no such MCP endpoint"


class HttpMethodNotAllowed(InvalidRequest):
    """Stateless JSON-only server: no GET stream, no DELETE of a session (we never issue session ids)."""

    status = 405
    message = "Method Not Allowed: the MCP endpoint accepts POST only"

    def __init__(self) -> None:
        super().__init__(headers={"Allow": "POST"})


class NotAcceptable(InvalidRequest):
    status = 406
    message = "Not Acceptable: the client must accept application/json"


class UnsupportedMediaType(InvalidRequest):
    status = 415
    message = "Unsupported Media Type: Content-Type must be application/json"


class BodyTooLarge(InvalidRequest):
    status = 413
    message = "Payload Too Large"


class RateLimited(McpError):
    """Over the tenant's rate limit for this subject (``cortex.ratelimit``): 429 with ``Retry-After`` in whole
    seconds, also in ``data.retryAfter``. -32029 is ours (implementation-defined server error range)."""

    code = -32029
    status = 429
    message = "Too Many Requests"

    def __init__(self, retry_after: float, per_minute: int) -> None:
        seconds = max(1, math.ceil(retry_after))
        super().__init__(
            f"Too Many Requests: over the limit of {per_minute} requests per minute; retry after {seconds} s",
            data={"retryAfter": seconds},
            headers={"Retry-After": str(seconds)},
        )
