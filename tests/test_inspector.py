"""The MCP Inspector's CLI mode (npm ``@modelcontextprotocol/inspector-cli``, pinned in interop/) against the server
started as a real process: it lists the tools and calls ``codebase.search`` with an ``Authorization`` header,
and without the header it is refused."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.live import ROOT, LiveServer

pytestmark = pytest.mark.e2e

CLI = ROOT / "interop" / "node_modules" / "@modelcontextprotocol" / "inspector-cli" / "build" / "cli.js"
SEED_TOOLS = ["codebase.search", "docs.create", "local_memory_delete", "local_memory_search", "local_memory_store"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    if not CLI.exists():
        pytest.fail("interop/node_modules is missing: run `make interop-install`")
    workdir = tmp_path_factory.mktemp("live-inspector")
    tree = workdir / "project"
    (tree / "pkg").mkdir(parents=True)
    (tree / "pkg" / "greeting.py").write_text("def hello():\n    return 'needle in a haystack'\n")
    live = LiveServer(workdir).start()
    live.manage("add_codebase", "demo", str(tree))
    try:
        yield live
    finally:
        live.stop()


def inspector(server: LiveServer, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    command = [shutil.which("node") or "node", str(CLI), "--cli", f"{server.url}/mcp", "--transport", "http", *args]
    if token is not None:
        command += ["--header", f"Authorization: Bearer {token}"]
    return subprocess.run(command, cwd=CLI.parent, capture_output=True, text=True, timeout=120)


def output(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_inspector_lists_tools_and_searches_with_a_bearer_token(server: LiveServer) -> None:
    token = server.manage("mint_token", "--tenant", "default", "--scope", "search.read", "--sub", "inspector").strip()
    listing = output(inspector(server, "--method", "tools/list", token=token))
    assert sorted(tool["name"] for tool in listing["tools"]) == SEED_TOOLS
    search = next(tool for tool in listing["tools"] if tool["name"] == "codebase.search")
    assert search["inputSchema"]["type"] == "object"

    found = output(
        inspector(
            server,
            "--method",
            "tools/call",
            "--tool-name",
            "codebase.search",
            "--tool-arg",
            "query=needle",
            token=token,
        )
    )
    assert found.get("isError") is not True
    matches = found["structuredContent"]["matches"]
    assert [(m["codebase"], m["path"], m["line"]) for m in matches] == [("demo", "pkg/greeting.py", 2)]


def test_inspector_without_a_token_is_refused(server: LiveServer) -> None:
    done = inspector(server, "--method", "tools/list")
    assert done.returncode != 0
    assert "Authorization required: send a bearer token" in done.stdout + done.stderr
