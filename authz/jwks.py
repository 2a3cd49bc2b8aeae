"""The signing-key cache: every tenant's JWKS, fetched rarely, shared across processes, parsed once.

Two layers, as PyJWT's ``jwk_set_cache`` with a shared tier under it:

- the raw JWKS document with its fetch time lives in the Django cache (Redis when ``REDIS_URL`` is set,
  so every process and the Celery refresher share one copy; local memory otherwise), under a key derived
  from the JWKS source (the URL, or ``dev`` for the in-process development issuer);
- each process keeps the parsed keys by the document's fingerprint, and re-reads the shared copy at most
  every ``LOCAL_RECHECK_SECONDS``, so a refresh done elsewhere is picked up within seconds.

When a document is older than ``JWKS_MAX_AGE_SECONDS`` it is refetched; when that fetch fails the cached
keys keep working (a warning is logged, the next try waits a cooldown). Every fetch outcome is also kept in
the shared cache per source (last success, last error and when), so ``status()`` tells readiness checks and
the admin about a failing endpoint that requests cannot notice while cached keys still verify.

A token whose ``kid`` is unknown triggers at most one refetch per JWKS source per
``JWKS_REFETCH_COOLDOWN_SECONDS`` (Auth0 key rotation), across threads (a lock) and processes (``cache.add``
gate); a process that loses that gate re-reads the shared copy, so a key another process just fetched is
found without a fetch of its own. Fetches are single flight: threads wait on a lock, processes on a
``cache.add`` lock key. With no keys at all and a failed fetch, ``KeysUnavailable`` (HTTP 503: our side's
failure, not the client's).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from django.conf import settings
from django.core.cache import cache
from jwt import PyJWK
from jwt.exceptions import PyJWTError

from authz import devissuer
from authz.errors import AlgorithmNotAllowed, KeysUnavailable, UnknownSigningKey
from authz.models import Tenant

logger = logging.getLogger(__name__)

# Asymmetric JWS algorithms a tenant may allow, with the JWK key type each needs. Never ``none``, never HMAC:
# a JWKS is public, so an HMAC "secret" taken from it would let anyone sign.
KEY_TYPES: dict[str, str] = {
    "RS256": "RSA",
    "RS384": "RSA",
    "RS512": "RSA",
    "PS256": "RSA",
    "PS384": "RSA",
    "PS512": "RSA",
    "ES256": "EC",
    "ES384": "EC",
    "ES512": "EC",
    "EdDSA": "OKP",
}

FETCH_TIMEOUT_SECONDS = 5.0
MAX_DOCUMENT_BYTES = 512 * 1024
MAX_KEYS = 100
LOCAL_RECHECK_SECONDS = 5.0
# After a first fetch fails (no keys at all), requests fail fast for this long instead of each waiting on it.
FAILURE_BACKOFF_SECONDS = 5.0
DEV_SOURCE = "dev"


def _setting(name: str, default: float) -> float:
    """The one place this module reads settings (documented defaults; absent means the default)."""
    return float(getattr(settings, name, default))


def refetch_cooldown() -> float:
    return _setting("JWKS_REFETCH_COOLDOWN_SECONDS", 30)


def max_age() -> float:
    return _setting("JWKS_MAX_AGE_SECONDS", 600)


class JwksFetchError(Exception):
    """The JWKS source could not be read or its document is unusable."""


@dataclass(frozen=True)
class SigningKey:
    kid: str
    key: Any  # a cryptography public key object
    fingerprint: str  # of the JWKS document the key came from


@dataclass
class _KeySet:
    source: str
    fingerprint: str
    keys: dict[str, PyJWK]
    fetched_at: float
    retry_at: float  # earliest refresh attempt after a failed one
    checked_at: float  # when this process last compared it with the shared copy

    def due(self, now: float) -> bool:
        return now >= self.fetched_at + max_age() and now >= self.retry_at


# Per process: the current key set per source, and the parsed keys per document fingerprint.
_local: dict[str, _KeySet] = {}
_parsed: dict[str, dict[str, PyJWK]] = {}
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()
# Fetches done by this process, by source, and those that failed (tests, metrics and the admin read them).
fetches: Counter[str] = Counter()
failures: Counter[str] = Counter()


def reset() -> None:
    """Forget this process's keys and counters (tests; the shared cache is left alone)."""
    _local.clear()
    _parsed.clear()
    fetches.clear()
    failures.clear()


