"""The development issuer built into the app, so ``make run`` works on a laptop with no Auth0 tenant.

It signs Auth0-shaped RS256 access tokens (``manage.py mint_token``) with an RSA key kept in the database
(``DevSigningKey``, made on first use), and publishes the public half as a JWKS. Its tokens take the same
verification path as Auth0's: ``authz.jwks`` loads :func:`jwks` in-process through the same cache a remote
JWKS goes through, and ``authz.verifier`` checks them step by step. It is trusted only by tenants with
``use_dev_issuer`` and only while ``DEBUG`` is on (system check ``cortex.E001``, and the verifier refuses).
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from jwt.algorithms import RSAAlgorithm

from authz.models import DevSigningKey, Tenant

DEV_CLIENT_ID = "cortex-dev"
DEV_ISSUER_PATH = "/dev-issuer/"


class DevIssuerDisabled(Exception):
    """Minting was asked of a tenant that does not trust the development issuer (or with DEBUG off)."""


_lock = threading.Lock()
# Loaded private keys by kid: PEM parsing costs milliseconds, and the rows never change.
_private_keys: dict[str, rsa.RSAPrivateKey] = {}


def issuer_url(resource_url: str) -> str:
    """The dev issuer's ``iss``: the resource's origin + ``/dev-issuer/`` (its JWKS is served beneath it)."""
    parts = urlsplit(resource_url)
    return f"{parts.scheme}://{parts.netloc}{DEV_ISSUER_PATH}"


def issuer_for(tenant: Tenant) -> str:
    """The ``iss`` a dev-issuer tenant trusts: its ``issuer`` field, else derived from its resource URL."""
    return tenant.issuer or issuer_url(tenant.resource_url)


def _create_key() -> DevSigningKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    return DevSigningKey.objects.create(kid=f"dev-{uuid.uuid4().hex[:16]}", private_pem=pem)


def signing_key() -> tuple[str, rsa.RSAPrivateKey]:
    """The newest key (kid, private key), created on first use. Two processes racing here may each create
    one; both are published by :func:`jwks`, so every token minted still verifies."""
    with _lock:
        row = DevSigningKey.objects.first() or _create_key()
        key = _private_keys.get(row.kid)
        if key is None:
            loaded = serialization.load_pem_private_key(row.private_pem.encode("ascii"), password=None)
            if not isinstance(loaded, rsa.RSAPrivateKey):
                raise TypeError(f"development signing key {row.kid} is not an RSA key")
            key = _private_keys[row.kid] = loaded
        return row.kid, key


def jwks() -> dict[str, Any]:
    """The public JWKS of every stored dev key (creating the first key if there is none)."""
    if not DevSigningKey.objects.exists():
        signing_key()
    keys = []
    for row in DevSigningKey.objects.all():
        private = serialization.load_pem_private_key(row.private_pem.encode("ascii"), password=None)
        jwk = RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)  # type: ignore[arg-type]
        keys.append({**jwk, "kid": row.kid, "use": "sig", "alg": "RS256"})
    return {"keys": keys}


def mint(tenant: Tenant, scopes: list[str], subject: str, ttl: int) -> str:
    """An access token shaped like Auth0's for an RBAC API: ``scope`` (space separated) and ``permissions``
    (list) both carry the scopes, ``azp`` names the client. Refused unless the tenant trusts this issuer
    and DEBUG is on, because such a token would not verify anywhere else."""
    if not tenant.use_dev_issuer:
        raise DevIssuerDisabled(
            f"tenant {tenant.slug!r} does not use the development issuer; "
            "get tokens from its authorization server (e.g. Auth0) instead"
        )
    if not settings.DEBUG:
        raise DevIssuerDisabled("the development issuer is disabled when DEBUG is off")
    if ttl <= 0:
        raise ValueError("ttl must be a positive number of seconds")
    kid, key = signing_key()
    now = int(time.time())
    claims = {
        "iss": issuer_for(tenant),
        "sub": subject,
        "aud": tenant.effective_audience,
        "azp": DEV_CLIENT_ID,
        "iat": now,
        "exp": now + ttl,
        "scope": " ".join(scopes),
        "permissions": list(scopes),
    }
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})
