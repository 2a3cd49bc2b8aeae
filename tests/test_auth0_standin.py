"""The Auth0 stand-in answers in Auth0's documented shapes (so tests against it mean something)."""

from __future__ import annotations

import time
from urllib.parse import quote

import httpx
import jwt
import pytest

from tests import auth0_standin
from tests.auth0_standin import Auth0StandIn

standin = auth0_standin.standin  # fixture


def mgmt_token(standin: Auth0StandIn, client_id: str = "m2m", secret: str = "s3cret") -> httpx.Response:
    return httpx.post(
        f"{standin.base}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            "audience": standin.mgmt_audience,
        },
    )


def test_discovery_has_the_fields_mcp_clients_read(standin: Auth0StandIn) -> None:
    doc = httpx.get(f"{standin.base}/.well-known/openid-configuration").json()
    assert doc["issuer"] == standin.issuer and doc["issuer"].endswith("/")
    assert doc["registration_endpoint"] == f"{standin.base}/oidc/register"
    assert "S256" in doc["code_challenge_methods_supported"]
    assert doc["jwks_uri"] == standin.jwks_uri
    assert standin.counts["discovery"] == 1


def test_jwks_rotation_states_and_failures(standin: Auth0StandIn) -> None:
    standin.publish("current", "next")
    assert [k["kid"] for k in httpx.get(standin.jwks_uri).json()["keys"]] == ["current", "next"]
    standin.publish("next", "current")
    keys = httpx.get(standin.jwks_uri).json()["keys"]
    assert [k["kid"] for k in keys] == ["next", "current"]
    assert {k["kty"] for k in keys} == {"RSA"} and {k["use"] for k in keys} == {"sig"}
    token = standin.mint("next", "https://api.example/mcp")
    key = jwt.PyJWK(keys[0]).key
    assert jwt.decode(token, key, algorithms=["RS256"], audience="https://api.example/mcp")["iss"] == standin.issuer
    standin.jwks_mode = "down"
    assert httpx.get(standin.jwks_uri).status_code == 503
    standin.jwks_mode = "garbage"
    response = httpx.get(standin.jwks_uri)
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()
    assert standin.counts["jwks"] == 4


@pytest.mark.parametrize(
    ("client_id", "secret", "grants", "status", "error"),
    [
        ("m2m", "s3cret", ("read:resource_servers",), 200, None),
        ("m2m", "wrong", ("read:resource_servers",), 401, "access_denied"),
        ("nobody", "s3cret", ("read:resource_servers",), 401, "access_denied"),
        ("m2m", "s3cret", None, 403, "access_denied"),
    ],
)
def test_token_endpoint(
    standin: Auth0StandIn, client_id: str, secret: str, grants: tuple[str, ...] | None, status: int, error: str | None
) -> None:
    standin.add_client("m2m", "s3cret", grants)
    response = mgmt_token(standin, client_id, secret)
    assert response.status_code == status
    body = response.json()
    if error is None:
        assert body["token_type"] == "Bearer" and body["expires_in"] > 0 and body["access_token"]
    else:
        assert body["error"] == error and body["error_description"]
    if status == 403:
        assert "client-grant" in body["error_description"]


def test_resource_server_get_patch_by_id_or_identifier(standin: Auth0StandIn) -> None:
    standin.add_client("m2m", "s3cret")
    rs_id = standin.add_resource_server("https://api.example/mcp", [{"value": "a", "description": "A"}])
    headers = {"Authorization": f"Bearer {mgmt_token(standin).json()['access_token']}"}
    by_identifier = httpx.get(
        f"{standin.base}/api/v2/resource-servers/{quote('https://api.example/mcp', safe='')}", headers=headers
    )
    assert by_identifier.status_code == 200 and by_identifier.json()["id"] == rs_id
    patched = httpx.patch(
        f"{standin.base}/api/v2/resource-servers/{rs_id}", headers=headers, json={"scopes": [{"value": "b"}]}
    )
    assert patched.json()["scopes"] == [{"value": "b"}]  # PATCH replaces the list
    bad = httpx.patch(f"{standin.base}/api/v2/resource-servers/{rs_id}", headers=headers, json={"identifier": "x"})
    assert bad.status_code == 400
    assert set(bad.json()) == {"statusCode", "error", "message", "errorCode"}
    missing = httpx.get(f"{standin.base}/api/v2/resource-servers/nope", headers=headers)
    assert missing.status_code == 404 and missing.json()["errorCode"] == "inexistent_resource_server"


@pytest.mark.parametrize(
    ("grants", "method", "status"),
    [
        (("update:resource_servers",), "GET", 403),
        (("read:resource_servers",), "PATCH", 403),
        (("read:resource_servers",), "GET", 200),
    ],
)
def test_resource_server_needs_the_grant(
    standin: Auth0StandIn, grants: tuple[str, ...], method: str, status: int
) -> None:
    standin.add_client("m2m", "s3cret", grants)
    rs_id = standin.add_resource_server("https://api.example/mcp", [])
    headers = {"Authorization": f"Bearer {mgmt_token(standin).json()['access_token']}"}
    response = httpx.request(method, f"{standin.base}/api/v2/resource-servers/{rs_id}", headers=headers, json={})
    assert response.status_code == status
    if status == 403:
        assert response.json()["errorCode"] == "insufficient_scope"
    assert httpx.get(f"{standin.base}/api/v2/resource-servers/{rs_id}").status_code == 401


def test_429_with_ratelimit_headers(standin: Auth0StandIn) -> None:
    standin.add_client("m2m", "s3cret")
    rs_id = standin.add_resource_server("https://api.example/mcp", [])
    headers = {"Authorization": f"Bearer {mgmt_token(standin).json()['access_token']}"}
    standin.throttle(1, retry_after=2)
    limited = httpx.get(f"{standin.base}/api/v2/resource-servers/{rs_id}", headers=headers)
    assert limited.status_code == 429 and limited.json()["statusCode"] == 429
    assert limited.headers["x-ratelimit-remaining"] == "0" and limited.headers["retry-after"] == "2"
    assert int(limited.headers["x-ratelimit-reset"]) >= int(time.time())
    assert httpx.get(f"{standin.base}/api/v2/resource-servers/{rs_id}", headers=headers).status_code == 200
    assert standin.counts["429"] == 1 and standin.counts["GET rs"] == 2
