"""The shared JWKS cache across real processes: two web servers (granian, tests/live.py) and one real Redis,
keys served by the Auth0 stand-in. Rotation without restart, an unknown-kid flood, a dead JWKS endpoint,
and a key removed at the issuer."""

from __future__ import annotations

import base64
import json
import math
import secrets
import statistics
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests import auth0_standin
from tests import redis_server as redis_helpers
from tests.auth0_standin import Auth0StandIn
from tests.live import LiveServer

pytestmark = pytest.mark.e2e
standin = auth0_standin.standin  # fixture
redis_server, redis_url = redis_helpers.redis_server, redis_helpers.redis_url  # fixtures

AUDIENCE = "https://mcp.example/mcp"
PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
COOLDOWN = 30


def servers(tmp_path: Path, standin: Auth0StandIn, redis_url: str, count: int = 2, **env: str) -> list[LiveServer]:
    started = []
    for index in range(count):
        workdir = tmp_path / f"web{index}"
        workdir.mkdir()
        server = LiveServer(
            workdir,
            {
                "REDIS_URL": redis_url,
                "AUTH_ISSUER": standin.issuer,
                "AUTH0_AUDIENCE": AUDIENCE,
                "RATE_LIMIT_PER_MINUTE": "0",
                "JWKS_REFETCH_COOLDOWN_SECONDS": str(COOLDOWN),
                **env,
            },
        )
        started.append(server)
    for server in started:
        server.start()
    return started


@pytest.fixture
def web(tmp_path: Path, standin: Auth0StandIn, redis_url: str) -> Iterator[list[LiveServer]]:
    standin.publish("k1")
    pair = servers(tmp_path, standin, redis_url)
    yield pair
    for server in pair:
        server.stop()


def ping(client: httpx.Client, server: LiveServer, token: str) -> httpx.Response:
    return client.post(
        f"{server.url}/mcp",
        json=PING,
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
    )


def forged(kid: str) -> str:
    """A JWT-shaped token naming ``kid`` (its signature is never checked: no key has that kid)."""

    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    now = int(time.time())
    return f"{part({'alg': 'RS256', 'kid': kid, 'typ': 'JWT'})}.{part({'sub': 'x', 'exp': now + 60})}.c2ln"


def test_rotation_reaches_both_servers_with_one_fetch_per_cooldown(
    web: list[LiveServer], standin: Auth0StandIn
) -> None:
    a, b = web
    with httpx.Client(timeout=10) as client:
        old = standin.mint("k1", AUDIENCE)
        assert [ping(client, s, old).status_code for s in (a, b)] == [200, 200]
        assert standin.counts["jwks"] == 1  # b read a's copy from Redis

        # Auth0 publishes the next key, then signs with it: the first server to see it refetches, once.
        standin.publish("k1", "k2")
        new = standin.mint("k2", AUDIENCE)
        assert [ping(client, s, new).status_code for s in (a, b, a, b)] == [200] * 4
        assert ping(client, a, old).status_code == 200  # the previous key still verifies
        assert standin.counts["jwks"] == 2

        # k1 revoked at the issuer: after the next refresh (the worker's task; here the same function via
        # manage.py) neither server accepts it, although both had it verified and cached.
        standin.publish("k2")
        a.manage("refresh_jwks")
        assert standin.counts["jwks"] == 3
        deadline = time.monotonic() + 10
        statuses: list[int] = []
        while time.monotonic() < deadline:
            statuses = [ping(client, s, old).status_code for s in (a, b)]
            if statuses == [401, 401]:
                break
            time.sleep(0.25)
        assert statuses == [401, 401]
        refused = ping(client, b, old)
        assert "unknown signing key kid=k1" in refused.headers["WWW-Authenticate"]
        assert [ping(client, s, new).status_code for s in (a, b)] == [200, 200]
        assert standin.counts["jwks"] == 3  # the cooldown held: no refetch for the revoked kid


def test_unknown_kid_flood_costs_one_fetch_and_valid_tokens_keep_flowing(
    web: list[LiveServer], standin: Auth0StandIn
) -> None:
    valid = standin.mint("k1", AUDIENCE)
    with httpx.Client(timeout=10) as client:
        assert [ping(client, s, valid).status_code for s in web] == [200, 200]  # warm: keys cached
    before = standin.counts["jwks"]
    flood = [forged(secrets.token_hex(8)) for _ in range(1000)]
    latencies: list[float] = []
    local = threading.local()

    def client() -> httpx.Client:
        if not hasattr(local, "client"):
            local.client = httpx.Client(timeout=30)
        return local.client

    def attack(index: int) -> int:
        return ping(client(), web[index % 2], flood[index]).status_code

    def serve(index: int) -> int:
        started = time.perf_counter()
        status = ping(client(), web[index % 2], valid).status_code
        latencies.append(time.perf_counter() - started)
        return status

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        attacks = pool.map(attack, range(len(flood)))
        served = pool.map(serve, range(200))
        attack_statuses, served_statuses = list(attacks), list(served)
    elapsed = time.monotonic() - started
    fetches = standin.counts["jwks"] - before
    latencies.sort()
    p50, p95 = statistics.median(latencies), latencies[int(len(latencies) * 0.95)]
    print(
        f"\nunknown-kid flood: {len(flood)} requests in {elapsed:.1f} s, JWKS fetches {fetches}; valid requests "
        f"{len(latencies)}: p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms"
    )
    assert set(attack_statuses) == {401}
    assert set(served_statuses) == {200}
    # At most one fetch per cooldown started (on a quiet machine the flood takes a few seconds: one fetch).
    assert fetches <= math.ceil(elapsed / COOLDOWN)


def test_jwks_down_for_the_whole_test_cached_keys_keep_working(
    tmp_path: Path, standin: Auth0StandIn, redis_url: str
) -> None:
    standin.publish("k1")
    token = standin.mint("k1", AUDIENCE)
    # What the worker's refresh left in Redis before the endpoint went down.
    (tmp_path / "seed").mkdir()
    seeder = LiveServer(
        tmp_path / "seed", {"REDIS_URL": redis_url, "AUTH_ISSUER": standin.issuer, "AUTH0_AUDIENCE": AUDIENCE}
    )
    seeder.manage("migrate", "--no-input")
    seeder.manage("refresh_jwks")
    seeder.stop()
    assert standin.counts["jwks"] == 1

    standin.jwks_mode = "down"
    # Documents count as old after 1 s, so the servers try (and fail) to refresh while serving.
    pair = servers(tmp_path, standin, redis_url, JWKS_MAX_AGE_SECONDS="1")
    try:
        time.sleep(1.2)
        with httpx.Client(timeout=10) as client:
            statuses = [ping(client, s, token).status_code for s in pair for _ in range(20)]
            time.sleep(1.2)
            statuses += [ping(client, s, standin.mint("k1", AUDIENCE, subject=f"u{i}")).status_code
                         for i, s in enumerate(pair * 5)]  # fmt: skip
        assert set(statuses) == {200}
        assert standin.counts["jwks"] >= 2, "the servers never tried to refresh"
        status = json.loads(
            pair[0]
            .manage(
                "shell",
                "-c",
                "import json; from authz import jwks; from authz.models import Tenant; "
                "print(json.dumps(jwks.status(Tenant.objects.get(slug='default'))))",
            )
            .strip()
            .splitlines()[-1]
        )
        assert status["cached"] is True and status["kids"] == ["k1"]
        assert status["ok"] is False and "503" in status["last_error"]
    finally:
        for server in pair:
            server.stop()
