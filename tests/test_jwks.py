"""authz.jwks against a real JWKS endpoint on loopback: caching, refetch on an unknown kid, failures."""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import pytest
from django.core.cache import cache
from pytest_django.fixtures import Settings as SettingsWrapper

from authz import errors, jwks
from authz.models import Tenant
from tests import authz_helpers
from tests.authz_helpers import JwksServer, public_jwk

acme, jwks_server = authz_helpers.acme, authz_helpers.jwks_server  # fixtures


def test_keys_are_fetched_once_and_shared(acme: Tenant, jwks_server: JwksServer) -> None:
    first = jwks.get_signing_key(acme, "k1", "RS256")
    assert jwks.get_signing_key(acme, "k1", "RS256").key is first.key
    assert jwks_server.requests == 1
    jwks.reset()  # a new process: the document comes from the shared cache, not the endpoint
    assert jwks.get_signing_key(acme, "k1", "RS256").fingerprint == first.fingerprint
    assert jwks_server.requests == 1


def test_unknown_kid_refetches_once_per_cooldown(
    acme: Tenant, jwks_server: JwksServer, settings: SettingsWrapper
) -> None:
    jwks.get_signing_key(acme, "k1", "RS256")
    jwks_server.serve(public_jwk("k1"), public_jwk("k2", key_name="next"))
    assert jwks.get_signing_key(acme, "k2", "RS256").kid == "k2"  # a rotated-in key is found by one refetch
    assert jwks_server.requests == 2
    jwks_server.serve(public_jwk("k1"), public_jwk("k2", key_name="next"), public_jwk("k3", key_name="third"))
    for _ in range(3):  # the cooldown started by the k2 refetch holds: k3 stays unknown, nothing is fetched
        with pytest.raises(errors.UnknownSigningKey, match=r"unknown signing key kid=k3: .*known kids: k1, k2\)"):
            jwks.get_signing_key(acme, "k3", "RS256")
    assert jwks_server.requests == 2
    settings.JWKS_REFETCH_COOLDOWN_SECONDS = 0
    assert jwks.get_signing_key(acme, "k3", "RS256").kid == "k3"
    assert jwks_server.requests == 3


