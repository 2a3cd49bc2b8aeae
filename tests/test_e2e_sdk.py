"""End to end: the official MCP Python SDK client against the server started as a real process.

The client runs in its default mode (it probes ``server/discover`` and speaks 2026-07-28) and forced onto
the legacy handshake; in both it lists the tools, searches a registered codebase, and is refused
``docs.create`` with a token that lacks ``docs.write``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client

from tests.live import LiveServer

pytestmark = pytest.mark.e2e

SEED_TOOLS = ["codebase.search", "docs.create", "local_memory_delete", "local_memory_search", "local_memory_store"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    workdir = tmp_path_factory.mktemp("live")
    tree = workdir / "project"
    (tree / "pkg").mkdir(parents=True)
    (tree / "pkg" / "greeting.py").write_text("def hello():\n    return 'needle in a haystack'\n")
    (tree / "README.md").write_text("Nothing to see here.\n")
    live = LiveServer(workdir).start()
    live.manage("add_codebase", "demo", str(tree))
    try:
        yield live
    finally:
        live.stop()


def mint(server: LiveServer, scopes: str, sub: str = "user-e2e") -> str:
    return server.manage("mint_token", "--tenant", "default", "--scope", scopes, "--sub", sub).strip()


async def session_run(server: LiveServer, token: str, mode: str) -> dict[str, Any]:
    """Drive one client session and return what it saw."""
    seen: dict[str, Any] = {}
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=httpx2.Timeout(30.0))
    async with http, Client(streamable_http_client(f"{server.url}/mcp", http_client=http), mode=mode) as client:
        seen["version"] = client.protocol_version
        listing = await client.list_tools()
        seen["tools"] = sorted(tool.name for tool in listing.tools)
        found = await client.call_tool("codebase.search", {"query": "needle"})
        seen["search_error"] = found.is_error
        seen["search"] = found.structured_content
        try:
            await client.call_tool("docs.create", {"title": "Plan", "body": "A body long enough."})
        except MCPError as exc:
            seen["docs_error"] = (exc.code, exc.message)
    return seen


@pytest.mark.parametrize(("mode", "version"), [("auto", "2026-07-28"), ("legacy", "2025-11-25")])
def test_sdk_client_lists_searches_and_is_refused_docs_create(server: LiveServer, mode: str, version: str) -> None:
    token = mint(server, "search.read memory.read")
    seen = asyncio.run(session_run(server, token, mode))
    assert seen["version"] == version
    assert seen["tools"] == SEED_TOOLS
    assert seen["search_error"] is False
    matches = seen["search"]["matches"]
    assert [(m["codebase"], m["path"], m["line"]) for m in matches] == [("demo", "pkg/greeting.py", 2)]
    assert seen["docs_error"][1] == "Unauthorized: scope docs.write required"


def test_sdk_client_can_create_a_document_with_docs_write(server: LiveServer) -> None:
    token = mint(server, "docs.write")

    async def create() -> Any:
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"})
        async with http, Client(streamable_http_client(f"{server.url}/mcp", http_client=http)) as client:
            return await client.call_tool("docs.create", {"title": "Plan", "body": "A body long enough."})

    result = asyncio.run(create())
    assert result.is_error is False
    assert result.structured_content["uri"].startswith("cortex://docs/")


def test_no_token_gets_401_with_resource_metadata(server: LiveServer) -> None:
    reply = httpx.post(
        f"{server.url}/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"Accept": "application/json, text/event-stream"},
    )
    assert reply.status_code == 401
    challenge = reply.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    assert f'resource_metadata="{server.url}/.well-known/oauth-protected-resource/mcp"' in challenge
    assert "error=" not in challenge
    assert reply.json()["error"]["code"] == -32001


def test_metadata_served_at_root_and_path_inserted(server: LiveServer) -> None:
    root = httpx.get(f"{server.url}/.well-known/oauth-protected-resource").json()
    inserted = httpx.get(f"{server.url}/.well-known/oauth-protected-resource/mcp").json()
    assert root == inserted
    assert root["resource"] == f"{server.url}/mcp"
    assert sorted(root["scopes"]) == SEED_TOOLS
