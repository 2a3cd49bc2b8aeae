"""An Auth0 stand-in for the tests: a real HTTP server on loopback that answers the way Auth0 documents.

What it serves, and the Auth0 documentation it follows:

- ``GET /.well-known/openid-configuration``: OIDC discovery. ``issuer`` ends with a slash (Auth0's ``iss``
  is ``https://TENANT.auth0.com/``), ``registration_endpoint`` (``/oidc/register``, Dynamic Client
  Registration), ``code_challenge_methods_supported`` ``["S256", "plain"]``, ``jwks_uri``, token and
  authorization endpoints.
- ``GET /.well-known/jwks.json``: the signing keys. Rotation is switchable (``publish``): Auth0's rotation
  publishes the *next* key beside the *current* one, then signs with the next and keeps the *previous* one
  published until it is revoked. ``jwks_mode`` makes it fail: ``down`` (503), ``garbage`` (200, not JSON).
- ``POST /oauth/token``: the client credentials grant (form or JSON body) for the Management API audience
  ``https://HOST/api/v2/``; answers ``{access_token, token_type: "Bearer", expires_in, scope}``. Unknown
  client or wrong secret: 401 ``{"error": "access_denied", "error_description": "Unauthorized"}``; a client
  without a client grant on that audience: 403 ``access_denied`` "Client is not authorized to access ...".
- ``GET /api/v2/resource-servers/{id or url-encoded identifier}`` and ``PATCH`` of the same (``scopes``
  replaces the whole list; ``identifier`` cannot be changed). Needs a bearer token from ``/oauth/token``
  with ``read:resource_servers`` (GET) or ``update:resource_servers`` (PATCH); otherwise 401 or
  403 "Insufficient scope, expected any of: ...". Errors are shaped ``{statusCode, error, message,
  errorCode}``, as the Management API's.
- Rate limits: ``throttle(n)`` makes the next ``n`` Management API calls answer 429 with
  ``x-ratelimit-limit``, ``x-ratelimit-remaining: 0`` and ``x-ratelimit-reset`` (epoch seconds), as Auth0
  does, plus ``Retry-After`` when asked.
- Counters for the tests: ``counts["jwks"]``, ``counts["token"]``, ``counts["GET rs"]``, ``counts["PATCH rs"]``,
  ``counts["429"]``, ``counts["discovery"]``.

Tokens for the protected MCP resource are minted here with the stand-in's own RSA keys (``mint``).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

MGMT_GRANTS = ("read:resource_servers", "update:resource_servers")
PATCHABLE = {
    "name", "scopes", "signing_alg", "signing_secret", "skip_consent_for_verifiable_first_party_clients",
    "allow_offline_access", "token_lifetime", "token_lifetime_for_web", "token_dialect", "enforce_policies",
    "consent_policy", "authorization_details", "proof_of_possession", "token_encryption",
}  # fmt: skip


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class Auth0StandIn:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.published: list[str] = []
        self.jwks_mode = "ok"  # ok | down | garbage
        self.clients: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, dict[str, Any]] = {}
        self.resource_servers: dict[str, dict[str, Any]] = {}
        self.throttled = 0
        self.throttle_retry_after: int | None = None
        self.patches: list[dict[str, Any]] = []
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                standin._route(self, "GET")

            def do_POST(self) -> None:
                standin._route(self, "POST")

            def do_PATCH(self) -> None:
                standin._route(self, "PATCH")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.host = f"127.0.0.1:{self.httpd.server_address[1]}"
        self.base = f"http://{self.host}"
        self.issuer = f"{self.base}/"
        self.jwks_uri = f"{self.base}/.well-known/jwks.json"
        self.mgmt_audience = f"https://{self.host}/api/v2/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    # --- test controls -------------------------------------------------------------------------------------

    def add_key(self, kid: str) -> None:
        self.keys.setdefault(kid, _key())

    def publish(self, *kids: str) -> None:
        """The kids the JWKS lists, in order (e.g. current, next; later next, previous)."""
        for kid in kids:
            self.add_key(kid)
        self.published = list(kids)

    def mint(self, kid: str, audience: str, subject: str = "auth0|alice", ttl: int = 600, **claims: Any) -> str:
        now = int(time.time())
        payload = {
            "iss": self.issuer,
            "sub": subject,
            "aud": [audience, f"{self.base}/userinfo"],
            "azp": "client-web",
            "iat": now,
            "exp": now + ttl,
            "scope": "openid",
            "permissions": ["search.read", "docs.write", "memory.read", "memory.write", "memory.delete"],
            **claims,
        }
        return jwt.encode(payload, self.keys[kid], algorithm="RS256", headers={"kid": kid})

    def add_client(self, client_id: str, secret: str, grants: tuple[str, ...] | None = MGMT_GRANTS) -> None:
        """An M2M application; ``grants`` None: no client grant on the Management API at all."""
        self.clients[client_id] = {"secret": secret, "grants": grants}

    def add_resource_server(self, identifier: str, scopes: list[dict[str, str]], name: str = "Cortex MCP") -> str:
        rs_id = secrets.token_hex(12)
        self.resource_servers[rs_id] = {
            "id": rs_id,
            "name": name,
            "is_system": False,
            "identifier": identifier,
            "scopes": scopes,
            "signing_alg": "RS256",
            "allow_offline_access": False,
            "skip_consent_for_verifiable_first_party_clients": True,
            "token_lifetime": 86400,
            "token_lifetime_for_web": 7200,
            "token_dialect": "access_token_authz",
            "enforce_policies": True,
        }
        return rs_id

    def throttle(self, count: int, retry_after: int | None = None) -> None:
        """The next ``count`` Management API calls get 429 (reset in one second)."""
        self.throttled = count
        self.throttle_retry_after = retry_after

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # --- the HTTP side -------------------------------------------------------------------------------------

    def _send(self, h: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json; charset=utf-8")
        h.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            h.send_header(name, value)
        h.end_headers()
        h.wfile.write(data)

    def _mgmt_error(self, h: BaseHTTPRequestHandler, status: int, error: str, message: str, code: str) -> None:
        self._send(h, status, {"statusCode": status, "error": error, "message": message, "errorCode": code})

    def _body(self, h: BaseHTTPRequestHandler) -> bytes:
        return h.rfile.read(int(h.headers.get("Content-Length") or 0))

    def _route(self, h: BaseHTTPRequestHandler, method: str) -> None:
        path = urlsplit(h.path).path
        body = self._body(h) if method in ("POST", "PATCH") else b""
        if method == "GET" and path == "/.well-known/openid-configuration":
            self.counts["discovery"] += 1
            return self._send(h, 200, self.discovery())
        if method == "GET" and path == "/.well-known/jwks.json":
            return self._jwks(h)
        if method == "POST" and path == "/oauth/token":
            return self._token(h, body)
        if path.startswith("/api/v2/resource-servers/"):
            return self._resource_server(h, method, path.removeprefix("/api/v2/resource-servers/"), body)
        self._send(h, 404, {"statusCode": 404, "error": "Not Found", "message": "Not Found"})

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.base}/authorize",
            "token_endpoint": f"{self.base}/oauth/token",
            "device_authorization_endpoint": f"{self.base}/oauth/device/code",
            "userinfo_endpoint": f"{self.base}/userinfo",
            "mfa_challenge_endpoint": f"{self.base}/mfa/challenge",
            "jwks_uri": self.jwks_uri,
            "registration_endpoint": f"{self.base}/oidc/register",
            "revocation_endpoint": f"{self.base}/oauth/revoke",
            "scopes_supported": ["openid", "profile", "offline_access", "name", "email", "email_verified"],
            "response_types_supported": ["code", "token", "id_token", "code token", "code id_token"],
            "code_challenge_methods_supported": ["S256", "plain"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["public"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
            "id_token_signing_alg_values_supported": ["HS256", "RS256", "PS256"],
            "request_uri_parameter_supported": False,
        }

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid in self.published:
            data = RSAAlgorithm.to_jwk(self.keys[kid].public_key(), as_dict=True)
            keys.append({**data, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": keys}

    def _jwks(self, h: BaseHTTPRequestHandler) -> None:
        with self.lock:
            self.counts["jwks"] += 1
        if self.jwks_mode == "down":
            return self._send(h, 503, b"<html>Service Unavailable</html>")
        if self.jwks_mode == "garbage":
            return self._send(h, 200, b"{not json")
        self._send(h, 200, self.jwks())

    def _token(self, h: BaseHTTPRequestHandler, body: bytes) -> None:
        with self.lock:
            self.counts["token"] += 1
        if "json" in (h.headers.get("Content-Type") or ""):
            form = json.loads(body or b"{}")
        else:
            form = {name: values[0] for name, values in parse_qs(body.decode()).items()}
        if form.get("grant_type") != "client_credentials":
            return self._send(h, 403, {"error": "unauthorized_client", "error_description": "Grant type not allowed"})
        client = self.clients.get(form.get("client_id", ""))
        if client is None or not secrets.compare_digest(client["secret"], form.get("client_secret", "")):
            return self._send(h, 401, {"error": "access_denied", "error_description": "Unauthorized"})
        audience = form.get("audience")
        if audience != self.mgmt_audience or client["grants"] is None:
            return self._send(
                h,
                403,
                {
                    "error": "access_denied",
                    "error_description": f'Client is not authorized to access "{audience}". You need to create a '
                    '"client-grant" associated to this API. See: '
                    "https://auth0.com/docs/api/v2#!/Client_Grants/post_client_grants",
                },
            )
        token = secrets.token_urlsafe(24)
        self.tokens[token] = {"scopes": set(client["grants"]), "client_id": form["client_id"]}
        self._send(
            h,
            200,
            {"access_token": token, "token_type": "Bearer", "expires_in": 86400, "scope": " ".join(client["grants"])},
        )

    def _resource_server(self, h: BaseHTTPRequestHandler, method: str, raw_id: str, body: bytes) -> None:
        with self.lock:
            self.counts[f"{method} rs"] += 1
            throttled = self.throttled > 0
            if throttled:
                self.throttled -= 1
                self.counts["429"] += 1
        if throttled:
            headers = {
                "x-ratelimit-limit": "50",
                "x-ratelimit-remaining": "0",
                "x-ratelimit-reset": str(int(time.time()) + 1),
            }
            if self.throttle_retry_after is not None:
                headers["Retry-After"] = str(self.throttle_retry_after)
            payload = {
                "statusCode": 429,
                "error": "Too Many Requests",
                "message": "Global limit has been reached",
                "errorCode": "too_many_requests",
            }
            return self._send(h, 429, payload, headers)
        auth = h.headers.get("Authorization") or ""
        grant = self.tokens.get(auth.removeprefix("Bearer ").strip()) if auth.startswith("Bearer ") else None
        if grant is None:
            return self._mgmt_error(h, 401, "Unauthorized", "Invalid token", "invalid_token")
        needed = "read:resource_servers" if method == "GET" else "update:resource_servers"
        if needed not in grant["scopes"]:
            return self._mgmt_error(
                h, 403, "Forbidden", f"Insufficient scope, expected any of: {needed}", "insufficient_scope"
            )
        wanted = unquote(raw_id)
        server = self.resource_servers.get(wanted) or next(
            (rs for rs in self.resource_servers.values() if rs["identifier"] == wanted), None
        )
        if server is None:
            return self._mgmt_error(
                h, 404, "Not Found", "The resource server does not exist", "inexistent_resource_server"
            )
        if method == "GET":
            return self._send(h, 200, server)
        if method != "PATCH":
            return self._mgmt_error(h, 405, "Method Not Allowed", "Method not allowed", "method_not_allowed")
        try:
            patch = json.loads(body)
        except ValueError:
            return self._mgmt_error(h, 400, "Bad Request", "Invalid request payload JSON format", "invalid_body")
        unknown = sorted(set(patch) - PATCHABLE)
        if unknown:
            return self._mgmt_error(
                h, 400, "Bad Request", f"Payload validation error: 'Additional properties not allowed: "
                f"{','.join(unknown)}'.", "invalid_body",
            )  # fmt: skip
        scopes = patch.get("scopes")
        if scopes is not None:
            values = [s.get("value") for s in scopes if isinstance(s, dict)]
            if len(values) != len(scopes) or not all(isinstance(v, str) and v for v in values):
                return self._mgmt_error(
                    h, 400, "Bad Request", "Payload validation error: 'Missing required property: value'.",
                    "invalid_body",
                )  # fmt: skip
            if len(set(values)) != len(values):
                return self._mgmt_error(h, 400, "Bad Request", "Duplicated scope values", "invalid_body")
        with self.lock:
            self.patches.append(patch)
            server.update(patch)
        self._send(h, 200, server)


@pytest.fixture
def standin() -> Iterator[Auth0StandIn]:
    standin = Auth0StandIn()
    yield standin
    standin.stop()