def source_for(tenant: Tenant) -> str:
    """Where the tenant's keys come from: the dev issuer in-process, its ``jwks_uri``, or the OIDC default
    next to its issuer (``<issuer>/.well-known/jwks.json``, as Auth0 and most providers publish it)."""
    if tenant.use_dev_issuer:
        return DEV_SOURCE
    if tenant.jwks_uri:
        return tenant.jwks_uri
    if tenant.issuer:
        return tenant.issuer.rstrip("/") + "/.well-known/jwks.json"
    return ""


def _key(kind: str, source: str) -> str:
    return f"authz:jwks:{kind}:{hashlib.sha256(source.encode()).hexdigest()[:32]}"


def _lock_for(source: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(source, threading.Lock())


def fingerprint_of(document: dict[str, Any]) -> str:
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(canonical).hexdigest()[:32]


def parse_keys(document: dict[str, Any]) -> dict[str, PyJWK]:
    """Signing keys by kid. Skipped (and logged at debug): encryption keys, keys without a kid, key types
    or curves we do not verify with, and keys PyJWT cannot load."""
    keys: dict[str, PyJWK] = {}
    for data in document.get("keys", []):
        if not isinstance(data, dict):
            continue
        kid = data.get("kid")
        if not isinstance(kid, str) or not kid:
            logger.debug("JWKS key without kid skipped")
            continue
        if data.get("use", "sig") != "sig" or data.get("kty") not in {"RSA", "EC", "OKP"}:
            logger.debug("JWKS key %s skipped: kty=%s use=%s", kid, data.get("kty"), data.get("use"))
            continue
        alg = data.get("alg")
        if alg is not None and alg not in KEY_TYPES:
            logger.debug("JWKS key %s skipped: alg %s not supported", kid, alg)
            continue
        try:
            keys[kid] = PyJWK(data)
        except (PyJWTError, ValueError, TypeError) as exc:
            logger.debug("JWKS key %s skipped: %s", kid, exc)
    return keys


def _read_http(url: str) -> bytes:
    try:
        with (
            httpx.Client(timeout=FETCH_TIMEOUT_SECONDS) as client,
            client.stream("GET", url, headers={"Accept": "application/json"}) as response,
        ):
            if response.status_code != 200:
                raise JwksFetchError(f"JWKS at {url} answered HTTP {response.status_code}")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise JwksFetchError(f"JWKS at {url} is larger than {MAX_DOCUMENT_BYTES // 1024} KiB")
            return bytes(body)
    except httpx.HTTPError as exc:
        raise JwksFetchError(f"JWKS at {url} could not be fetched: {exc.__class__.__name__}: {exc}") from exc


def _validate(source: str, document: object) -> dict[str, Any]:
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JwksFetchError(f"JWKS at {source} is not a JSON object with a 'keys' list")
    if len(document["keys"]) > MAX_KEYS:
        raise JwksFetchError(f"JWKS at {source} has {len(document['keys'])} keys (at most {MAX_KEYS})")
    return document


def _fetch(source: str) -> dict[str, Any]:
    """The document itself: from the dev issuer in-process, else over HTTP. Counted in ``fetches``."""
    fetches[source] += 1
    if source == DEV_SOURCE:
        return _validate(source, devissuer.jwks())
    if not source:
        raise JwksFetchError("the tenant has no JWKS URI and no issuer to derive one from")
    body = _read_http(source)
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise JwksFetchError(f"JWKS at {source} is not valid JSON ({exc})") from exc
    return _validate(source, document)


def _adopt(source: str, shared: dict[str, Any], now: float) -> _KeySet:
    """Make the shared document this process's current key set, parsing it only if it is new here."""
    fingerprint = shared["fingerprint"]
    keys = _parsed.get(fingerprint)
    if keys is None:
        if len(_parsed) > 64:
            _parsed.clear()
        keys = _parsed[fingerprint] = parse_keys(shared["document"])
    entry = _KeySet(source, fingerprint, keys, shared["fetched_at"], shared.get("retry_at", 0.0), now)
    _local[source] = entry
    return entry


def _store(source: str, document: dict[str, Any], now: float) -> _KeySet:
    shared = {"document": document, "fingerprint": fingerprint_of(document), "fetched_at": now, "retry_at": 0.0}
    cache.set(_key("doc", source), shared, timeout=None)
    return _adopt(source, shared, now)


def _refresh(source: str, seen: float | None, force: bool = False) -> _KeySet:
    """Fetch the document (single flight). ``seen`` is the fetch time of the copy the caller found wanting:
    if someone else stored a newer one meanwhile, that one is used and nothing is fetched. ``force`` skips
    the fail-fast backoff after a failed first fetch."""
    with _lock_for(source):
        now = time.time()
        shared = cache.get(_key("doc", source))
        if shared is not None and (seen is None or shared["fetched_at"] > seen):
            return _adopt(source, shared, now)
        # What we can fall back on: the shared copy, else this process's own (the shared cache may have lost it).
        have = _adopt(source, shared, now) if shared is not None else _local.get(source)
        down = None if force or have is not None else cache.get(_key("down", source))
        if down is not None:
            raise KeysUnavailable(f"signing keys unavailable: {down}")
        lock_key = _key("fetching", source)
        owner = cache.add(lock_key, 1, timeout=FETCH_TIMEOUT_SECONDS * 2)
        if not owner:
            # Another process is fetching: wait for its result rather than fetching the same thing again.
            deadline = now + FETCH_TIMEOUT_SECONDS + 1
            while time.time() < deadline and cache.get(lock_key) is not None:
                time.sleep(0.05)
            shared = cache.get(_key("doc", source))
            if shared is not None and (seen is None or shared["fetched_at"] > seen):
                return _adopt(source, shared, time.time())
            if have is not None:
                return have
        try:
            document = _fetch(source)
        except JwksFetchError as exc:
            _record(source, str(exc))
            return _failed(source, have, str(exc))
        finally:
            if owner:
                cache.delete(lock_key)
        _record(source, "")
        return _store(source, document, time.time())


def _record(source: str, error: str) -> None:
    """Keep the outcome of a fetch where every process (and readiness) can read it."""
    now = time.time()
    record = cache.get(_key("status", source)) or {}
    if error:
        failures[source] += 1
        record.update(last_error=error, last_error_at=now, failures=record.get("failures", 0) + 1)
    else:
        record.update(last_success_at=now, failures=0)
    cache.set(_key("status", source), record, timeout=None)


def _failed(source: str, have: _KeySet | None, reason: str) -> _KeySet:
    now = time.time()
    if have is None:
        cache.set(_key("down", source), reason, timeout=FAILURE_BACKOFF_SECONDS)
        logger.error("JWKS fetch failed and no keys are cached: %s", reason)
        raise KeysUnavailable(f"signing keys unavailable: {reason}")
    logger.warning("JWKS refresh failed, still using the keys fetched at %s: %s", _iso(have.fetched_at), reason)
    have.retry_at = now + refetch_cooldown()
    shared = cache.get(_key("doc", source))
    if shared is not None and shared["fingerprint"] == have.fingerprint:
        cache.set(_key("doc", source), {**shared, "retry_at": have.retry_at}, timeout=None)
    return have


def _current(tenant: Tenant) -> _KeySet:
    source = source_for(tenant)
    now = time.time()
    entry = _local.get(source)
    if entry is not None and now - entry.checked_at < LOCAL_RECHECK_SECONDS and not entry.due(now):
        return entry
    shared = cache.get(_key("doc", source))
    if shared is not None:
        entry = _adopt(source, shared, now)
    if entry is not None and not entry.due(now):
        entry.checked_at = now
        return entry
    return _refresh(source, entry.fetched_at if entry is not None else None)


def fingerprint(tenant: Tenant) -> str:
    """The fingerprint of the JWKS this process verifies the tenant's tokens with (fetching it if needed).
    The verifier keys its cache of verified tokens on it, so a refreshed JWKS invalidates them."""
    return _current(tenant).fingerprint


def get_signing_key(tenant: Tenant, kid: str, alg: str) -> SigningKey:
    """The tenant's public key ``kid`` for a token signed with ``alg`` (already on the tenant's allowlist).

    An unknown kid refetches the JWKS once per cooldown (a rotated key appears), else ``UnknownSigningKey``.
    A key of the wrong type for ``alg``, or whose JWK names another ``alg``: ``AlgorithmNotAllowed``.
    """
    entry = _current(tenant)
    jwk = entry.keys.get(kid)
    if jwk is None:
        cooldown = refetch_cooldown()
        if cooldown <= 0 or cache.add(_key("refetch", entry.source), 1, timeout=cooldown):
            entry = _refresh(entry.source, entry.fetched_at)
        else:
            # Someone else holds this cooldown: their fetch (or the refresher's) may already be shared.
            shared = cache.get(_key("doc", entry.source))
            if shared is not None and shared["fingerprint"] != entry.fingerprint:
                entry = _adopt(entry.source, shared, time.time())
        jwk = entry.keys.get(kid)
        if jwk is None:
            known = ", ".join(sorted(entry.keys)) or "none"
            raise UnknownSigningKey(
                f"unknown signing key kid={kid}: not in the JWKS at {entry.source} "
                f"(fetched {_iso(entry.fetched_at)}; known kids: {known})"
            )
    declared = jwk._jwk_data.get("alg")
    if jwk.key_type != KEY_TYPES[alg] or (declared is not None and declared != alg):
        raise AlgorithmNotAllowed(
            f"algorithm {alg} does not match signing key kid={kid} ({declared or jwk.key_type} key)"
        )
    return SigningKey(kid=kid, key=jwk.key, fingerprint=entry.fingerprint)


def refresh(tenant: Tenant) -> dict[str, Any]:
    """Fetch the tenant's JWKS now, ignoring age and cooldown (Celery beat, the admin). Never raises for a
    fetch failure: the status says what happened, and cached keys stay in use."""
    source = source_for(tenant)
    entry = _local.get(source)
    status: dict[str, Any] = {"tenant": tenant.slug, "source": source, "ok": True, "error": ""}
    try:
        shared = cache.get(_key("doc", source))
        seen = max(shared["fetched_at"] if shared else 0.0, entry.fetched_at if entry else 0.0, time.time())
        entry = _refresh(source, seen, force=True)
        if entry.fetched_at < seen:
            status.update(ok=False, error="fetch failed; still using cached keys (see the log)")
    except KeysUnavailable as exc:
        status.update(ok=False, error=exc.description, kids=[], fingerprint="", fetched_at=None)
        return status
    status.update(kids=sorted(entry.keys), fingerprint=entry.fingerprint, fetched_at=_iso(entry.fetched_at))
    return status


def status(tenant: Tenant) -> dict[str, Any]:
    """What readiness checks and the admin show about the tenant's keys, without fetching anything.

    ``ok`` is false when no keys are cached (tokens cannot be verified) or when the last fetch failed (cached
    keys still verify, but a rotation would not be seen). ``stale``: the cached document is older than twice
    ``JWKS_MAX_AGE_SECONDS``, so refreshes have been failing for a while. Times are ISO 8601 UTC or ``None``.
    """
    source = source_for(tenant)
    shared = cache.get(_key("doc", source))
    entry = _local.get(source)
    record = cache.get(_key("status", source)) or {}
    if shared is not None:
        fetched_at: float | None = shared["fetched_at"]
        document_fingerprint = shared["fingerprint"]
        kids = sorted(_parsed.get(document_fingerprint) or parse_keys(shared["document"]))
    elif entry is not None:
        fetched_at, document_fingerprint, kids = entry.fetched_at, entry.fingerprint, sorted(entry.keys)
    else:
        fetched_at, document_fingerprint, kids = None, "", []
    last_error_at = record.get("last_error_at")
    last_success_at = record.get("last_success_at")
    failing = last_error_at is not None and (last_success_at is None or last_error_at > last_success_at)
    now = time.time()
    return {
        "tenant": tenant.slug,
        "source": source,
        "ok": bool(kids) and not failing,
        "cached": bool(kids),
        "kids": kids,
        "fingerprint": document_fingerprint,
        "fetched_at": _iso(fetched_at) if fetched_at else None,
        "age_seconds": round(now - fetched_at, 1) if fetched_at else None,
        "stale": fetched_at is not None and now - fetched_at > 2 * max_age(),
        "last_success_at": _iso(last_success_at) if last_success_at else None,
        "last_error": record.get("last_error", "") if failing else "",
        "last_error_at": _iso(last_error_at) if last_error_at else None,
        "consecutive_failures": record.get("failures", 0),
    }


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
