"""The modern era (MCP-Protocol-Version 2026-07-28): the request envelope and header checks in the SDK's
order, and results checked against the SDK's 2026-07-28 wire models, which its client validates them with."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from mcp_types import _v2026_07_28 as wire

from cortex.mcp import versions
from tests.conftest import MODERN, SEED_TOOLS, McpClient, envelope, rpc
from tests.conftest import ok as conftest_ok

pytestmark = pytest.mark.django_db


def ok(response: Any, id: object = 1) -> dict[str, Any]:
    """A successful reply of the modern era: every result carries ``resultType``."""
    result = conftest_ok(response, id)
    assert result["resultType"] == "complete"
    return result


def error(response: Any, status: int, code: int, id: object = 1) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = rpc(response)
    assert body["id"] == id
    assert body["error"]["code"] == code
    return body["error"]


def test_discover(mcp: McpClient) -> None:
    result = ok(mcp.modern("server/discover"))
    wire.DiscoverResult.model_validate(result)
    assert result == {
        "supportedVersions": [MODERN, "2025-11-25", "2025-06-18", "2025-03-26"],
        "capabilities": {"tools": {"listChanged": False}},
        "instructions": versions.INSTRUCTIONS,
        "resultType": "complete",
        "ttlMs": 3_600_000,
        "cacheScope": "public",
        "_meta": {"io.modelcontextprotocol/serverInfo": {"name": "cortex-mcp", "version": versions.SERVER_VERSION}},
    }


def test_tools_list(mcp: McpClient) -> None:
    result = ok(mcp.modern("tools/list"))
    wire.ListToolsResult.model_validate(result)
    assert [tool["name"] for tool in result["tools"]] == SEED_TOOLS
    assert result["ttlMs"] == 0
    assert result["cacheScope"] == "public"


def test_tools_list_is_the_same_whatever_the_token_holds(mcp: McpClient, tenant: Any, mint: Any) -> None:
    """Why cacheScope is public: the list depends on the tenant, not on the caller's scopes."""
    full = ok(mcp.modern("tools/list"))
    narrow = ok(mcp.modern("tools/list", token=mint(tenant, ["search.read"], subject="auth0|bob")))
    assert full == narrow


def test_tools_call(mcp: McpClient) -> None:
    result = ok(mcp.modern("tools/call", {"name": "local_memory_store", "arguments": {"content": "remember"}}))
    wire.CallToolResult.model_validate(result)
    assert result["isError"] is False
    assert result["structuredContent"]["tags"] == []


def test_tool_error_is_a_complete_result(mcp: McpClient) -> None:
    result = ok(mcp.modern("tools/call", {"name": "local_memory_store", "arguments": {"content": 5}}))
    wire.CallToolResult.model_validate(result)
    assert result["isError"] is True
    assert "content" in result["content"][0]["text"]


@pytest.mark.parametrize("method", ["ping", "initialize", "resources/list", "prompts/list", "nope"])
def test_methods_outside_the_2026_surface(mcp: McpClient, method: str) -> None:
    assert error(mcp.modern(method), 404, -32601) == {"code": -32601, "message": "Method not found", "data": method}


def test_unknown_tool(mcp: McpClient) -> None:
    response = mcp.modern("tools/call", {"name": "nope", "arguments": {}})
    assert error(response, 400, -32602)["message"] == "Unknown tool: nope"


def test_tools_call_without_a_name(mcp: McpClient) -> None:
    """No name can match the Mcp-Name header, so the header check (which comes first) refuses it."""
    error(mcp.modern("tools/call", {"arguments": {}}, name=""), 400, -32020)


def test_notifications_are_accepted(mcp: McpClient) -> None:
    response = mcp.post(
        {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}},
        headers={"MCP-Protocol-Version": MODERN, "Mcp-Method": "notifications/cancelled"},
    )
    assert response.status_code == 202
    assert response.content == b""


# ------------------------------------------------------------------------------------------- the envelope


@pytest.mark.parametrize(
    ("meta", "names"),
    [
        (None, "missing or not an object"),
        ("text", "missing or not an object"),
        ({}, "io.modelcontextprotocol/protocolVersion, io.modelcontextprotocol/clientCapabilities"),
        ({"io.modelcontextprotocol/protocolVersion": MODERN}, "io.modelcontextprotocol/clientCapabilities"),
        ({"io.modelcontextprotocol/clientCapabilities": {}}, "io.modelcontextprotocol/protocolVersion"),
    ],
)
def test_envelope_keys_are_required(mcp: McpClient, meta: object, names: str) -> None:
    params: dict[str, Any] = {"_meta": meta} if meta is not None else {"_meta": None}
    response = mcp.post(
        {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": params},
        headers={"MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/list"},
    )
    assert names in error(response, 400, -32602)["message"]


def test_client_info_is_optional(mcp: McpClient) -> None:
    meta = envelope()
    del meta["io.modelcontextprotocol/clientInfo"]
    ok(mcp.modern("tools/list", {"_meta": meta}))


def test_other_meta_keys_pass(mcp: McpClient) -> None:
    ok(mcp.modern("tools/list", {"_meta": envelope(progressToken="p1")}))


def test_no_params_at_all(mcp: McpClient) -> None:
    response = mcp.post(
        {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/list"},
    )
    error(response, 400, -32602)


# ------------------------------------------------------------------------------------------- the headers


CALL = {"name": "local_memory_search", "arguments": {"query": "x"}}


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"Mcp-Method": None}, "mcp-method header does not match"),
        ({"Mcp-Method": "tools/list"}, "mcp-method header does not match"),
        ({"Mcp-Method": "tools/call, tools/call"}, "mcp-method header appears more than once"),
        ({"Mcp-Name": None}, "mcp-name header does not match"),
        ({"Mcp-Name": "local_memory_store"}, "mcp-name header does not match"),
        ({"Mcp-Name": "=?base64?bm9wZQ==?="}, "mcp-name header does not match"),
        ({"Mcp-Name": "=?base64?!!!?="}, "mcp-name header does not match"),
    ],
)
def test_headers_must_match_the_body(mcp: McpClient, headers: dict[str, Any], message: str) -> None:
    response = mcp.modern("tools/call", CALL, headers=headers)
    got = error(response, 400, -32020)
    assert got["message"].startswith(message)
    assert "data" not in got


def test_envelope_version_must_match_the_header(mcp: McpClient) -> None:
    response = mcp.modern("tools/list", {"_meta": envelope("2025-11-25")})
    assert error(response, 400, -32020)["message"].startswith("mcp-protocol-version header does not match")


def test_version_is_checked_before_the_method_header(mcp: McpClient) -> None:
    response = mcp.modern("tools/list", {"_meta": envelope("2099-01-01")}, headers={"Mcp-Method": "other"})
    assert "mcp-protocol-version" in error(response, 400, -32020)["message"]


def test_base64_name_header_is_decoded(mcp: McpClient) -> None:
    encoded = "=?base64?" + base64.b64encode(b"local_memory_search").decode() + "?="
    ok(mcp.modern("tools/call", CALL, name=encoded))


def test_name_header_is_not_needed_for_other_methods(mcp: McpClient) -> None:
    ok(mcp.modern("tools/list", headers={"Mcp-Name": "anything"}))


def test_unsupported_version_header_lists_what_we_speak(mcp: McpClient) -> None:
    response = mcp.modern("tools/list", headers={"MCP-Protocol-Version": "2099-01-01"})
    assert error(response, 400, -32022)["data"] == {
        "supported": [MODERN, "2025-11-25", "2025-06-18", "2025-03-26"],
        "requested": "2099-01-01",
    }
