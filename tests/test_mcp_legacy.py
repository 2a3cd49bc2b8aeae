"""The legacy handshake era (MCP-Protocol-Version absent, 2025-03-26, 2025-06-18 or 2025-11-25): results are
checked against the SDK's own 2025-11-25 wire models, which its client validates them with."""

from __future__ import annotations

from typing import Any

import pytest
from mcp_types import _v2025_11_25 as wire

from cortex.mcp import versions
from tests.conftest import SEED_TOOLS, McpClient, ok, rpc

pytestmark = pytest.mark.django_db


def error(response: Any, code: int, id: object = 1) -> dict[str, Any]:
    """Legacy dispatch errors are answered with HTTP 200, as the SDK's legacy transport does."""
    assert response.status_code == 200, response.content
    body = rpc(response)
    assert body["id"] == id
    assert body["error"]["code"] == code
    return body["error"]


INIT = {"capabilities": {}, "clientInfo": {"name": "mcp", "version": "0.1.0"}}


@pytest.mark.parametrize(
    ("requested", "answered"),
    [
        ("2025-11-25", "2025-11-25"),
        ("2025-06-18", "2025-06-18"),
        ("2025-03-26", "2025-03-26"),
        ("2024-11-05", "2025-11-25"),
        ("2026-07-28", "2025-11-25"),
        ("2099-01-01", "2025-11-25"),
        (None, "2025-11-25"),
    ],
)
def test_initialize_negotiates(mcp: McpClient, requested: str | None, answered: str) -> None:
    params = {**INIT, "protocolVersion": requested} if requested else INIT
    result = ok(mcp.legacy("initialize", params))
    wire.InitializeResult.model_validate(result)
    assert result == {
        "protocolVersion": answered,
        "capabilities": {"tools": {"listChanged": False}},
        "serverInfo": {"name": "cortex-mcp", "version": versions.SERVER_VERSION},
        "instructions": versions.INSTRUCTIONS,
    }


def test_the_whole_handshake_as_the_sdk_sends_it(mcp: McpClient) -> None:
    result = ok(mcp.legacy("initialize", {**INIT, "protocolVersion": "2025-11-25"}))
    header = {"MCP-Protocol-Version": result["protocolVersion"]}
    note = mcp.post({"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=header)
    assert note.status_code == 202 and note.content == b""
    assert "Mcp-Session-Id" not in note
    listed = ok(mcp.legacy("tools/list", id=2, headers=header), id=2)
    wire.ListToolsResult.model_validate(listed)
    assert [tool["name"] for tool in listed["tools"]] == SEED_TOOLS
    called = ok(mcp.legacy("tools/call", {"name": "local_memory_store", "arguments": {"content": "hi"}}, id=3), id=3)
    wire.CallToolResult.model_validate(called)
    assert called["isError"] is False
    assert isinstance(called["structuredContent"], dict)
    assert "resultType" not in called


def test_tools_list_needs_no_initialize_and_has_no_modern_keys(mcp: McpClient) -> None:
    result = ok(mcp.legacy("tools/list"))
    assert set(result) == {"tools"}
    for tool in result["tools"]:
        assert tool["securitySchemes"] == tool["_meta"]["securitySchemes"]
        assert tool["securitySchemes"][0]["type"] == "oauth2"


def test_a_cursor_is_ignored(mcp: McpClient) -> None:
    assert len(ok(mcp.legacy("tools/list", {"cursor": "abc"}))["tools"]) == 5


@pytest.mark.parametrize("id", [1, 0, -5, "abc", "", 2**53])
def test_ping_echoes_the_id(mcp: McpClient, id: object) -> None:
    assert ok(mcp.legacy("ping", id=id), id=id) == {}


@pytest.mark.parametrize("method", ["notifications/initialized", "notifications/cancelled", "notifications/unknown"])
def test_notifications_are_accepted(mcp: McpClient, method: str) -> None:
    response = mcp.post({"jsonrpc": "2.0", "method": method, "params": {"requestId": 1}})
    assert response.status_code == 202
    assert response.content == b""


def test_server_discover_is_not_a_legacy_method(mcp: McpClient) -> None:
    """What makes the SDK client's auto mode fall back to initialize."""
    assert error(mcp.legacy("server/discover"), -32601)["data"] == "server/discover"


@pytest.mark.parametrize("method", ["resources/list", "prompts/list", "completion/complete", "tools/list/extra"])
def test_unknown_method(mcp: McpClient, method: str) -> None:
    assert error(mcp.legacy(method), -32601) == {"code": -32601, "message": "Method not found", "data": method}


def test_unknown_tool(mcp: McpClient) -> None:
    assert error(mcp.legacy("tools/call", {"name": "nope", "arguments": {}}), -32602)["message"] == "Unknown tool: nope"


@pytest.mark.parametrize("params", [None, {}, {"name": ""}, {"name": 5}, {"arguments": {}}])
def test_tools_call_needs_a_name(mcp: McpClient, params: dict[str, Any] | None) -> None:
    error(mcp.legacy("tools/call", params), -32602)


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({}, "content"),
        ({"content": ""}, "content"),
        ({"content": "x", "importance": 11}, "importance"),
        ([1, 2], "object"),
    ],
)
def test_arguments_failing_the_schema_are_a_tool_error(mcp: McpClient, arguments: object, field: str) -> None:
    result = ok(mcp.legacy("tools/call", {"name": "local_memory_store", "arguments": arguments}))
    wire.CallToolResult.model_validate(result)
    assert result["isError"] is True
    assert field in result["content"][0]["text"]


@pytest.mark.parametrize(
    "params", [{"name": "local_memory_search"}, {"name": "local_memory_search", "arguments": None}]
)
def test_missing_arguments_mean_an_empty_object(mcp: McpClient, params: dict[str, Any]) -> None:
    result = ok(mcp.legacy("tools/call", params))
    assert result["isError"] is True
    assert "'query' is a required property" in result["content"][0]["text"]


@pytest.mark.parametrize("version", ["2025-03-26", "2025-06-18", "2025-11-25"])
def test_every_legacy_version_header_is_served(mcp: McpClient, version: str) -> None:
    result = ok(mcp.legacy("tools/list", headers={"MCP-Protocol-Version": version}))
    assert len(result["tools"]) == 5


def test_modern_envelope_without_the_header_is_served_legacy_style(mcp: McpClient) -> None:
    """Routing is by header only, as in the SDK: a body's _meta does not make a request modern."""
    from tests.conftest import envelope

    result = ok(mcp.legacy("tools/list", {"_meta": envelope()}))
    assert "resultType" not in result
