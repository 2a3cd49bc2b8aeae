"""The endpoint's fixed sequence of checks (cortex.mcp.pipeline): tenant, origin, method, token, media types,
body size, JSON, envelope, era. Each refusal is checked for status, headers and its JSON-RPC error body, and
the order is checked by making two steps fail at once."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import jwt
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import Client, RequestFactory

from authz import devissuer
from authz.models import Scope, Tenant
from cortex.mcp import pipeline, tenants
from cortex.mcp.errors import BodyTooLarge
from tests.conftest import ALL_SCOPES, MODERN, McpClient, rpc

pytestmark = pytest.mark.django_db

PRM = "http://testserver/.well-known/oauth-protected-resource/mcp"
LIST = {"jsonrpc": "2.0", "id": 7, "method": "tools/list"}


def assert_error(response: Any, status: int, code: int, *, id: object = None) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = rpc(response)
    assert body["jsonrpc"] == "2.0"
    assert body["id"] == id
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert "Mcp-Session-Id" not in response
    return body["error"]


# ------------------------------------------------------------------------------------------------ routes


def test_default_tenant_serves_mcp(mcp: McpClient) -> None:
    response = mcp.post(LIST)
    assert response.status_code == 200
    assert rpc(response)["id"] == 7
    assert "Mcp-Session-Id" not in response


def test_tenant_path_serves_that_tenant(client: Client, make_tenant: Callable[..., Tenant], mint: Any) -> None:
    acme = make_tenant("acme")
    response = McpClient(client, "/t/acme/mcp", mint(acme)).post(LIST)
    assert response.status_code == 200
    assert len(rpc(response)["result"]["tools"]) == 5


def test_unknown_tenant_is_404(client: Client, tenant: Tenant, token: str) -> None:
    response = McpClient(client, "/t/nobody/mcp", token).post(LIST)
    assert_error(response, 404, -32600)


def test_missing_default_tenant_is_404(client: Client, db: None) -> None:
    Tenant.objects.filter(slug="default").delete()
    assert_error(McpClient(client).post(LIST), 404, -32600)


def test_a_token_for_one_tenant_is_refused_by_another(
    client: Client, make_tenant: Callable[..., Tenant], mint: Any, tenant: Tenant
) -> None:
    make_tenant("acme")
    response = McpClient(client, "/t/acme/mcp", mint(tenant)).post(LIST)
    assert_error(response, 401, -32001)
    assert response["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    assert "http://testserver/.well-known/oauth-protected-resource/t/acme/mcp" in response["WWW-Authenticate"]


# ------------------------------------------------------------------------------------------------ origin


@pytest.mark.parametrize(
    ("allowed", "origin", "ok"),
    [
        ("", "http://testserver", True),  # the resource's own origin
        ("", "http://TESTSERVER:80", True),  # normalized: case, default port
        ("", "https://testserver", False),  # another scheme is another origin
        ("", "http://evil.example", False),
        ("", "null", False),
        ("https://app.example", "https://app.example", True),
        ("https://app.example/", "https://app.example", True),
        ("https://app.example:443", "https://app.example", True),
        ("https://a.example, https://app.example", "https://app.example", True),
        ("https://app.example", "https://app.example:8443", False),
        ("https://app.example", "http://app.example", False),
    ],
)
def test_origin(mcp: McpClient, tenant: Tenant, allowed: str, origin: str, ok: bool) -> None:
    tenant.allowed_origins = allowed
    tenant.save()
    response = mcp.post(LIST, headers={"Origin": origin})
    if ok:
        assert response.status_code == 200
    else:
        assert_error(response, 403, -32600)


def test_no_origin_is_not_a_browser(mcp: McpClient) -> None:
    assert mcp.post(LIST).status_code == 200


def test_origin_is_checked_before_method_and_token(client: Client, tenant: Tenant) -> None:
    assert_error(client.get("/mcp", headers={"Origin": "http://evil.example"}), 403, -32600)
    assert_error(McpClient(client).post(LIST, headers={"Origin": "http://evil.example"}), 403, -32600)


# ------------------------------------------------------------------------------------------------ method


@pytest.mark.parametrize("method", ["get", "delete", "put", "patch", "options"])
def test_only_post(client: Client, tenant: Tenant, token: str, method: str) -> None:
    response = getattr(client, method)("/mcp", headers={"Authorization": f"Bearer {token}"})
    assert_error(response, 405, -32600)
    assert response["Allow"] == "POST"


def test_method_is_checked_before_token(client: Client, tenant: Tenant) -> None:
    response = client.get("/mcp", headers={"MCP-Protocol-Version": MODERN})
    assert_error(response, 405, -32600)
    assert "WWW-Authenticate" not in response


def test_tenant_route_also_refuses_get(client: Client, make_tenant: Callable[..., Tenant]) -> None:
    make_tenant("acme")
    assert client.get("/t/acme/mcp").status_code == 405


# ------------------------------------------------------------------------------------------------ token


def test_missing_token_gets_the_bare_challenge(client: Client, tenant: Tenant) -> None:
    response = McpClient(client).post(LIST)
    error = assert_error(response, 401, -32001)
    challenge = response["WWW-Authenticate"]
    scopes = " ".join(Scope.objects.filter(tenant=tenant).order_by("id").values_list("name", flat=True))
    assert sorted(scopes.split()) == sorted(ALL_SCOPES)
    assert challenge == f'Bearer resource_metadata="{PRM}", scope="{scopes}"'
    assert error["message"]


@pytest.mark.parametrize(
    ("authorization", "status", "error"),
    [
        ("Bearer not-a-jwt", 401, "invalid_token"),
        ("Bearer a.b.c", 401, "invalid_token"),
        ("Bearer a.b.c.d.e", 401, "invalid_token"),  # JWE / opaque
        ("Basic dXNlcjpwYXNz", 400, "invalid_request"),
        ("Bearer one two", 400, "invalid_request"),
        ("Bearer", 400, "invalid_request"),
    ],
)
def test_bad_credentials(client: Client, tenant: Tenant, authorization: str, status: int, error: str) -> None:
    response = McpClient(client).post(LIST, headers={"Authorization": authorization})
    assert_error(response, status, -32001 if status == 401 else -32600)
    challenge = response["WWW-Authenticate"]
    assert challenge.startswith(f'Bearer error="{error}", error_description="')
    assert f'resource_metadata="{PRM}"' in challenge


def test_expired_token_names_the_reason(client: Client, tenant: Tenant) -> None:
    """Signed by the development issuer's own key, so only the expiry is wrong."""
    kid, key = devissuer.signing_key()
    claims = {
        "iss": devissuer.issuer_for(tenant),
        "aud": tenant.effective_audience,
        "sub": "auth0|alice",
        "scope": "search.read",
        "iat": int(time.time()) - 3600,
        "exp": int(time.time()) - 600,
    }
    token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})
    response = McpClient(client, token=token).post(LIST)
    assert_error(response, 401, -32001)
    assert response["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    assert "expired" in response["WWW-Authenticate"].lower()


def test_token_is_checked_before_media_types_and_body(client: Client, tenant: Tenant) -> None:
    assert McpClient(client).post(LIST, content_type="text/plain").status_code == 401
    assert McpClient(client).post(None, raw=b"{not json").status_code == 401


@pytest.mark.parametrize("mode", [Tenant.AuthMode.OPTIONAL, Tenant.AuthMode.NONE])
def test_discovery_without_a_token(client: Client, tenant: Tenant, mode: str) -> None:
    tenant.auth_mode = mode
    tenant.save()
    response = McpClient(client).post(LIST)
    assert response.status_code == 200
    assert len(rpc(response)["result"]["tools"]) == 5


def test_optional_mode_still_verifies_a_presented_token(client: Client, tenant: Tenant) -> None:
    tenant.auth_mode = Tenant.AuthMode.OPTIONAL
    tenant.save()
    response = McpClient(client, token="a.b.c").post(LIST)
    assert_error(response, 401, -32001)
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


def test_none_mode_ignores_tokens_with_debug(client: Client, tenant: Tenant) -> None:
    tenant.auth_mode = Tenant.AuthMode.NONE
    tenant.save()
    assert McpClient(client, token="a.b.c").post(LIST).status_code == 200


def test_none_mode_is_oauth2_without_debug(client: Client, tenant: Tenant, settings: Any) -> None:
    tenant.auth_mode = Tenant.AuthMode.NONE
    tenant.save()
    settings.DEBUG = False
    response = McpClient(client).post(LIST)
    assert_error(response, 401, -32001)
    assert "error=" not in response["WWW-Authenticate"]


class _FailingJwks(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(500)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def failing_jwks() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _FailingJwks)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_unreachable_keys_are_503_with_retry_after(client: Client, tenant: Tenant, failing_jwks: str) -> None:
    tenant.use_dev_issuer = False
    tenant.issuer = failing_jwks + "/"
    tenant.jwks_uri = failing_jwks + "/jwks.json"
    tenant.save()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(
        {"iss": tenant.issuer, "aud": tenant.effective_audience, "sub": "x", "exp": 2_000_000_000},
        key,
        algorithm="RS256",
        headers={"kid": "k1"},
    )
    response = McpClient(client, token=token).post(LIST)
    assert_error(response, 503, -32603)
    assert response["Retry-After"] == "30"
    assert "WWW-Authenticate" not in response


# ------------------------------------------------------------------------------------------------ media types


@pytest.mark.parametrize(
    ("accept", "ok"),
    [
        ("application/json, text/event-stream", True),
        ("application/json", True),
        ("*/*", True),
        ("application/*", True),
        ("text/html, application/json;q=0.5", True),
        ("APPLICATION/JSON; charset=utf-8", True),
        ("text/event-stream", False),
        ("text/html", False),
        ("application/json;q=0", False),
    ],
)
def test_accept(mcp: McpClient, accept: str, ok: bool) -> None:
    response = mcp.post(LIST, headers={"Accept": accept})
    if ok:
        assert response.status_code == 200
    else:
        assert_error(response, 406, -32600)


def test_no_accept_header_means_anything(client: Client, tenant: Tenant, token: str) -> None:
    response = client.post(
        "/mcp", data=orjson.dumps(LIST), content_type="application/json", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("content_type", "ok"),
    [
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("Application/JSON", True),
        ("text/plain", False),
        ("application/x-www-form-urlencoded", False),
        ("", False),
    ],
)
def test_content_type(mcp: McpClient, content_type: str, ok: bool) -> None:
    response = mcp.post(LIST, content_type=content_type)
    if ok:
        assert response.status_code == 200
    else:
        assert_error(response, 415, -32600)


def test_accept_is_checked_before_content_type(mcp: McpClient) -> None:
    assert mcp.post(LIST, headers={"Accept": "text/html"}, content_type="text/plain").status_code == 406


# ------------------------------------------------------------------------------------------------ body


def test_body_over_the_limit_is_413(mcp: McpClient, settings: Any) -> None:
    settings.MCP_MAX_BODY_BYTES = 200
    small = mcp.post(LIST)
    assert small.status_code == 200
    big = {**LIST, "params": {"cursor": "x" * 300}}
    assert_error(mcp.post(big), 413, -32600)


def test_size_is_checked_before_json(mcp: McpClient, settings: Any) -> None:
    settings.MCP_MAX_BODY_BYTES = 10
    assert_error(mcp.post(None, raw=b"{" * 50), 413, -32600)


def test_undeclared_length_is_cut_at_the_limit(settings: Any) -> None:
    """A body without Content-Length (chunked, under ASGI) is refused by what was read."""
    settings.MCP_MAX_BODY_BYTES = 16
    request = RequestFactory().post("/mcp", data=b"", content_type="application/json")
    request.META.pop("CONTENT_LENGTH", None)
    request._stream = io.BytesIO(b"x" * 100)  # type: ignore[attr-defined]
    with pytest.raises(BodyTooLarge):
        pipeline.read_body(request)
    request = RequestFactory().post("/mcp", data=b"", content_type="application/json")
    request.META.pop("CONTENT_LENGTH", None)
    request._stream = io.BytesIO(b"x" * 16)  # type: ignore[attr-defined]
    assert pipeline.read_body(request) == b"x" * 16


# ------------------------------------------------------------------------------------------------ JSON


@pytest.mark.parametrize("raw", [b"{", b"not json", b"\xff\xfe", b'{"jsonrpc": "2.0",}'])
def test_parse_error(mcp: McpClient, raw: bytes) -> None:
    assert assert_error(mcp.post(None, raw=raw), 400, -32700)["message"] == "Parse error"


def test_batches_are_refused(mcp: McpClient) -> None:
    error = assert_error(mcp.post([LIST, {**LIST, "id": 8}]), 400, -32600)
    assert "Batch" in error["message"]


@pytest.mark.parametrize(
    "body",
    [
        "a string",
        42,
        {"id": 1, "method": "tools/list"},
        {"jsonrpc": "1.0", "id": 1, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 1},
        {"jsonrpc": "2.0", "id": 1, "method": 5},
        {"jsonrpc": "2.0", "id": 1, "method": ""},
        {"jsonrpc": "2.0", "id": None, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": True, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 1.5, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": [1], "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": [1, 2]},
    ],
)
def test_invalid_envelope(mcp: McpClient, body: object) -> None:
    assert_error(mcp.post(body), 400, -32600)


@pytest.mark.parametrize(
    "body",
    [
        {"jsonrpc": "2.0", "id": 3, "result": {}},
        {"jsonrpc": "2.0", "id": 3, "error": {"code": -1, "message": "no"}},
    ],
)
def test_a_client_response_is_acknowledged(mcp: McpClient, body: object) -> None:
    response = mcp.post(body)
    assert response.status_code == 202
    assert response.content == b""


# ------------------------------------------------------------------------------------------------ era


@pytest.mark.parametrize("version", ["2024-11-05", "2099-01-01", "2026-07-28x", "latest"])
def test_unsupported_version_header(mcp: McpClient, version: str) -> None:
    error = assert_error(mcp.post(LIST, headers={"MCP-Protocol-Version": version}), 400, -32022, id=7)
    assert error["data"] == {"supported": [MODERN, "2025-11-25", "2025-06-18", "2025-03-26"], "requested": version}


def test_unsupported_version_header_on_a_notification(mcp: McpClient) -> None:
    note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    error = assert_error(mcp.post(note, headers={"MCP-Protocol-Version": "2099-01-01"}), 400, -32022)
    assert error["data"]["requested"] == "2099-01-01"


def test_repeated_version_header(mcp: McpClient) -> None:
    response = mcp.post(LIST, headers={"MCP-Protocol-Version": f"{MODERN}, {MODERN}"})
    assert_error(response, 400, -32020, id=7)


@pytest.mark.parametrize("version", [None, "2025-03-26", "2025-06-18", "2025-11-25"])
def test_legacy_versions_route_to_the_legacy_era(mcp: McpClient, version: str | None) -> None:
    response = mcp.post(LIST, headers={"MCP-Protocol-Version": version} if version else None)
    assert response.status_code == 200
    assert "resultType" not in rpc(response)["result"]


# ------------------------------------------------------------------------------------------------ every refusal


def test_every_refusal_is_json_rpc(client: Client, tenant: Tenant, token: str, settings: Any) -> None:
    """One table of refusals: each a JSON-RPC error body, application/json, id null where unknown."""
    settings.MCP_MAX_BODY_BYTES = 100
    mcp = McpClient(client, token=token)
    cases = [
        (McpClient(client, "/t/ghost/mcp", token).post(LIST), 404),
        (mcp.post(LIST, headers={"Origin": "https://evil.example"}), 403),
        (client.delete("/mcp"), 405),
        (McpClient(client).post(LIST), 401),
        (mcp.post(LIST, headers={"Accept": "text/html"}), 406),
        (mcp.post(LIST, content_type="text/plain"), 415),
        (mcp.post({**LIST, "params": {"cursor": "x" * 200}}), 413),
        (mcp.post(None, raw=b"nope"), 400),
    ]
    for response, status in cases:
        assert response.status_code == status
        body = rpc(response)
        assert body["id"] is None and body["jsonrpc"] == "2.0" and "error" in body, (status, body)


def test_the_compiled_tenant_lookup_reads_the_row_as_the_orm_does(make_tenant: Callable[..., Tenant]) -> None:
    made = make_tenant("acme", allowed_origins="https://a.example", challenge_style="result", leeway_seconds=7)
    loaded = tenants.tenant_by_slug("acme")
    assert loaded is not None
    expected = Tenant.objects.get(slug="acme")
    for field in Tenant._meta.concrete_fields:
        assert getattr(loaded, field.attname) == getattr(expected, field.attname), field.name
    assert loaded.use_dev_issuer is True and made.pk == loaded.pk
    assert tenants.tenant_by_slug("ghost") is None
