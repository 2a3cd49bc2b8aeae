"""Liveness and readiness probes: what each reports, and when readiness fails."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper

from authz import jwks
from authz.models import Tenant
from tests.authz_helpers import JwksServer, public_jwk

pytestmark = pytest.mark.django_db


def test_healthz_needs_nothing(client: Client) -> None:
    reply = client.get("/healthz")
    assert reply.status_code == 200 and json.loads(reply.content) == {"status": "ok"}
    assert reply["Cache-Control"] == "no-store" and reply["X-Request-ID"]


@pytest.fixture
def remote_tenant(fresh_caches: None) -> tuple[Tenant, JwksServer]:
    server = JwksServer()
    Tenant.objects.exclude(auth_mode=Tenant.AuthMode.NONE).delete()
    tenant = Tenant.objects.create(
        slug="remote", name="Remote", issuer="https://issuer.example/", jwks_uri=server.url,
        resource_url="https://api.example/mcp",
    )  # fmt: skip
    yield tenant, server
    server.stop()


def test_readyz_reports_database_cache_and_jwks_states(client: Client, remote_tenant: tuple) -> None:
    tenant, server = remote_tenant
    body = json.loads(client.get("/readyz").content)
    assert body["status"] == "ready"
    assert body["checks"]["database"] == {"ok": True} and body["checks"]["cache"] == {"ok": True}
    assert body["checks"]["jwks"]["tenants"]["remote"]["state"] == "not_fetched"

    server.serve(public_jwk("k1"))
    assert jwks.refresh(tenant)["ok"]
    state = json.loads(client.get("/readyz").content)["checks"]["jwks"]["tenants"]["remote"]
    assert state["state"] == "fresh" and state["kids"] == ["k1"]


def test_readyz_is_503_when_no_keys_can_be_had(client: Client, remote_tenant: tuple) -> None:
    tenant, server = remote_tenant
    server.status = 503
    assert not jwks.refresh(tenant)["ok"]
    reply = client.get("/readyz")
    assert reply.status_code == 503
    body = json.loads(reply.content)
    assert body["status"] == "unready" and body["checks"]["jwks"]["tenants"]["remote"]["state"] == "unavailable"


def test_readyz_is_503_when_the_cache_is_down(client: Client, settings: SettingsWrapper, remote_tenant: tuple) -> None:
    dead = "redis://127.0.0.1:9/0"  # nothing listens on port 9
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": dead}}
    reply = client.get("/readyz")
    assert reply.status_code == 503
    checks = json.loads(reply.content)["checks"]
    assert checks["database"] == {"ok": True}
    assert checks["cache"]["ok"] is False and "ConnectionError" in checks["cache"]["error"]