def test_concurrent_first_fetch_is_single_flight(acme: Tenant, jwks_server: JwksServer) -> None:
    jwks_server.delay = 0.3
    results: list[str] = []

    def worker() -> None:
        results.append(jwks.get_signing_key(acme, "k1", "RS256").kid)

    threads = [threading.Thread(target=worker) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["k1"] * 12
    assert jwks_server.requests == 1


def test_dead_endpoint_keeps_cached_keys(
    acme: Tenant, jwks_server: JwksServer, settings: SettingsWrapper, caplog: pytest.LogCaptureFixture
) -> None:
    jwks.get_signing_key(acme, "k1", "RS256")
    jwks_server.stop()
    settings.JWKS_MAX_AGE_SECONDS = 0  # the cached document is now due for a refresh, which fails
    with caplog.at_level(logging.WARNING, logger="authz.jwks"):
        assert jwks.get_signing_key(acme, "k1", "RS256").kid == "k1"
    assert "JWKS refresh failed, still using the keys fetched at" in caplog.text
    assert jwks.fetches[jwks_server.url] == 2
    jwks.get_signing_key(acme, "k1", "RS256")
    assert jwks.fetches[jwks_server.url] == 2  # after a failure the next try waits a cooldown
    status = jwks.refresh(acme)
    assert (status["ok"], status["kids"]) == (False, ["k1"])
    assert "still using cached keys" in status["error"]


def test_refresh_status(acme: Tenant, jwks_server: JwksServer) -> None:
    jwks_server.serve(public_jwk("b"), public_jwk("a"))
    status = jwks.refresh(acme)
    fetched_at = status.pop("fetched_at")
    assert status == {
        "tenant": "acme",
        "source": jwks_server.url,
        "ok": True,
        "error": "",
        "kids": ["a", "b"],
        "fingerprint": jwks.fingerprint(acme),
    }
    assert fetched_at.endswith("Z")
    jwks.refresh(acme)
    assert jwks_server.requests == 2  # refresh always fetches


def _body(value: Any) -> bytes:
    return value if isinstance(value, bytes) else json.dumps(value).encode()


FAILURES: list[tuple[str, int, Any, str]] = [
    ("garbage JSON", 200, b"<html>not json</html>", "is not valid JSON"),
    ("not an object", 200, [1, 2], "is not a JSON object with a 'keys' list"),
    ("keys not a list", 200, {"keys": {"k1": {}}}, "is not a JSON object with a 'keys' list"),
    ("oversized", 200, {"keys": [], "padding": "x" * (600 * 1024)}, "is larger than 512 KiB"),
    ("too many keys", 200, {"keys": [public_jwk(f"k{n}") for n in range(101)]}, "has 101 keys (at most 100)"),
    ("server error", 500, {"keys": []}, "answered HTTP 500"),
]


@pytest.mark.parametrize(("status", "body", "fragment"), [f[1:] for f in FAILURES], ids=[f[0] for f in FAILURES])
def test_unusable_document_without_cached_keys(
    acme: Tenant, jwks_server: JwksServer, status: int, body: Any, fragment: str
) -> None:
    jwks_server.status, jwks_server.body = status, _body(body)
    with pytest.raises(errors.KeysUnavailable) as caught:
        jwks.get_signing_key(acme, "k1", "RS256")
    assert fragment in caught.value.description
    assert caught.value.status == 503


@pytest.mark.parametrize(("status", "body", "fragment"), [f[1:] for f in FAILURES], ids=[f[0] for f in FAILURES])
def test_unusable_document_keeps_cached_keys(
    acme: Tenant,
    jwks_server: JwksServer,
    settings: SettingsWrapper,
    caplog: pytest.LogCaptureFixture,
    status: int,
    body: Any,
    fragment: str,
) -> None:
    jwks.get_signing_key(acme, "k1", "RS256")
    jwks_server.status, jwks_server.body = status, _body(body)
    settings.JWKS_MAX_AGE_SECONDS = 0
    assert jwks.get_signing_key(acme, "k1", "RS256").kid == "k1"
    assert fragment in caplog.text


def test_dead_endpoint_without_keys_fails_fast(acme: Tenant, jwks_server: JwksServer) -> None:
    jwks_server.stop()
    with pytest.raises(errors.KeysUnavailable, match="could not be fetched: ConnectError"):
        jwks.get_signing_key(acme, "k1", "RS256")
    started = time.monotonic()
    with pytest.raises(errors.KeysUnavailable):
        jwks.get_signing_key(acme, "k1", "RS256")
    assert jwks.fetches[jwks_server.url] == 1  # the backoff answered, no second attempt
    assert time.monotonic() - started < 0.5
    assert jwks.refresh(acme)["ok"] is False


def test_stale_document_is_refreshed(acme: Tenant, jwks_server: JwksServer, settings: SettingsWrapper) -> None:
    jwks.get_signing_key(acme, "k1", "RS256")
    jwks_server.serve(public_jwk("k2", key_name="next"))
    settings.JWKS_MAX_AGE_SECONDS = 0
    with pytest.raises(errors.UnknownSigningKey):  # refetched for age (k1 gone); the kid refetch is not needed
        jwks.get_signing_key(acme, "k1", "RS256")
    assert jwks.get_signing_key(acme, "k2", "RS256").kid == "k2"


@pytest.mark.parametrize(
    ("key", "kept"),
    [
        (public_jwk("rsa"), True),
        (public_jwk("no-alg", alg=None), True),
        (public_jwk("ec", alg="ES256"), True),
        (public_jwk("enc", use="enc"), False),
        (public_jwk("hs", alg="HS256"), False),
        ({"kty": "oct", "kid": "oct", "k": "c2VjcmV0"}, False),
        ({**public_jwk("x"), "kid": ""}, False),
        ({k: v for k, v in public_jwk("x").items() if k != "kid"}, False),
        ({"kty": "RSA", "kid": "broken", "n": "AQAB"}, False),
        ("not a key", False),
    ],
)
def test_parse_keys_skips_what_cannot_sign(key: Any, kept: bool) -> None:
    parsed = jwks.parse_keys({"keys": [key]})
    assert bool(parsed) is kept


@pytest.mark.django_db
def test_dev_issuer_keys_take_the_same_cache_path(settings: SettingsWrapper, fresh_caches: None) -> None:
    settings.DEBUG = True
    tenant = Tenant.objects.create(
        slug="dev", name="Dev", resource_url="http://127.0.0.1:8000/mcp", use_dev_issuer=True
    )
    from authz import devissuer

    kid, _ = devissuer.signing_key()
    assert jwks.source_for(tenant) == "dev"
    assert jwks.get_signing_key(tenant, kid, "RS256").kid == kid
    jwks.get_signing_key(tenant, kid, "RS256")
    assert jwks.fetches["dev"] == 1


@pytest.mark.parametrize(
    ("fields", "source"),
    [
        ({"jwks_uri": "https://keys.example/jwks"}, "https://keys.example/jwks"),
        ({"issuer": "https://t.auth0.com/"}, "https://t.auth0.com/.well-known/jwks.json"),
        ({"issuer": "https://kc.example/realms/x"}, "https://kc.example/realms/x/.well-known/jwks.json"),
        ({"use_dev_issuer": True, "jwks_uri": "https://ignored.example"}, "dev"),
        ({}, ""),
    ],
)
def test_source_for(fields: dict[str, Any], source: str) -> None:
    assert jwks.source_for(Tenant(slug="x", resource_url="https://x.example/mcp", **fields)) == source


def test_keys_survive_a_lost_shared_copy_and_a_dead_endpoint(
    acme: Tenant, jwks_server: JwksServer, settings: SettingsWrapper
) -> None:
    jwks.get_signing_key(acme, "k1", "RS256")
    cache.clear()  # Redis flushed or the entry evicted
    jwks_server.stop()
    settings.JWKS_MAX_AGE_SECONDS = 0
    assert jwks.get_signing_key(acme, "k1", "RS256").kid == "k1"
