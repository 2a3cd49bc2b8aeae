"""authz.verifier: the Authorization header, and every reason a bearer token is refused, step by step."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from pytest_django.fixtures import Settings as SettingsWrapper

from authz import devissuer, errors, jwks, verifier
from authz.models import Tenant
from tests import authz_helpers
from tests.authz_helpers import AUDIENCE, ISSUER, JwksServer, claims, make_token, public_jwk, rsa_key

acme, jwks_server = authz_helpers.acme, authz_helpers.jwks_server  # fixtures

# --- the Authorization header ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("Bearer abc.def.ghi", "abc.def.ghi"),
        ("bearer abc.def.ghi", "abc.def.ghi"),
        ("BEARER abc-_~+/.x==", "abc-_~+/.x=="),
        ("Bearer   abc", "abc"),
    ],
)
def test_bearer_token_accepts(header: str | None, expected: str | None) -> None:
    assert verifier.bearer_token(header) == expected


@pytest.mark.parametrize(
    ("header", "fragment"),
    [
        ("Basic dXNlcjpwYXNz", "scheme 'Basic' is not supported"),
        ("abc.def.ghi", "scheme 'abc.def.ghi' is not supported"),
        ("Bearer", "no token"),
        ("Bearer ", "no token"),
        ("Bearer abc def", "more than one credential"),
        ("Bearer abc,def", "outside the RFC 6750 token syntax"),
        ('Bearer "abc"', "outside the RFC 6750 token syntax"),
        ("Bearer a=b", "outside the RFC 6750 token syntax"),
    ],
)
def test_bearer_token_rejects(header: str, fragment: str) -> None:
    with pytest.raises(errors.InvalidRequest) as caught:
        verifier.bearer_token(header)
    assert fragment in caught.value.description
    assert caught.value.status == 400


# --- tokens ------------------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}.{_b64(signature)}"


def _hs256_with_public_key() -> str:
    """The classic confusion attack: HMAC-sign with the RSA public key (which is public) as the secret."""
    secret = (
        rsa_key().public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode())
    body = _b64(json.dumps(claims()).encode())
    signature = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(signature)}"


def _tampered() -> str:
    head, _, signature = make_token().split(".")
    forged = _b64(json.dumps(claims(permissions=["search.read", "docs.write", "memory.delete"])).encode())
    return f"{head}.{forged}.{signature}"


NOW = int(time.time())

TOKEN_CASES: list[tuple[str, Any, type[errors.AuthzError], str]] = [
    ("expired", lambda: make_token(exp=NOW - 3600), errors.TokenExpired, "token expired at "),
    ("nbf in the future", lambda: make_token(nbf=NOW + 3600), errors.TokenNotYetValid, "token not valid before "),
    ("iat in the future", lambda: make_token(iat=NOW + 3600), errors.TokenNotYetValid, "issued in the future"),
    (
        "issuer without trailing slash",
        lambda: make_token(iss="https://issuer.example"),
        errors.IssuerMismatch,
        "issuer mismatch: expected 'https://issuer.example/', got 'https://issuer.example'",
    ),
    (
        "issuer of another tenant",
        lambda: make_token(iss="https://evil.example/"),
        errors.IssuerMismatch,
        "expected 'https://issuer.example/', got 'https://evil.example/'",
    ),
    ("no issuer", lambda: make_token(iss=None), errors.IssuerMismatch, "got no iss claim"),
    (
        "audience mismatch",
        lambda: make_token(aud="https://other.example/api"),
        errors.AudienceMismatch,
        "audience mismatch: expected 'https://api.example/mcp', got 'https://other.example/api'",
    ),
    (
        "audience list without ours",
        lambda: make_token(aud=["https://issuer.example/userinfo"]),
        errors.AudienceMismatch,
        "got ['https://issuer.example/userinfo']",
    ),
    ("no audience", lambda: make_token(aud=None), errors.AudienceMismatch, "got no aud claim"),
    (
        "unknown kid",
        lambda: make_token(kid="rotated-away"),
        errors.UnknownSigningKey,
        "unknown signing key kid=rotated-away",
    ),
    (
        "alg none",
        lambda: _unsigned({"alg": "none", "kid": "k1"}, claims()),
        errors.AlgorithmNotAllowed,
        "algorithm none not allowed; expected RS256",
    ),
    (
        "HS256 with the public key as secret",
        _hs256_with_public_key,
        errors.AlgorithmNotAllowed,
        "algorithm HS256 not allowed; expected RS256",
    ),
    ("RS512 not allowed", lambda: make_token(alg="RS512"), errors.AlgorithmNotAllowed, "algorithm RS512 not allowed"),
    ("ES256 not allowed", lambda: make_token(alg="ES256"), errors.AlgorithmNotAllowed, "algorithm ES256 not allowed"),
    ("tampered payload", _tampered, errors.InvalidSignature, "invalid signature (kid=k1, RS256)"),
    ("signed by another key", lambda: make_token(key_name="attacker"), errors.InvalidSignature, "invalid signature"),
    ("JWE", lambda: "eyJhbGciOiJkaXIifQ..iv.ciphertext.tag", errors.EncryptedToken, "encrypted (JWE) token"),
    ("opaque", lambda: "8mDn3XG2a9Lq0opaqueAuth0", errors.EncryptedToken, "Auth0 issues opaque access tokens"),
    ("garbage", lambda: "abc.def.ghi", errors.MalformedToken, "header is not base64url-encoded JSON"),
    ("two segments", lambda: "abc.def", errors.MalformedToken, "has 2"),
    ("header not an object", lambda: f"{_b64(b'[1]')}.e30.", errors.MalformedToken, "header is not a JSON object"),
    ("too large", lambda: "a" * 9000, errors.MalformedToken, "larger than the 8192 byte limit"),
    ("no kid", lambda: _unsigned({"alg": "RS256"}, claims()), errors.MalformedToken, "header has no kid"),
    (
        "critical header",
        lambda: _unsigned({"alg": "RS256", "kid": "k1", "crit": ["b64"]}, claims()),
        errors.MalformedToken,
        "unsupported critical header",
    ),
    ("missing sub", lambda: make_token(sub=None), errors.MissingClaim, "token has no sub claim"),
    ("missing exp", lambda: make_token(exp=None), errors.MissingClaim, "token has no exp claim"),
    ("exp not a number", lambda: make_token(exp="tomorrow"), errors.MalformedToken, "exp claim is not a NumericDate"),
]


@pytest.mark.parametrize(
    ("make", "error", "fragment"), [case[1:] for case in TOKEN_CASES], ids=[c[0] for c in TOKEN_CASES]
)
def test_refused_tokens(acme: Tenant, make: Any, error: type[errors.AuthzError], fragment: str) -> None:
    with pytest.raises(errors.AuthzError) as caught:
        verifier.verify_token(acme, make())
    assert type(caught.value) is error, caught.value.description
    assert fragment in caught.value.description
    assert caught.value.status == 401


def test_expired_message_names_both_times(acme: Tenant) -> None:
    with pytest.raises(errors.TokenExpired) as caught:
        verifier.verify_token(acme, make_token(exp=1_700_000_000))
    assert caught.value.description.startswith("token expired at 2023-11-14T22:13:20Z (now 20")


def test_valid_auth0_token(acme: Tenant) -> None:
    principal = verifier.verify_token(acme, make_token())
    assert principal.subject == "auth0|user-1"
    assert principal.client_id == "client-abc"
    assert principal.scopes == {"openid", "search.read", "docs.write"}
    assert principal.claims["iss"] == ISSUER


@pytest.mark.parametrize(
    ("overrides", "scope_claims", "expected"),
    [
        ({"scope": "a b", "permissions": ["c"], "scp": ["d", "a"]}, "scope scp permissions", {"a", "b", "c", "d"}),
        ({"scope": None, "permissions": ["docs.write"]}, "scope scp permissions", {"docs.write"}),
        ({"scope": "a  b", "permissions": None}, "scope", {"a", "b"}),
        ({"scope": "a", "permissions": ["c"]}, "permissions", {"c"}),
        ({"scope": None, "permissions": None, "scp": "x y"}, "scope scp permissions", {"x", "y"}),
        ({"scope": 5, "permissions": [1, "ok", None]}, "scope scp permissions", {"ok"}),
    ],
)
def test_scopes_are_the_union_of_the_configured_claims(
    acme: Tenant, overrides: dict[str, Any], scope_claims: str, expected: set[str]
) -> None:
    acme.scope_claims = scope_claims
    assert verifier.verify_token(acme, make_token(**overrides)).scopes == expected


@pytest.mark.parametrize(
    ("overrides", "client_id"),
    [({}, "client-abc"), ({"azp": None, "client_id": "m2m-client"}, "m2m-client"), ({"azp": None}, "")],
)
def test_client_id(acme: Tenant, overrides: dict[str, Any], client_id: str) -> None:
    assert verifier.verify_token(acme, make_token(**overrides)).client_id == client_id


def test_audience_as_a_string_and_the_resource_url_default(acme: Tenant) -> None:
    assert verifier.verify_token(acme, make_token(aud=AUDIENCE)).subject == "auth0|user-1"
    acme.audience = ""
    acme.resource_url = "https://elsewhere.example/mcp"
    with pytest.raises(errors.AudienceMismatch, match=r"expected 'https://elsewhere\.example/mcp'"):
        verifier.verify_token(acme, make_token(aud=AUDIENCE))


def test_leeway_applies_to_exp_and_nbf(acme: Tenant) -> None:
    now = int(time.time())
    assert verifier.verify_token(acme, make_token(exp=now - 30, nbf=now + 30)).subject
    acme.leeway_seconds = 0
    with pytest.raises(errors.TokenExpired):
        verifier.verify_token(acme, make_token(exp=now - 30))


def test_hmac_stays_refused_even_when_configured(acme: Tenant) -> None:
    acme.algorithms = "RS256 HS256 none"
    with pytest.raises(errors.AlgorithmNotAllowed, match=r"algorithm HS256 not allowed; expected RS256$"):
        verifier.verify_token(acme, _hs256_with_public_key())


def test_other_allowed_algorithms_verify(acme: Tenant, jwks_server: JwksServer) -> None:
    jwks_server.serve(public_jwk("k1"), public_jwk("ec1", alg="ES256"), public_jwk("r512", alg=None))
    acme.algorithms = "RS256 RS512 ES256"
    assert verifier.verify_token(acme, make_token(kid="ec1", alg="ES256")).subject
    assert verifier.verify_token(acme, make_token(kid="r512", alg="RS512")).subject
    with pytest.raises(errors.AlgorithmNotAllowed, match="does not match signing key kid=k1"):
        verifier.verify_token(acme, make_token(kid="k1", alg="RS512"))  # the JWK says RS256
    with pytest.raises(errors.AlgorithmNotAllowed, match="does not match signing key kid=ec1"):
        verifier.verify_token(acme, make_token(kid="ec1", alg="RS256"))


@pytest.mark.django_db
def test_tenant_without_issuer(fresh_caches: None) -> None:
    tenant = Tenant.objects.create(slug="bare", name="Bare", resource_url="https://x.example/mcp")
    with pytest.raises(errors.IssuerNotConfigured, match="tenant bare trusts no issuer"):
        verifier.verify_token(tenant, make_token())


@pytest.mark.django_db
def test_dev_issuer_only_with_debug(settings: SettingsWrapper, fresh_caches: None) -> None:
    settings.DEBUG = True
    tenant = Tenant.objects.create(
        slug="dev", name="Dev", resource_url="http://127.0.0.1:8000/t/dev/mcp", use_dev_issuer=True
    )
    token = devissuer.mint(tenant, ["search.read"], "dev-user", 60)
    principal = verifier.verify_token(tenant, token)
    assert (principal.subject, principal.client_id, principal.scopes) == ("dev-user", "cortex-dev", {"search.read"})
    settings.DEBUG = False
    with pytest.raises(errors.IssuerNotConfigured, match="refused when DEBUG is off"):
        verifier.verify_token(tenant, token)


# --- the cache of verified tokens ----------------------------------------------------------------------------


def test_cached_token_rechecks_exp(acme: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    acme.leeway_seconds = 0
    token = make_token(exp=int(time.time()) + 5)
    first = verifier.verify_token(acme, token)
    assert verifier.verify_token(acme, token) is first  # the remembered principal
    later = time.time() + 60
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(errors.TokenExpired):
        verifier.verify_token(acme, token)


def test_cache_is_keyed_on_tenant_settings(acme: Tenant) -> None:
    token = make_token()
    verifier.verify_token(acme, token)
    acme.audience = "https://another.example/api"
    with pytest.raises(errors.AudienceMismatch):
        verifier.verify_token(acme, token)
    acme.audience, acme.issuer = AUDIENCE, "https://issuer.example"
    with pytest.raises(errors.IssuerMismatch):
        verifier.verify_token(acme, token)


def test_removed_key_stops_verifying_after_refresh(acme: Tenant, jwks_server: JwksServer) -> None:
    token = make_token()
    verifier.verify_token(acme, token)
    jwks_server.serve(public_jwk("k2", key_name="next"))
    assert jwks.refresh(acme)["kids"] == ["k2"]
    with pytest.raises(errors.UnknownSigningKey, match="kid=k1"):
        verifier.verify_token(acme, token)


def test_cache_hits_are_fast(acme: Tenant) -> None:
    token = make_token()
    verifier.verify_token(acme, token)
    started = time.perf_counter()
    for _ in range(5000):
        verifier.verify_token(acme, token)
    assert time.perf_counter() - started < 1.0  # ~5 µs each; a full RS256 check is ~50 µs plus parsing
