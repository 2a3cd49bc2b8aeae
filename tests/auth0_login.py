"""The Auth0 stand-in (``tests.auth0_standin``) with what staff sign-in and the doctor also use, as Auth0
documents them:

- ``GET /authorize``: the authorization code flow with PKCE. Checks ``client_id``, an exact allowed
  ``redirect_uri``, ``response_type=code``, records ``code_challenge``/``code_challenge_method``/``nonce``,
  then (standing in for Universal Login, as an existing Auth0 session does) redirects back at once with
  ``code`` and ``state`` for the user in ``login_as``.
- ``POST /oauth/token`` ``grant_type=authorization_code``: client authentication (``client_secret_post`` or
  Basic), the code once, the same ``redirect_uri``, and the PKCE verifier (S256) when a challenge was sent;
  answers ``access_token`` (opaque: no audience was asked), ``id_token`` (RS256, ``iss``, ``aud`` = client id,
  ``nonce``, email claims, the role claim) and ``token_type``. Errors are ``invalid_grant`` etc. as Auth0's.
- ``GET /userinfo``: the user's claims for that access token.
- ``GET /oidc/logout``: RP-initiated logout; records the query, redirects to ``post_logout_redirect_uri``.
- ``GET /api/v2/tenants/settings``: the tenant settings (``resource_parameter_profile``, ``flags``), with
  ``read:tenant_settings``.
- Knobs for the troubleshooting rows: ``dcr`` (off: no ``registration_endpoint``), ``pkce_methods``,
  ``announced_issuer``; and for broken ID tokens ``id_token_overrides`` (e.g. another ``aud``/``iss``/``nonce``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest

from tests.auth0_standin import Auth0StandIn

ROLE_CLAIM = "https://cortex-mcp/roles"


class Auth0Login(Auth0StandIn):
    def __init__(self) -> None:
        super().__init__()
        self.publish("login-key")
        self.web_clients: dict[str, dict[str, Any]] = {}
        self.codes: dict[str, dict[str, Any]] = {}
        self.userinfo_tokens: dict[str, dict[str, Any]] = {}
        self.login_as: dict[str, Any] = {}
        self.authorize_requests: list[dict[str, str]] = []
        self.logouts: list[dict[str, str]] = []
        self.id_token_overrides: dict[str, Any] = {}
        self.dcr = True
        self.pkce_methods = ["S256", "plain"]
        self.announced_issuer: str | None = None
        self.tenant_settings: dict[str, Any] = {
            "resource_parameter_profile": "compatibility",
            "flags": {"enable_dynamic_client_registration": True},
        }

    # --- test controls --------------------------------------------------------------------------------------

    def add_web_client(self, client_id: str, secret: str, redirect_uris: list[str], logout_urls: list[str]) -> None:
        self.web_clients[client_id] = {"secret": secret, "redirect_uris": redirect_uris, "logout_urls": logout_urls}

    def user(self, email: str, *, verified: bool = True, roles: list[str] | None = None, sub: str = "") -> None:
        """Who signs in at /authorize next."""
        self.login_as = {
            "sub": sub or f"auth0|{hashlib.sha1(email.encode()).hexdigest()[:12]}",
            "email": email,
            "email_verified": verified,
            "name": email.partition("@")[0],
            ROLE_CLAIM: roles or [],
        }

    # --- routes -------------------------------------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        doc = super().discovery()
        if not self.dcr:
            doc.pop("registration_endpoint", None)
        doc["code_challenge_methods_supported"] = list(self.pkce_methods)
        doc["end_session_endpoint"] = f"{self.base}/oidc/logout"
        if self.announced_issuer is not None:
            doc["issuer"] = self.announced_issuer
        return doc

    def _route(self, h: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(h.path)
        query = {name: values[0] for name, values in parse_qs(parts.query).items()}
        if method == "GET" and parts.path == "/authorize":
            return self._authorize(h, query)
        if method == "GET" and parts.path == "/userinfo":
            return self._userinfo(h)
        if method == "GET" and parts.path == "/oidc/logout":
            self.logouts.append(query)
            target = query.get("post_logout_redirect_uri")
            client = self.web_clients.get(query.get("client_id", ""))
            if target and client and target in client["logout_urls"]:
                return self._redirect(h, target)
            return self._send(h, 200, {"logged_out": True})
        if method == "GET" and parts.path == "/api/v2/tenants/settings":
            return self._settings(h)
        return super()._route(h, method)

    def _redirect(self, h: BaseHTTPRequestHandler, location: str) -> None:
        h.send_response(302)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()

    def _authorize(self, h: BaseHTTPRequestHandler, query: dict[str, str]) -> None:
        self.authorize_requests.append(query)
        client = self.web_clients.get(query.get("client_id", ""))
        if client is None:
            return self._send(h, 400, {"error": "invalid_request", "error_description": "Unknown client"})
        if query.get("redirect_uri") not in client["redirect_uris"]:
            return self._send(h, 400, {"error": "invalid_request", "error_description": "Callback URL mismatch"})
        if query.get("response_type") != "code":
            return self._send(h, 400, {"error": "unsupported_response_type"})
        code = secrets.token_urlsafe(16)
        self.codes[code] = {**query, "user": dict(self.login_as)}
        self._redirect(h, f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query.get('state', '')})}")

    def _token(self, h: BaseHTTPRequestHandler, body: bytes) -> None:
        form = {name: values[0] for name, values in parse_qs(body.decode()).items()}
        if form.get("grant_type") != "authorization_code":
            return super()._token(h, body)
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        auth = h.headers.get("Authorization") or ""
        if auth.startswith("Basic "):
            client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        client = self.web_clients.get(client_id)
        if client is None or not secrets.compare_digest(client["secret"], secret):
            return self._send(h, 401, {"error": "access_denied", "error_description": "Unauthorized"})
        grant = self.codes.pop(form.get("code", ""), None)
        if grant is None or grant["client_id"] != client_id:
            return self._send(h, 403, {"error": "invalid_grant", "error_description": "Invalid authorization code"})
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return self._send(h, 403, {"error": "invalid_grant", "error_description": "Redirect URI mismatch"})
        challenge = grant.get("code_challenge")
        if challenge:
            verifier = form.get("code_verifier", "")
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if grant.get("code_challenge_method") != "S256" or digest != challenge:
                return self._send(h, 403, {"error": "invalid_grant", "error_description": "Failed PKCE verification"})
        user = grant["user"]
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": client_id,
            "iat": now,
            "exp": now + 36000,
            "nonce": grant.get("nonce"),
            **user,
            **self.id_token_overrides,
        }
        kid = self.published[0]
        id_token = jwt.encode(claims, self.keys[kid], algorithm="RS256", headers={"kid": kid})
        access_token = secrets.token_urlsafe(24)
        self.userinfo_tokens[access_token] = user
        answer = {"access_token": access_token, "id_token": id_token, "token_type": "Bearer", "expires_in": 86400}
        self._send(h, 200, answer)

    def _userinfo(self, h: BaseHTTPRequestHandler) -> None:
        auth = h.headers.get("Authorization") or ""
        user = self.userinfo_tokens.get(auth.removeprefix("Bearer ").strip())
        if user is None:
            return self._send(h, 401, {"error": "invalid_token"})
        self._send(h, 200, user)

    def _settings(self, h: BaseHTTPRequestHandler) -> None:
        auth = h.headers.get("Authorization") or ""
        grant = self.tokens.get(auth.removeprefix("Bearer ").strip())
        if grant is None:
            return self._mgmt_error(h, 401, "Unauthorized", "Invalid token", "invalid_token")
        if "read:tenant_settings" not in grant["scopes"]:
            return self._mgmt_error(
                h, 403, "Forbidden", "Insufficient scope, expected any of: read:tenant_settings", "insufficient_scope"
            )
        self._send(h, 200, json.loads(json.dumps(self.tenant_settings)))


@pytest.fixture
def auth0_login() -> Iterator[Auth0Login]:
    server = Auth0Login()
    yield server
    server.stop()
