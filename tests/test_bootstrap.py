"""authz.bootstrap: the default tenant from the seed guide's environment variables."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from pytest_django.fixtures import Settings as SettingsWrapper

from authz.bootstrap import bootstrap_after_migrate, bootstrap_default_tenant
from authz.metadata import connector_scopes
from authz.models import Scope, Tenant
from tools.models import Tool

SEED_SCOPES = ["search.read", "docs.write", "memory.read", "memory.write", "memory.delete"]
FIELDS = ["auth_mode", "use_dev_issuer", "issuer", "authorization_server", "jwks_uri", "audience", "resource_url"]


@pytest.fixture
def fresh(db: None, fresh_caches: None) -> None:
    """No default tenant yet (the test database's migrate made one)."""
    Tenant.objects.filter(slug="default").delete()


def fields_of(tenant: Tenant) -> dict[str, Any]:
    return {name: getattr(tenant, name) for name in FIELDS}


AUTH0 = {
    "auth_mode": "oauth2",
    "use_dev_issuer": False,
    "issuer": "https://TENANT.auth0.com/",
    "authorization_server": "https://TENANT.auth0.com",
    "jwks_uri": "https://TENANT.auth0.com/.well-known/jwks.json",
    "audience": "https://your-mcp-host/mcp",
    "resource_url": "https://your-mcp-host/mcp",
}
CREATE_CASES: list[tuple[str, dict[str, str], bool, dict[str, Any]]] = [
    (
        "seed guide",
        {
            "AUTH_MODE": "oauth2",
            "AUTH0_DOMAIN": "TENANT.auth0.com",
            "AUTH0_AUDIENCE": "https://your-mcp-host/mcp",
            "MCP_RESOURCE_URL": "https://your-mcp-host/mcp",
            "REQUIRED_SCOPES": "search.read docs.write memory.read memory.write memory.delete",
        },
        False,
        AUTH0,
    ),
    (
        "domain written as a URL",
        {
            "AUTH0_DOMAIN": "https://TENANT.auth0.com/",
            "AUTH0_AUDIENCE": "https://your-mcp-host/mcp",
            "MCP_RESOURCE_URL": "https://your-mcp-host/mcp",
        },
        False,
        AUTH0,
    ),
    (
        "any OIDC issuer",
        {"AUTH_ISSUER": "https://kc.example/realms/cortex", "MCP_RESOURCE_URL": "https://mcp.example/mcp"},
        False,
        {
            "auth_mode": "oauth2",
            "use_dev_issuer": False,
            "issuer": "https://kc.example/realms/cortex",
            "authorization_server": "https://kc.example/realms/cortex",
            "jwks_uri": "https://kc.example/realms/cortex/.well-known/jwks.json",
            "audience": "",
            "resource_url": "https://mcp.example/mcp",
        },
    ),
    (
        "overrides win over AUTH0_DOMAIN",
        {
            "AUTH0_DOMAIN": "TENANT.auth0.com",
            "AUTH_ISSUER": "https://login.example/",
            "AUTH_JWKS_URI": "https://keys.example/jwks.json",
            "AUTH_AUTHORIZATION_SERVER": "https://as.example",
            "AUTH_MODE": "optional",
        },
        False,
        {
            "auth_mode": "optional",
            "use_dev_issuer": False,
            "issuer": "https://login.example/",
            "authorization_server": "https://as.example",
            "jwks_uri": "https://keys.example/jwks.json",
            "audience": "",
            "resource_url": "http://127.0.0.1:8000/mcp",
        },
    ),
    (
        "plain http issuer on loopback",
        {"AUTH_ISSUER": "http://127.0.0.1:9000/"},
        False,
        {
            "auth_mode": "oauth2",
            "use_dev_issuer": False,
            "issuer": "http://127.0.0.1:9000/",
            "authorization_server": "http://127.0.0.1:9000",
            "jwks_uri": "http://127.0.0.1:9000/.well-known/jwks.json",
            "audience": "",
            "resource_url": "http://127.0.0.1:8000/mcp",
        },
    ),
    (
        "nothing, DEBUG on: the development issuer",
        {"MCP_RESOURCE_URL": "http://localhost:8000/mcp"},
        True,
        {
            "auth_mode": "oauth2",
            "use_dev_issuer": True,
            "issuer": "http://localhost:8000/dev-issuer/",
            "authorization_server": "http://localhost:8000/dev-issuer",
            "jwks_uri": "http://localhost:8000/dev-issuer/.well-known/jwks.json",
            "audience": "",
            "resource_url": "http://localhost:8000/mcp",
        },
    ),
    (
        "nothing, DEBUG off: no issuer (system check cortex.W001)",
        {},
        False,
        {
            "auth_mode": "oauth2",
            "use_dev_issuer": False,
            "issuer": "",
            "authorization_server": "",
            "jwks_uri": "",
            "audience": "",
            "resource_url": "http://127.0.0.1:8000/mcp",
        },
    ),
]


@pytest.mark.parametrize(
    ("environ", "debug", "expected"), [c[1:] for c in CREATE_CASES], ids=[c[0] for c in CREATE_CASES]
)
def test_create(
    fresh: None, settings: SettingsWrapper, environ: dict[str, str], debug: bool, expected: dict[str, Any]
) -> None:
    settings.DEBUG = debug
    tenant = bootstrap_default_tenant(environ)
    assert (tenant.slug, tenant.name) == ("default", "Default")
    assert fields_of(tenant) == expected
    assert connector_scopes(tenant) == SEED_SCOPES  # in REQUIRED_SCOPES order
    assert Tool.objects.filter(tenant=tenant).count() == 5  # the tool rows follow


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"AUTH_ISSUER": "http://issuer.example/"}, "AUTH_ISSUER='http://issuer.example/' uses plain http"),
        ({"AUTH_ISSUER": "http://127.0.0.1.nip.io/"}, "uses plain http on a non-loopback host"),
        ({"AUTH0_DOMAIN": "t.auth0.com", "AUTH_JWKS_URI": "http://keys.example/j"}, "AUTH_JWKS_URI="),
        ({"AUTH_ISSUER": "https://x/", "AUTH_AUTHORIZATION_SERVER": "http://as.example"}, "AUTH_AUTHORIZATION_SERVER="),
        ({"AUTH_ISSUER": "issuer.example"}, "is not an http(s) URL"),
        ({"MCP_RESOURCE_URL": "/mcp"}, "MCP_RESOURCE_URL='/mcp' is not an http(s) URL"),
        ({"AUTH_MODE": "off"}, "AUTH_MODE='off': expected one of oauth2, optional, none"),
        ({"AUTH0_DOMAIN": "t.auth0.com/x"}, "should be a host name"),
        ({"REQUIRED_SCOPES": 'good "bad"'}, "REQUIRED_SCOPES: '\"bad\"' is not a valid scope name"),
    ],
)
def test_refused_environments(fresh: None, environ: dict[str, str], message: str) -> None:
    with pytest.raises(ImproperlyConfigured) as caught:
        bootstrap_default_tenant(environ)
    assert message in str(caught.value)
    assert not Tenant.objects.filter(slug="default").exists()


