"""The whole MCP authorization flow with software we did not write: the official MCP Python SDK client and its
OAuth client provider (``mcp.client.auth.OAuthClientProvider``) against our server (``LiveServer``, the
production command), whose default tenant trusts a real authorization server (npm ``oidc-provider``,
``tests/oidc_provider.py``).

Per protocol era (the SDK's ``auto`` mode, which settles on 2026-07-28, and ``legacy``): the first request
gets 401 -> the client reads the protected-resource metadata -> the authorization server's metadata ->
registers itself (RFC 7591) -> sends the user to authorize (PKCE S256, RFC 8707 ``resource``) -> the user
signs in and grants every scope but ``docs.write`` -> token -> ``tools/list`` -> ``codebase.search``. Then
``docs.create`` gets 403 ``insufficient_scope``; the client steps up (asks again, now for ``docs.write`` too),
the user grants it, and the retried call succeeds.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

from tests.live import LiveServer, free_port
from tests.oidc_provider import USER, OidcProvider

pytestmark = pytest.mark.e2e

SEED_TOOLS = ["codebase.search", "docs.create", "local_memory_delete", "local_memory_search", "local_memory_store"]


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    server = OidcProvider(tmp_path_factory.mktemp("oidc")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, provider: OidcProvider) -> Iterator[LiveServer]:
    workdir = tmp_path_factory.mktemp("live-oauth")
    tree = workdir / "project"
    (tree / "pkg").mkdir(parents=True)
    (tree / "pkg" / "greeting.py").write_text("def hello():\n    return 'needle in a haystack'\n")
    live = LiveServer(workdir, provider.tenant_env()).start()
    live.manage("add_codebase", "demo", str(tree))
    try:
        yield live
    finally:
        live.stop()


class MemoryStorage:
    """The SDK's ``TokenStorage``, in memory: one client registration and its tokens."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


def claims(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and payload of a JWT, unverified (our server verified it; this only reads what it holds)."""
    header, payload, _ = token.split(".")
    decode = lambda part: json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))  # noqa: E731
    return decode(header), decode(payload)


async def oauth_session(server: LiveServer, provider: OidcProvider, mode: str) -> dict[str, Any]:
    """One SDK client session doing the whole flow; what it saw, and every HTTP exchange in order."""
    seen: dict[str, Any] = {"exchanges": []}
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    storage = MemoryStorage()
    final_redirect: list[str] = []
    rounds = len(provider.consents)

    def grant(scope: str) -> bool:
        # The user declines docs.write the first time and accepts everything when asked again (step-up).
        return scope != "docs.write" or len(provider.consents) > rounds

    async def redirect_handler(url: str) -> None:
        query = parse_qs(urlsplit(url).query)
        seen.setdefault("authorize_requests", []).append({key: value[0] for key, value in query.items()})
        final_redirect.append(await provider.authorize(url, redirect_uri, grant))

    async def callback_handler() -> AuthorizationCodeResult:
        params = {key: value[0] for key, value in parse_qs(urlsplit(final_redirect[-1]).query).items()}
        return AuthorizationCodeResult(code=params["code"], state=params.get("state"), iss=params.get("iss"))

    auth = OAuthClientProvider(
        server_url=f"{server.url}/mcp",
        client_metadata=OAuthClientMetadata(
            client_name="cortex-interop-test",
            redirect_uris=[redirect_uri],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
    )

    async def record(response: httpx2.Response) -> None:
        request = response.request
        seen["exchanges"].append(
            (request.method, f"{request.url.host}:{request.url.port}{request.url.path}", response.status_code)
        )

    http = httpx2.AsyncClient(auth=auth, timeout=httpx2.Timeout(30.0), event_hooks={"response": [record]})
    async with http, Client(streamable_http_client(f"{server.url}/mcp", http_client=http), mode=mode) as client:
        seen["version"] = client.protocol_version
        seen["first_token"] = storage.tokens.access_token if storage.tokens else None
        listing = await client.list_tools()
        seen["tools"] = sorted(tool.name for tool in listing.tools)
        found = await client.call_tool("codebase.search", {"query": "needle"})
        seen["search"] = (found.is_error, found.structured_content)
        created = await client.call_tool("docs.create", {"title": "Plan", "body": "A body long enough."})
        seen["docs"] = (created.is_error, created.structured_content)
    seen["final_token"] = storage.tokens.access_token if storage.tokens else None
    seen["client_id"] = storage.client_info.client_id if storage.client_info else None
    return seen


def where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}"


@pytest.mark.parametrize(("mode", "version"), [("auto", "2026-07-28"), ("legacy", "2025-11-25")])
def test_sdk_oauth_client_does_the_whole_flow_and_steps_up(
    server: LiveServer, provider: OidcProvider, mode: str, version: str
) -> None:
    consents_before = len(provider.consents)
    seen = asyncio.run(oauth_session(server, provider, mode))
    rs, asrv = where(server.url), where(provider.issuer)

    assert seen["version"] == version
    assert seen["tools"] == SEED_TOOLS
    search_error, search = seen["search"]
    assert search_error is False
    assert [(m["codebase"], m["path"], m["line"]) for m in search["matches"]] == [("demo", "pkg/greeting.py", 2)]
    docs_error, document = seen["docs"]
    assert docs_error is False
    assert document["uri"].startswith("cortex://docs/")

    # The discovery and authorization sequence, as the client's HTTP client saw it.
    steps = [(method, path, status) for method, path, status in seen["exchanges"]]
    first_mcp = steps.index(("POST", f"{rs}/mcp", 401))
    assert steps[first_mcp + 1] == ("GET", f"{rs}/.well-known/oauth-protected-resource/mcp", 200)
    discovery = [step for step in steps if step[1].startswith(f"{asrv}/.well-known/")]
    assert discovery == [("GET", f"{asrv}/.well-known/oauth-authorization-server", 200)]  # RFC 8414, found first
    assert ("POST", f"{asrv}/reg", 201) in steps
    tokens = [i for i, step in enumerate(steps) if step[:2] == ("POST", f"{asrv}/token")]
    assert [steps[i][2] for i in tokens] == [200, 200]  # the first grant, then the step-up
    step_up = steps.index(("POST", f"{rs}/mcp", 403))
    assert tokens[0] < step_up < tokens[1]
    assert steps[tokens[1] + 1] == ("POST", f"{rs}/mcp", 200)  # the retried docs.create

    # What the user was asked, and what the client asked for (PKCE S256, RFC 8707 resource).
    assert len(provider.consents) == consents_before + 2
    first, second = provider.consents[-2:]
    assert "docs.write" not in first and {"search.read", "memory.read"} <= set(first)
    assert "docs.write" in second
    for request in seen["authorize_requests"]:
        assert request["code_challenge_method"] == "S256"
        assert request["resource"] == f"{server.url}/mcp"
    assert "docs.write" in seen["authorize_requests"][1]["scope"].split()

    # The tokens: RS256 JWTs for this resource, with the granted scopes.
    first_header, first_claims = claims(seen["first_token"])
    final_header, final_claims = claims(seen["final_token"])
    assert first_header["alg"] == final_header["alg"] == "RS256"
    for payload in (first_claims, final_claims):
        assert payload["iss"] == provider.issuer
        assert payload["aud"] == f"{server.url}/mcp"
        assert payload["sub"] == USER
        assert payload["client_id"] == seen["client_id"]
    assert "docs.write" not in first_claims["scope"].split()
    assert {"docs.write", "search.read", "memory.read"} <= set(final_claims["scope"].split())
