"""Where the token is checked: the ``Authorization`` header, then the bearer token, one named step at a time.

``verify_token`` runs a fixed sequence (as PyJWT's ``_validate_exp``/``_validate_aud``/...): each step raises
its own ``authz.errors`` class with a description an operator can act on (expected vs got), which becomes
the challenge's ``error_description``. Order: issuer configured → size → shape (JWE/opaque/malformed) →
header → algorithm allowlist → signing key → signature → ``exp`` → ``nbf``/``iat`` → ``iss`` → ``aud`` →
``sub``. Signatures are checked with PyJWT's algorithm implementations and keys from ``authz.jwks``.

Verified tokens are remembered per process (bounded), keyed on the tenant's verification settings, the
JWKS fingerprint and a hash of the token, so a repeat request costs a hash and a dict lookup; ``exp`` is
re-checked on every hit, and a refreshed JWKS (a key removed) changes the fingerprint and so the key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from jwt.algorithms import get_default_algorithms

from authz import devissuer, jwks
from authz.errors import (
    AlgorithmNotAllowed,
    AudienceMismatch,
    EncryptedToken,
    InvalidRequest,
    InvalidSignature,
    IssuerMismatch,
    IssuerNotConfigured,
    MalformedToken,
    MissingClaim,
    TokenExpired,
    TokenNotYetValid,
)
from authz.models import Tenant
from authz.principal import Principal

MAX_TOKEN_BYTES = 8 * 1024
CACHE_SIZE = 4096
# RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_ALGORITHMS = {name: impl for name, impl in get_default_algorithms().items() if name in jwks.KEY_TYPES}

_verified: dict[tuple[Any, ...], Principal] = {}
_verified_lock = threading.Lock()


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (RFC 6750 section 2.1).

    ``None`` when the header is absent or blank (the client gets the bare discovery challenge). A header
    that is present but not exactly one Bearer credential raises ``InvalidRequest`` (HTTP 400) naming why.
    """
    if authorization is None or not authorization.strip():
        return None
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise InvalidRequest(f"Authorization scheme {scheme[:20]!r} is not supported; send 'Bearer <access token>'")
    credentials = credentials.strip(" ")
    if not credentials:
        raise InvalidRequest("Authorization header has the Bearer scheme but no token")
    if len(credentials.split()) > 1:
        raise InvalidRequest("Authorization header has more than one credential; send exactly one bearer token")
    if not _B64TOKEN.fullmatch(credentials):
        raise InvalidRequest("bearer token has characters outside the RFC 6750 token syntax")
    return credentials


def verify_token(tenant: Tenant, token: str) -> Principal:
    """The principal a bearer token speaks for, or the ``InvalidToken`` subclass naming why it cannot be
    trusted (``KeysUnavailable`` when the signing keys cannot be had at all)."""
    issuer = _step_issuer_configured(tenant)
    _step_size(token)
    segments = _step_shape(token)
    fingerprint = jwks.fingerprint(tenant)
    cache_key = _cache_key(tenant, issuer, fingerprint, token)
    principal = _verified.get(cache_key)
    if principal is not None:
        _step_exp({"exp": principal.expires_at}, tenant.leeway_seconds, time.time())
        return principal

    header = _step_header(segments[0])
    alg = _step_algorithm(tenant, header)
    key = _step_key(tenant, header, alg)
    _step_signature(segments, alg, key)
    claims = _step_payload(segments[1])
    now = time.time()
    _step_exp(claims, tenant.leeway_seconds, now)
    _step_not_before(claims, tenant.leeway_seconds, now)
    _step_iss(claims, issuer)
    _step_aud(claims, tenant.effective_audience)
    subject = _step_sub(claims)
    principal = Principal(
        subject=subject,
        client_id=_client_id(claims),
        scopes=scopes_of(claims, tenant.scope_claim_list),
        expires_at=int(claims["exp"]),
        claims=claims,
    )
    _remember(_cache_key(tenant, issuer, key.fingerprint, token), principal)
    return principal


# --- the steps, in order ---------------------------------------------------------------------------------


def _step_issuer_configured(tenant: Tenant) -> str:
    if tenant.use_dev_issuer:
        if not settings.DEBUG:
            raise IssuerNotConfigured(
                f"tenant {tenant.slug} trusts the development issuer, which is refused when DEBUG is off; "
                "set AUTH0_DOMAIN (or AUTH_ISSUER)"
            )
        return devissuer.issuer_for(tenant)
    if not tenant.issuer:
        raise IssuerNotConfigured(
            f"tenant {tenant.slug} trusts no issuer yet: set AUTH0_DOMAIN or AUTH_ISSUER (or the tenant's issuer)"
        )
    return tenant.issuer


def _step_size(token: str) -> None:
    if len(token) > MAX_TOKEN_BYTES:
        raise MalformedToken(f"token is {len(token)} bytes, larger than the {MAX_TOKEN_BYTES} byte limit")


def _step_shape(token: str) -> list[str]:
    segments = token.split(".")
    if len(segments) == 5:
        raise EncryptedToken(
            "encrypted (JWE) token: this server needs a signed JWT access token; "
            "request an access token for the API audience (Auth0: pass audience=<API Identifier>)"
        )
    if len(segments) == 1:
        raise EncryptedToken(
            "opaque token: not a JWT. Auth0 issues opaque access tokens when no audience is requested; "
            "request an access token for the API audience (audience=<API Identifier>)"
        )
    if len(segments) != 3 or not all(segments[:2]):
        raise MalformedToken(f"malformed token: a JWT has 3 dot-separated segments, this one has {len(segments)}")
    return segments


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _json_segment(segment: str, name: str) -> dict[str, Any]:
    try:
        value = json.loads(_b64decode(segment))
    except (binascii.Error, ValueError, RecursionError) as exc:
        raise MalformedToken(f"malformed token: the {name} is not base64url-encoded JSON") from exc
    if not isinstance(value, dict):
        raise MalformedToken(f"malformed token: the {name} is not a JSON object")
    return value


