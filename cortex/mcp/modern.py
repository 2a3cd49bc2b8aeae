"""The modern era's (2026-07-28) request checks, run before dispatch, in the SDK's order
(``mcp.shared.inbound.classify_inbound_request``): the ``params._meta`` envelope, then each ``Mcp-*`` header
against the body, then the envelope's version. The first failure wins.

``Mcp-Param-*`` headers (tool arguments annotated ``x-mcp-header``) are not checked: no tool of ours
annotates its schema that way, so a client never sends them.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

from cortex.mcp import versions
from cortex.mcp.errors import HeaderMismatch, InvalidParams, UnsupportedVersion
from cortex.mcp.jsonrpc import Message

# Methods whose target is named in the Mcp-Name header, and the param that must match it.
NAME_PARAMS = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}


def decode_header_value(value: str) -> str | None:
    """Undo the SDK's ``=?base64?<utf-8 bytes>?=`` sentinel for non-ASCII or space-padded values."""
    if value.startswith("=?base64?") and value.endswith("?="):
        try:
            return base64.b64decode(value[9:-2], validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
    return value


def check(meta: Mapping[str, str], message: Message) -> None:
    """Raise the error for the first rule ``message`` (with request headers ``meta``) breaks."""
    envelope = message.params.get("_meta")
    if not isinstance(envelope, dict):
        raise InvalidParams("params._meta is missing or not an object (the 2026-07-28 request envelope)")
    missing = [key for key in versions.REQUIRED_ENVELOPE_KEYS if key not in envelope]
    if missing:
        raise InvalidParams("params._meta is missing the required envelope key(s): " + ", ".join(missing))

    method_header = meta.get("HTTP_MCP_METHOD")
    if method_header is not None and "," in method_header:
        raise HeaderMismatch("mcp-method header appears more than once")
    requested = envelope[versions.META_PROTOCOL_VERSION]
    if meta.get("HTTP_MCP_PROTOCOL_VERSION") != requested:
        raise HeaderMismatch("mcp-protocol-version header does not match the request envelope's protocol version")
    if method_header != message.method:
        raise HeaderMismatch("mcp-method header does not match the request body's method")
    param = NAME_PARAMS.get(message.method)
    if param is not None:
        name_header = meta.get("HTTP_MCP_NAME")
        if name_header is None or decode_header_value(name_header) != message.params.get(param):
            raise HeaderMismatch(f"mcp-name header does not match the request body's {param!r} parameter")

    if not isinstance(requested, str):
        raise InvalidParams(f"params._meta[{versions.META_PROTOCOL_VERSION!r}] must be a string")
    if requested not in versions.MODERN_VERSIONS:
        raise UnsupportedVersion(requested, versions.MODERN_VERSIONS)
