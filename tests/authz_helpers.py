"""Shared helpers for the authz tests: signing keys and tokens, a real loopback JWKS server, a test URLconf.

Nothing here replaces our own code: tokens are signed with PyJWT and real RSA/EC keys, the JWKS is served
over HTTP by ``http.server`` on 127.0.0.1, and the routes are ``authz.api.router`` in a NinjaAPI.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.urls import path
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from ninja import NinjaAPI

from authz.api import router
from authz.models import Tenant

ISSUER = "https://issuer.example/"
AUDIENCE = "https://api.example/mcp"
RESOURCE = "https://api.example/mcp"

# --- keys and tokens ---------------------------------------------------------------------------------------


@functools.cache
def rsa_key(name: str = "main") -> rsa.RSAPrivateKey:
    """An RSA key per name, made once per test run (generation costs tens of milliseconds)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@functools.cache
def ec_key(name: str = "main") -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_jwk(kid: str, key_name: str = "main", alg: str | None = "RS256", **extra: Any) -> dict[str, Any]:
    if alg and alg.startswith("ES"):
        data = ECAlgorithm.to_jwk(ec_key(key_name).public_key(), as_dict=True)
    else:
        data = RSAAlgorithm.to_jwk(rsa_key(key_name).public_key(), as_dict=True)
    data = {**data, "kid": kid, "use": "sig"}
    if alg:
        data["alg"] = alg
    return {**data, **extra}


def claims(**overrides: Any) -> dict[str, Any]:
    """Auth0-shaped access-token claims for the test tenant; ``None`` values are dropped."""
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "auth0|user-1",
        "aud": [AUDIENCE, "https://issuer.example/userinfo"],
        "azp": "client-abc",
        "iat": now,
        "exp": now + 600,
        "scope": "openid search.read",
        "permissions": ["search.read", "docs.write"],
    }
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not None}


def make_token(kid: str = "k1", key_name: str = "main", alg: str = "RS256", **overrides: Any) -> str:
    key = ec_key(key_name) if alg.startswith("ES") else rsa_key(key_name)
    return jwt.encode(claims(**overrides), key, algorithm=alg, headers={"kid": kid})


# --- a real JWKS endpoint on loopback ----------------------------------------------------------------------


class JwksServer:
    """Serves ``body`` (bytes) with ``status`` at any path; counts requests; ``stop()`` makes it dead."""

    def __init__(self) -> None:
        self.body = b'{"keys": []}'
        self.status = 200
        self.requests = 0
        self.delay = 0.0  # seconds before answering (a slow endpoint)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                time.sleep(server.delay)
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                self.wfile.write(server.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/.well-known/jwks.json"
        self.stopped = False
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def serve(self, *keys: dict[str, Any]) -> None:
        self.body = json.dumps({"keys": list(keys)}).encode()

    def stop(self) -> None:
        """Close the listening socket: the endpoint is dead (connection refused) from now on."""
        if self.stopped:
            return
        self.stopped = True
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    server = JwksServer()
    server.serve(public_jwk("k1"))
    yield server
    server.stop()


@pytest.fixture
def acme(db: None, jwks_server: JwksServer, fresh_caches: None) -> Tenant:
    """A tenant trusting ``ISSUER`` with its keys at the loopback JWKS server (``fresh_caches``: conftest)."""
    return Tenant.objects.create(
        slug="acme",
        name="Acme",
        issuer=ISSUER,
        authorization_server=ISSUER.rstrip("/"),
        audience=AUDIENCE,
        resource_url=RESOURCE,
        jwks_uri=jwks_server.url,
    )


# --- a URLconf with the authz routes (until and besides the lead's mount in cortex.api) --------------------

api = NinjaAPI(title="authz tests", urls_namespace="authz-tests", docs_url=None, openapi_url=None)
api.add_router("", router)
urlpatterns = [path("", api.urls)]
