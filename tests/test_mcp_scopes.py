"""Per-tool scopes on tools/call, in both challenge styles and both eras: ``http`` (MCP step-up: 403 with
``WWW-Authenticate``) and ``result`` (ChatGPT Apps: a tool error carrying ``_meta["mcp/www_authenticate"]``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from mcp_types import _v2025_11_25 as wire_legacy
from mcp_types import _v2026_07_28 as wire_modern

from authz.models import Scope, Tenant
from tests.conftest import McpClient, rpc
from tools.models import Tool

pytestmark = pytest.mark.django_db

PRM = "http://testserver/.well-known/oauth-protected-resource/mcp"
DOC = {"name": "docs.create", "arguments": {"title": "Plan", "body": "A body long enough."}}
STEP_UP = (
    f'Bearer error="insufficient_scope", scope="docs.write", resource_metadata="{PRM}", '
    'error_description="Unauthorized: scope docs.write required"'
)


def call(mcp: McpClient, era: str, params: dict[str, Any], **kwargs: Any) -> Any:
    if era == "modern":
        return mcp.modern("tools/call", params, **kwargs)
    return mcp.legacy("tools/call", params, **kwargs)


@pytest.fixture
def reader(client: Client, tenant: Tenant, mint: Callable[..., str]) -> McpClient:
    """A token holding every seed scope except docs.write."""
    return McpClient(client, "/mcp", mint(tenant, ["search.read", "memory.read", "memory.write", "memory.delete"]))


@pytest.mark.parametrize("era", ["legacy", "modern"])
def test_http_style_is_a_403_step_up_challenge(reader: McpClient, era: str) -> None:
    response = call(reader, era, DOC, id=9)
    assert response.status_code == 403
    assert response["WWW-Authenticate"] == STEP_UP
    assert rpc(response) == {
        "jsonrpc": "2.0",
        "id": 9,
        "error": {"code": -32003, "message": "Unauthorized: scope docs.write required"},
    }


@pytest.mark.parametrize("era", ["legacy", "modern"])
def test_result_style_is_a_tool_error_with_the_challenge(reader: McpClient, tenant: Tenant, era: str) -> None:
    tenant.challenge_style = Tenant.ChallengeStyle.RESULT
    tenant.save()
    response = call(reader, era, DOC, id=9)
    assert response.status_code == 200
    assert "WWW-Authenticate" not in response
    body = rpc(response)
    assert body["id"] == 9
    expected = {
        "content": [{"type": "text", "text": "Unauthorized: scope docs.write required"}],
        "isError": True,
        "_meta": {"mcp/www_authenticate": [STEP_UP]},
    }
    if era == "modern":
        expected["resultType"] = "complete"
        wire_modern.CallToolResult.model_validate(body["result"])
    else:
        wire_legacy.CallToolResult.model_validate(body["result"])
    assert body["result"] == expected


@pytest.mark.parametrize("era", ["legacy", "modern"])
def test_the_scope_lets_the_call_through(mcp: McpClient, era: str) -> None:
    response = call(mcp, era, DOC)
    assert response.status_code == 200
    assert rpc(response)["result"]["isError"] is False


def test_the_challenge_asks_for_every_scope_the_call_needs(reader: McpClient, tenant: Tenant) -> None:
    """An admin added memory.read to docs.create: the token has it, so only docs.write is missing, but the
    challenge's scope names all the tool needs (what the client must ask consent for)."""
    Tool.objects.get(tenant=tenant, name="docs.create").scopes.add(Scope.objects.get(tenant=tenant, name="memory.read"))
    response = call(reader, "legacy", DOC)
    assert response.status_code == 403
    assert response["WWW-Authenticate"].startswith('Bearer error="insufficient_scope", scope="docs.write memory.read"')
    assert 'error_description="Unauthorized: scope docs.write required"' in response["WWW-Authenticate"]


def test_a_tool_without_scopes_needs_only_a_token(reader: McpClient, tenant: Tenant) -> None:
    Tool.objects.get(tenant=tenant, name="docs.create").scopes.clear()
    assert rpc(call(reader, "legacy", DOC))["result"]["isError"] is False


# ------------------------------------------------------------------------------------------- optional mode


@pytest.fixture
def anonymous(client: Client, tenant: Tenant) -> McpClient:
    tenant.auth_mode = Tenant.AuthMode.OPTIONAL
    tenant.save()
    return McpClient(client, "/mcp")


def bare_challenge(tenant: Tenant) -> str:
    scopes = " ".join(Scope.objects.filter(tenant=tenant).order_by("id").values_list("name", flat=True))
    return f'Bearer resource_metadata="{PRM}", scope="{scopes}"'


@pytest.mark.parametrize("era", ["legacy", "modern"])
def test_optional_mode_oauth_tool_without_token_http(anonymous: McpClient, tenant: Tenant, era: str) -> None:
    response = call(anonymous, era, DOC)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == bare_challenge(tenant)
    assert rpc(response)["error"]["code"] == -32001
    assert rpc(response)["id"] == 1


@pytest.mark.parametrize("era", ["legacy", "modern"])
def test_optional_mode_oauth_tool_without_token_result(anonymous: McpClient, tenant: Tenant, era: str) -> None:
    tenant.challenge_style = Tenant.ChallengeStyle.RESULT
    tenant.save()
    response = call(anonymous, era, DOC)
    assert response.status_code == 200
    result = rpc(response)["result"]
    assert result["isError"] is True
    assert result["_meta"] == {"mcp/www_authenticate": [bare_challenge(tenant)]}
    assert result["content"][0]["text"] == "Authorization required: send a bearer token"


def test_optional_mode_noauth_tool_runs_without_token(anonymous: McpClient, tenant: Tenant) -> None:
    tool = Tool.objects.get(tenant=tenant, name="codebase.search")
    tool.noauth = True
    tool.save()
    response = call(anonymous, "modern", {"name": "codebase.search", "arguments": {"query": "x"}})
    assert response.status_code == 200
    assert rpc(response)["result"]["isError"] is False


def test_optional_mode_with_a_token_still_checks_scopes(reader: McpClient, tenant: Tenant) -> None:
    tenant.auth_mode = Tenant.AuthMode.OPTIONAL
    tenant.save()
    response = call(reader, "modern", DOC)
    assert response.status_code == 403
    assert response["WWW-Authenticate"] == STEP_UP
