"""Rate limits per (tenant, token subject): a token bucket in the shared cache, one round trip per request.

The bucket is kept as GCRA does it (the generic cell rate algorithm, which is a token bucket stated with one
number): per key, the "theoretical arrival time" ``tat``. A request at ``now`` is allowed when
``max(tat, now) + interval - interval * burst <= now``, and then moves ``tat`` on by one ``interval``
(``60 / per_minute`` seconds). So ``burst`` requests pass at once from a full bucket, and after that one per
``interval``; a refused request learns exactly how long to wait (``Retry-After``). Limits are per tenant
(``Tenant.rate_limit_per_minute``, default 120, 0 = off; ``Tenant.rate_limit_burst``, default 30).

Where the number lives:

- Redis (``REDIS_URL``, Django's ``RedisCache``): one ``EVALSHA`` of a short Lua script per request, atomic,
  on Redis's clock, so every web process shares the bucket;
- ``LocMemCache`` (development, tests): a dict in this process under a lock, a microsecond or two; the limit
  is then per process, which is what one process on one machine needs. ``cache.clear()`` resets it too;
- any other backend: a read and a write through the cache API.

If Redis cannot be reached the request is let through (logged, at most once a minute): a rate limit is not
worth an outage. Keyed on the token's ``sub``; without a token (``optional``/``none`` modes) on the client
address as the server sees it (``REMOTE_ADDR``; behind a proxy that is the proxy's).
"""

from __future__ import annotations

import hashlib
import logging
import math
import pickle
import threading
import time
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from django.http import HttpRequest

from authz.models import Tenant
from authz.principal import Principal
from cortex.mcp.errors import RateLimited

logger = logging.getLogger(__name__)

# KEYS[1]: the bucket; ARGV[1]: seconds per token; ARGV[2]: burst. Returns "0" (allowed) or seconds to wait.
LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - interval * tonumber(ARGV[2])
if allow_at > now then return tostring(allow_at - now) end
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil((new_tat - now) * 1000) + 1000)
return '0'
"""
OUTAGE_LOG_SECONDS = 60.0
MAX_LOCAL_KEYS = 100_000
_MARKER = ":cortex.ratelimit:"  # not a key make_key() can produce

_local: dict[str, float] = {}
_local_lock = threading.Lock()
_kind = "cache"
_kind_conf: Any = None
_store: tuple[Any, dict[str, Any]] = ({}, {})

_scripts: dict[int, Any] = {}
_last_outage_log = 0.0


def reset() -> None:
    """Forget this process's buckets and Lua script handles."""
    global _kind_conf
    _local.clear()
    _scripts.clear()
    _kind_conf = None


def bucket_key(tenant: Tenant, who: str) -> str:
    return f"ratelimit:{tenant.pk}:{hashlib.blake2b(who.encode(), digest_size=12).hexdigest()}"


def hit(key: str, per_minute: int, burst: int) -> float:
    """Take one token from bucket ``key``: 0.0 when allowed, else the seconds until a token is there."""
    interval = 60.0 / per_minute
    burst = max(burst, 1)
    kind = _backend_kind()
    if kind == "locmem":
        return _hit_local(key, interval, burst)
    backend = caches["default"]
    if kind == "redis":
        return _hit_redis(backend, key, interval, burst)  # type: ignore[arg-type]
    return _hit_cache(backend, key, interval, burst)


def _backend_kind() -> str:
    """``redis``, ``locmem`` or ``cache`` for the default cache, worked out again only when CACHES changes."""
    global _kind, _kind_conf, _store
    conf = settings.CACHES
    if conf is not _kind_conf:
        backend = caches["default"]
        if isinstance(backend, RedisCache):
            _kind = "redis"
        elif isinstance(backend, LocMemCache):
            _kind = "locmem"
            _store = (backend._cache, backend._expire_info)
        else:
            _kind = "cache"
        _kind_conf = conf
    return _kind


def _hit_local(key: str, interval: float, burst: int) -> float:
    """LocMem: the buckets are a dict in this process (no pickling, one lock), forgotten whenever the LocMem
    store is cleared (``cache.clear()``, as tests do): a marker entry in that store going missing says so."""
    store, expire_info = _store
    now = time.time()
    with _local_lock:
        if _MARKER not in store:
            _local.clear()
            store[_MARKER] = pickle.dumps(None)
            expire_info[_MARKER] = None  # never expires; LocMem's cull may drop it, which only resets buckets
        tat = _local.get(key, now)
        if tat < now:
            tat = now
        new_tat = tat + interval
        allow_at = new_tat - interval * burst
        if allow_at > now:
            return allow_at - now
        if len(_local) >= MAX_LOCAL_KEYS:
            # Full buckets carry no information: drop them (every key whose tat has passed).
            for old in [name for name, value in _local.items() if value <= now]:
                del _local[old]
        _local[key] = new_tat
        return 0.0


def _hit_cache(backend: BaseCache, key: str, interval: float, burst: int) -> float:
    """Other backends: the same arithmetic through the cache API, a read and a write (not atomic, so a few
    concurrent requests may slip past the limit)."""
    now = time.time()
    tat = max(backend.get(key, now), now)
    new_tat = tat + interval
    allow_at = new_tat - interval * burst
    if allow_at > now:
        return allow_at - now
    backend.set(key, new_tat, timeout=math.ceil(new_tat - now) + 1)
    return 0.0


def _hit_redis(backend: RedisCache, key: str, interval: float, burst: int) -> float:
    global _last_outage_log
    full_key = backend.make_key(key)
    try:
        client = backend._cache.get_client(full_key, write=True)
        script = _scripts.get(id(client))
        if script is None:
            script = _scripts[id(client)] = client.register_script(LUA)
        return float(script(keys=[full_key], args=[repr(interval), burst]))
    except Exception as exc:  # redis.RedisError, OSError: fail open
        now = time.monotonic()
        if now - _last_outage_log > OUTAGE_LOG_SECONDS:
            _last_outage_log = now
            logger.warning("rate limit not applied: the shared cache is unavailable (%s)", exc)
        return 0.0


def check(request: HttpRequest, tenant: Tenant, principal: Principal | None) -> None:
    """The pipeline's rate-limit step (right after authentication): ``RateLimited`` (429) when over."""
    per_minute = tenant.rate_limit_per_minute
    if per_minute <= 0:
        return
    who = principal.subject if principal is not None else "addr:" + request.META.get("REMOTE_ADDR", "")
    wait = hit(bucket_key(tenant, who), per_minute, tenant.rate_limit_burst)
    if wait > 0:
        raise RateLimited(wait, per_minute)
