"""Rate limits per (tenant, subject): the token bucket's arithmetic, the pipeline's 429, and the shared Redis
bucket (a real redis-server) that every process sees."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper

from authz.models import Tenant
from cortex import ratelimit
from tests import redis_server as redis_helpers
from tests.conftest import McpClient, rpc

redis_server, redis_url = redis_helpers.redis_server, redis_helpers.redis_url  # fixtures

PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}


@pytest.fixture
def redis_cache(settings: SettingsWrapper, redis_url: str) -> Iterator[str]:
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url, "KEY_PREFIX": "t"}
    }
    ratelimit.reset()
    yield redis_url
    ratelimit.reset()


def run(per_minute: int, burst: int, count: int, key: str = "k") -> list[float]:
    return [ratelimit.hit(key, per_minute, burst) for _ in range(count)]


@pytest.mark.parametrize(
    ("per_minute", "burst", "allowed"),
    [(120, 30, 30), (60, 1, 1), (600, 5, 5), (120, 0, 1)],
)
@pytest.mark.parametrize("backend", ["locmem", "redis"])
def test_burst_then_refused_with_the_wait(
    per_minute: int, burst: int, allowed: int, backend: str, request: pytest.FixtureRequest
) -> None:
    if backend == "redis":
        request.getfixturevalue("redis_cache")
    cache.clear()
    waits = run(per_minute, burst, allowed + 2)
    assert waits[:allowed] == [0.0] * allowed
    interval = 60 / per_minute
    assert 0 < waits[allowed] <= interval + 0.05
    assert waits[allowed + 1] == pytest.approx(waits[allowed], abs=0.05)  # a refusal takes no token
    assert run(per_minute, burst, 1, key="other") == [0.0]  # buckets are per key


@pytest.mark.parametrize("backend", ["locmem", "redis"])
def test_tokens_come_back_at_the_rate(backend: str, request: pytest.FixtureRequest) -> None:
    if backend == "redis":
        request.getfixturevalue("redis_cache")
    cache.clear()
    assert run(600, 2, 3)[2] > 0  # one token per 0.1 s
    time.sleep(0.12)
    assert run(600, 2, 2) == [0.0, pytest.approx(0.1, abs=0.03)]


def test_redis_bucket_is_one_key_with_a_ttl(redis_cache: str, redis_server: Any) -> None:
    run(60, 5, 3, key="ratelimit:1:abc")
    client = redis_server.client()
    (name,) = client.keys("*ratelimit*")
    assert name == b"t:1:ratelimit:1:abc"
    assert 0 < client.pttl(name) <= 5000


def test_redis_unreachable_lets_requests_through(settings: SettingsWrapper) -> None:
    from tests.live import free_port

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
        }
    }
    ratelimit.reset()
    assert run(60, 1, 3) == [0.0, 0.0, 0.0]
    ratelimit.reset()


@pytest.fixture
def limited(make_tenant: Callable[..., Tenant]) -> Tenant:
    return make_tenant(rate_limit_per_minute=60, rate_limit_burst=2)


def test_pipeline_answers_429_with_retry_after(client: Client, limited: Tenant, mint: Callable[..., str]) -> None:
    alice = McpClient(client, "/mcp", mint(limited, subject="auth0|alice"))
    assert [alice.post(PING).status_code for _ in range(2)] == [200, 200]
    refused = alice.post(PING)
    assert refused.status_code == 429
    assert refused["Retry-After"] == "1"
    body = rpc(refused)
    assert body["id"] is None
    assert body["error"]["code"] == -32029
    assert body["error"]["data"] == {"retryAfter": 1}
    assert "60 requests per minute" in body["error"]["message"]
    # Another subject has its own bucket.
    bob = McpClient(client, "/mcp", mint(limited, subject="auth0|bob"))
    assert bob.post(PING).status_code == 200


def test_limit_zero_is_off(client: Client, make_tenant: Callable[..., Tenant], mint: Callable[..., str]) -> None:
    tenant = make_tenant(rate_limit_per_minute=0, rate_limit_burst=1)
    alice = McpClient(client, "/mcp", mint(tenant))
    assert {alice.post(PING).status_code for _ in range(40)} == {200}


def test_invalid_tokens_are_refused_before_the_bucket(client: Client, limited: Tenant) -> None:
    """The check runs after authentication: a bad token gets its 401, not a 429 (and costs no token)."""
    anyone = McpClient(client, "/mcp", "not-a-jwt")
    assert {anyone.post(PING).status_code for _ in range(5)} == {401}


def test_without_a_token_the_client_address_is_the_key(
    client: Client, make_tenant: Callable[..., Tenant], debug: SettingsWrapper
) -> None:
    make_tenant(auth_mode=Tenant.AuthMode.NONE, rate_limit_per_minute=60, rate_limit_burst=1)
    anonymous = McpClient(client, "/mcp")
    assert [anonymous.post(PING).status_code for _ in range(2)] == [200, 429]
    other = McpClient(Client(REMOTE_ADDR="10.0.0.9"), "/mcp")
    assert other.post(PING).status_code == 200


def test_default_limits_on_a_new_tenant(db: None) -> None:
    tenant = Tenant.objects.create(slug="fresh", name="Fresh", resource_url="https://x.example/mcp")
    assert (tenant.rate_limit_per_minute, tenant.rate_limit_burst) == (120, 30)
    assert math.isclose(60 / tenant.rate_limit_per_minute, 0.5)