def _step_header(segment: str) -> dict[str, Any]:
    header = _json_segment(segment, "header")
    if "enc" in header:
        raise EncryptedToken("encrypted (JWE) token: request an access token for the API audience")
    if "crit" in header:
        # RFC 7515 section 4.1.11: extensions we do not understand must make the token invalid.
        raise MalformedToken(f"malformed token: unsupported critical header parameters {header['crit']!r}")
    return header


def _step_algorithm(tenant: Tenant, header: Mapping[str, Any]) -> str:
    alg = header.get("alg")
    allowed = [name for name in tenant.algorithm_list if name in _ALGORITHMS]
    if not isinstance(alg, str) or alg not in allowed:
        expected = ", ".join(allowed) or "none configured"
        raise AlgorithmNotAllowed(f"algorithm {alg} not allowed; expected {expected}")
    return alg


def _step_key(tenant: Tenant, header: Mapping[str, Any], alg: str) -> jwks.SigningKey:
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise MalformedToken("malformed token: the header has no kid, so no signing key can be chosen")
    return jwks.get_signing_key(tenant, kid, alg)


def _step_signature(segments: list[str], alg: str, key: jwks.SigningKey) -> None:
    try:
        signature = _b64decode(segments[2])
    except (binascii.Error, ValueError) as exc:
        raise MalformedToken("malformed token: the signature is not base64url") from exc
    signing_input = f"{segments[0]}.{segments[1]}".encode("ascii")
    if not _ALGORITHMS[alg].verify(signing_input, key.key, signature):
        raise InvalidSignature(f"invalid signature (kid={key.kid}, {alg}): the token was altered or not signed by it")


def _step_payload(segment: str) -> dict[str, Any]:
    return _json_segment(segment, "payload")


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedToken(f"malformed token: the {name} claim is not a NumericDate")
    return float(value)


def _step_exp(claims: Mapping[str, Any], leeway: int, now: float) -> None:
    exp = _number(claims, "exp")
    if exp is None:
        raise MissingClaim("token has no exp claim; access tokens must expire")
    if exp + leeway <= now:
        raise TokenExpired(f"token expired at {_iso(exp)} (now {_iso(now)})")


def _step_not_before(claims: Mapping[str, Any], leeway: int, now: float) -> None:
    nbf = _number(claims, "nbf")
    if nbf is not None and nbf - leeway > now:
        raise TokenNotYetValid(f"token not valid before {_iso(nbf)} (now {_iso(now)}); check the clocks")
    iat = _number(claims, "iat")
    if iat is not None and iat - leeway > now:
        raise TokenNotYetValid(f"token issued in the future at {_iso(iat)} (now {_iso(now)}); check the clocks")


def _step_iss(claims: Mapping[str, Any], issuer: str) -> None:
    got = claims.get("iss")
    if got != issuer:
        shown = repr(got) if isinstance(got, str) else "no iss claim"
        raise IssuerMismatch(f"issuer mismatch: expected {issuer!r}, got {shown}")


def _step_aud(claims: Mapping[str, Any], audience: str) -> None:
    got = claims.get("aud")
    values = got if isinstance(got, list) else [got]
    if audience not in values:
        shown = repr(got) if got is not None else "no aud claim"
        raise AudienceMismatch(f"audience mismatch: expected {audience!r}, got {shown}")


def _step_sub(claims: Mapping[str, Any]) -> str:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise MissingClaim("token has no sub claim")
    return sub


# --- what a verified token says ----------------------------------------------------------------------


def scopes_of(claims: Mapping[str, Any], claim_names: list[str]) -> frozenset[str]:
    """The union of the scope claims: a space-separated string (``scope``) or a list (``scp``, Auth0's
    ``permissions``); anything else in them is ignored."""
    scopes: set[str] = set()
    for name in claim_names:
        value = claims.get(name)
        if isinstance(value, str):
            scopes.update(value.split())
        elif isinstance(value, list):
            scopes.update(item for item in value if isinstance(item, str) and item)
    return frozenset(scopes)


def _client_id(claims: Mapping[str, Any]) -> str:
    for name in ("azp", "client_id"):
        value = claims.get(name)
        if isinstance(value, str) and value:
            return value
    return ""


# --- the cache of verified tokens --------------------------------------------------------------------------


def _cache_key(tenant: Tenant, issuer: str, fingerprint: str, token: str) -> tuple[Any, ...]:
    return (
        tenant.pk,
        issuer,
        tenant.effective_audience,
        tenant.algorithms,
        tenant.leeway_seconds,
        tenant.scope_claims,
        jwks.source_for(tenant),
        fingerprint,
        hashlib.sha256(token.encode()).digest(),
    )


def _remember(key: tuple[Any, ...], principal: Principal) -> None:
    with _verified_lock:
        if len(_verified) >= CACHE_SIZE:
            # Oldest first (dicts keep insertion order): drop a tenth to amortise the cost.
            for old in list(_verified)[: CACHE_SIZE // 10]:
                del _verified[old]
        _verified[key] = principal


def clear_cache() -> None:
    """Forget every verified token in this process (tests)."""
    with _verified_lock:
        _verified.clear()


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