@pytest.mark.parametrize("host", ["127.0.0.1", "127.9.9.9", "[::1]", "localhost"])
def test_loopback_hosts(fresh: None, host: str) -> None:
    assert bootstrap_default_tenant({"AUTH_ISSUER": f"http://{host}:9000/"}).issuer == f"http://{host}:9000/"


def test_environment_wins_only_for_the_fields_it_names(fresh: None) -> None:
    tenant = bootstrap_default_tenant({"AUTH0_DOMAIN": "a.auth0.com"})
    Tenant.objects.filter(pk=tenant.pk).update(
        audience="https://admin-set/api", leeway_seconds=5, resource_name="Admin's name", challenge_style="result"
    )
    tenant = bootstrap_default_tenant({"AUTH_MODE": "optional", "AUTH0_DOMAIN": "b.auth0.com"})
    assert (tenant.auth_mode, tenant.issuer, tenant.audience) == (
        "optional",
        "https://b.auth0.com/",
        "https://admin-set/api",
    )
    assert (tenant.leeway_seconds, tenant.resource_name, tenant.challenge_style) == (5, "Admin's name", "result")
    assert Tenant.objects.filter(slug="default").count() == 1


def test_scopes_are_added_never_deleted(fresh: None) -> None:
    tenant = bootstrap_default_tenant({"REQUIRED_SCOPES": "a.read,b.write search.read"})
    assert connector_scopes(tenant)[:3] == ["a.read", "b.write", "search.read"]
    Scope.objects.create(tenant=tenant, name="admin.added")
    tenant = bootstrap_default_tenant({"REQUIRED_SCOPES": "c.delete"})
    names = set(Scope.objects.filter(tenant=tenant).values_list("name", flat=True))
    assert {"a.read", "b.write", "search.read", "admin.added", "c.delete"} <= names
    descriptions = dict(Scope.objects.filter(tenant=tenant).values_list("name", "description"))
    assert descriptions["search.read"] == "Allows search tools to run"


def test_unset_scopes_on_update_add_nothing(fresh: None) -> None:
    tenant = bootstrap_default_tenant({})
    Scope.objects.filter(tenant=tenant, name="memory.delete").delete()
    tenant = bootstrap_default_tenant({})
    assert "memory.delete" not in connector_scopes(tenant)


def test_dev_issuer_switches_off_with_a_domain_and_follows_the_resource(fresh: None, settings: SettingsWrapper) -> None:
    settings.DEBUG = True
    assert bootstrap_default_tenant({}).use_dev_issuer
    moved = bootstrap_default_tenant({"MCP_RESOURCE_URL": "http://127.0.0.1:9999/mcp"})
    assert moved.issuer == "http://127.0.0.1:9999/dev-issuer/"
    tenant = bootstrap_default_tenant({"AUTH0_DOMAIN": "t.auth0.com"})
    assert (tenant.use_dev_issuer, tenant.issuer) == (False, "https://t.auth0.com/")
    assert bootstrap_default_tenant({}).issuer == "https://t.auth0.com/"  # an issuer is kept, not replaced


def test_after_migrate_reads_the_process_environment(fresh: None, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ["AUTH_ISSUER", "AUTH_JWKS_URI", "AUTH_AUTHORIZATION_SERVER", "AUTH0_AUDIENCE", "REQUIRED_SCOPES"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AUTH0_DOMAIN", "env.auth0.com")
    monkeypatch.setenv("AUTH_MODE", "optional")
    bootstrap_after_migrate(using="default", verbosity=0)
    tenant = Tenant.objects.get(slug="default")
    assert (tenant.issuer, tenant.auth_mode) == ("https://env.auth0.com/", "optional")
    bootstrap_after_migrate(using="other")  # only the default database is bootstrapped
