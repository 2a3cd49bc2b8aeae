"""Scope sync against the Auth0 stand-in over real HTTP (through the auth0-python SDK), and the merge rules."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command

from authz import auth0, scopesync
from authz.models import Scope, ScopeSyncRun, Tenant
from authz.tasks import sync_scopes
from tests import auth0_standin
from tests.auth0_standin import Auth0StandIn

standin = auth0_standin.standin  # fixture
AUDIENCE = "https://api.example/mcp"


@pytest.fixture
def tenant(db: None, standin: Auth0StandIn) -> Tenant:
    cache.clear()
    standin.add_client("m2m", "s3cret")
    tenant = Tenant.objects.create(
        slug="acme",
        name="Acme",
        issuer=standin.issuer,
        audience=AUDIENCE,
        resource_url=AUDIENCE,
        mgmt_client_id="m2m",
        mgmt_client_secret="s3cret",
    )
    Scope.objects.filter(tenant=tenant).delete()  # the tool sync made the seed's five; these tests choose
    for name, description in [("docs.write", "Write docs"), ("search.read", "Search"), ("memory.read", "")]:
        Scope.objects.create(tenant=tenant, name=name, description=description)
    return tenant


@pytest.mark.parametrize(
    ("current", "managed", "scopes", "added", "updated", "unchanged", "kept"),
    [
        ([], {"a": "A"}, [("a", "A")], ["a"], [], [], []),
        ([("x", "X")], {"a": ""}, [("x", "X"), ("a", "a")], ["a"], [], [], ["x"]),
        ([("a", "old")], {"a": "new"}, [("a", "new")], [], ["a"], [], []),
        ([("a", "kept")], {"a": ""}, [("a", "kept")], [], [], ["a"], []),
        ([("a", "A"), ("a", "dup")], {"a": "A"}, [("a", "A")], [], [], ["a"], []),
        ([("x", "X"), ("a", "A")], {"a": "A", "b": "B"}, [("x", "X"), ("a", "A"), ("b", "B")], ["b"], [], ["a"], ["x"]),
    ],
)
def test_merge(
    current: list[tuple[str, str]],
    managed: dict[str, str],
    scopes: list[tuple[str, str]],
    added: list[str],
    updated: list[str],
    unchanged: list[str],
    kept: list[str],
) -> None:
    merged = scopesync.merge([{"value": v, "description": d} for v, d in current], managed)
    assert [(s["value"], s["description"]) for s in merged.scopes] == scopes
    assert (merged.added, merged.updated, merged.unchanged, merged.kept) == (added, updated, unchanged, kept)


def scopes_at(standin: Auth0StandIn) -> dict[str, str]:
    (server,) = standin.resource_servers.values()
    return {s["value"]: s.get("description", "") for s in server["scopes"]}


def test_sync_adds_missing_keeps_foreign_survives_two_429s_and_records(standin: Auth0StandIn, tenant: Tenant) -> None:
    standin.add_resource_server(
        AUDIENCE, [{"value": "admin.everything", "description": "Not ours"}, {"value": "search.read"}]
    )
    standin.throttle(2, retry_after=1)  # the first 429 says Retry-After, the second only x-ratelimit-reset
    started = time.monotonic()
    run = scopesync.sync(tenant)
    elapsed = time.monotonic() - started
    assert run.status == ScopeSyncRun.Status.OK, run.error
    assert scopes_at(standin) == {
        "admin.everything": "Not ours",
        "search.read": "Search",
        "docs.write": "Write docs",
        "memory.read": "memory.read",
    }
    assert (run.added, run.updated, run.unchanged, run.kept) == (
        ["docs.write", "memory.read"],
        ["search.read"],
        [],
        ["admin.everything"],
    )
    assert standin.counts["429"] == 2 and standin.counts["GET rs"] == 3 and standin.counts["PATCH rs"] == 1
    assert elapsed >= 1.0, "the Retry-After of the first 429 was not honoured"
    assert run.finished is not None and run.finished >= run.started
    assert ScopeSyncRun.objects.filter(tenant=tenant).count() == 1
    # A second run changes nothing and sends no PATCH; the Management token is reused from the cache.
    again = scopesync.sync(tenant)
    assert again.status == ScopeSyncRun.Status.OK and again.added == [] and again.updated == []
    assert sorted(again.unchanged) == ["docs.write", "memory.read", "search.read"]
    assert standin.counts["PATCH rs"] == 1 and standin.counts["token"] == 1


def test_sync_gives_up_after_bounded_429s(standin: Auth0StandIn, tenant: Tenant, monkeypatch: Any) -> None:
    monkeypatch.setattr(auth0, "MAX_RETRIES", 1)
    standin.add_resource_server(AUDIENCE, [])
    standin.throttle(5, retry_after=0)
    run = scopesync.sync(tenant)
    assert run.status == ScopeSyncRun.Status.FAILED
    assert "rate limit" in run.error
    assert standin.counts["429"] == 2 and standin.counts["PATCH rs"] == 0


@pytest.mark.parametrize(
    ("grants", "named"),
    [
        (("update:resource_servers",), "read:resource_servers"),
        (("read:resource_servers",), "update:resource_servers"),
        (None, "read:resource_servers and update:resource_servers"),
    ],
)
def test_missing_grant_is_named(
    standin: Auth0StandIn, tenant: Tenant, grants: tuple[str, ...] | None, named: str
) -> None:
    standin.add_client("m2m", "s3cret", grants)
    standin.add_resource_server(AUDIENCE, [])
    run = scopesync.sync(tenant)
    assert run.status == ScopeSyncRun.Status.FAILED
    assert named in run.error and "client grant" in run.error, run.error
    assert standin.counts["PATCH rs"] == (1 if grants == ("read:resource_servers",) else 0)


def test_unknown_api_and_wrong_secret(standin: Auth0StandIn, tenant: Tenant) -> None:
    run = scopesync.sync(tenant)
    assert run.status == ScopeSyncRun.Status.FAILED and f"no API with the identifier {AUDIENCE!r}" in run.error
    tenant.mgmt_client_secret = "wrong"
    tenant.save()
    run = scopesync.sync(tenant)
    assert run.status == ScopeSyncRun.Status.FAILED and "client id and secret" in run.error


def test_not_configured_records_nothing(tenant: Tenant) -> None:
    tenant.mgmt_client_id = ""
    tenant.save()
    with pytest.raises(scopesync.NotConfigured):
        scopesync.sync(tenant)
    assert sync_scopes("acme")["status"] == "skipped"
    assert not ScopeSyncRun.objects.exists()


def test_command_and_task(standin: Auth0StandIn, tenant: Tenant, capsys: Any) -> None:
    standin.add_resource_server(AUDIENCE, [])
    call_command("sync_scopes", "--tenant", "acme")
    assert '"status": "ok"' in capsys.readouterr().out
    assert set(scopes_at(standin)) == {"docs.write", "search.read", "memory.read"}
    result = sync_scopes.delay("acme").get()  # eager without REDIS_URL: the same function, inline
    assert result["status"] == "ok" and sorted(result["unchanged"]) == ["docs.write", "memory.read", "search.read"]
    standin.add_client("m2m", "s3cret", ("read:resource_servers",))
    cache.clear()
    Scope.objects.create(tenant=tenant, name="memory.write")
    with pytest.raises(CommandError, match="update:resource_servers"):
        call_command("sync_scopes", "--tenant", "acme")
