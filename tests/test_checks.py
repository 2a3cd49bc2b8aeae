"""authz.checks: system checks compared as whole lists (ids, messages, hints, objects)."""

from __future__ import annotations

import pytest
from django.core import checks
from django.core.checks import Error, Warning
from django.db import connection
from pytest_django.fixtures import Settings as SettingsWrapper

from authz import checks as authz_checks
from authz.checks import check_tenants, check_tenants_deploy
from authz.models import Tenant


@pytest.fixture
def no_tenants(db: None) -> None:
    Tenant.objects.all().delete()


def make(slug: str, **fields: object) -> Tenant:
    values = {"name": slug, "resource_url": "https://mcp.example/mcp", "issuer": "https://t.auth0.com/", **fields}
    return Tenant.objects.create(slug=slug, **values)


def test_healthy_tenants_pass(no_tenants: None) -> None:
    make("auth0", jwks_uri="https://t.auth0.com/.well-known/jwks.json", authorization_server="https://t.auth0.com")
    make("local", issuer="http://127.0.0.1:9000/", resource_url="http://127.0.0.1:8000/mcp")
    assert check_tenants(None) == []
    assert [message.id for message in check_tenants_deploy(None)] == ["cortex.W002", "cortex.W003"]


def test_every_error(no_tenants: None, settings: SettingsWrapper) -> None:
    settings.DEBUG = False
    dev = make("dev", use_dev_issuer=True, issuer="")
    none = make("none", auth_mode="none")
    http = make("http", issuer="http://issuer.example/", jwks_uri="http://issuer.example/jwks", algorithms="RS256")
    algs = make("algs", algorithms="RS256 none HS256 XX999")
    empty = make("empty", algorithms="  ")
    bare = make("bare", issuer="")
    assert check_tenants(None) == [
        Error(
            "Tenant's algorithms include none, HS256, XX999, which are not allowed.",
            hint="Allowed: RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA (never none or HMAC). "
            "Auth0 APIs sign with RS256.",
            obj=algs,
            id="cortex.E004",
        ),
        Warning(authz_checks.W001, hint=authz_checks.W001_HINT, obj=bare, id="cortex.W001"),
        Error(authz_checks.E001, hint=authz_checks.E001_HINT, obj=dev, id="cortex.E001"),
        Error(authz_checks.E004_EMPTY, hint=authz_checks.E004_HINT, obj=empty, id="cortex.E004"),
        Error(
            "Tenant's issuer 'http://issuer.example/' is plain http on a non-loopback host.",
            hint="Use https; plain http is only allowed on 127.0.0.1, ::1 or localhost.",
            obj=http,
            id="cortex.E003",
        ),
        Error(
            "Tenant's jwks_uri 'http://issuer.example/jwks' is plain http on a non-loopback host.",
            hint=authz_checks.E003_HINT,
            obj=http,
            id="cortex.E003",
        ),
        Error(authz_checks.E002, hint=authz_checks.E002_HINT, obj=none, id="cortex.E002"),
    ]


def test_debug_allows_the_development_setup(no_tenants: None, settings: SettingsWrapper) -> None:
    settings.DEBUG = True
    make("dev", use_dev_issuer=True, issuer="", resource_url="http://127.0.0.1:8000/mcp")
    make("none", auth_mode="none", issuer="")
    assert check_tenants(None) == []


def test_deploy_checks(no_tenants: None) -> None:
    local = make("local", issuer="http://127.0.0.1:9000/", resource_url="http://127.0.0.1:8000/mcp")
    make("prod")
    assert check_tenants_deploy(None) == [
        Warning(
            "Tenant's resource URL 'http://127.0.0.1:8000/mcp' is not https.",
            hint=authz_checks.W002_HINT,
            obj=local,
            id="cortex.W002",
        ),
        Warning(
            "Tenant's issuer 'http://127.0.0.1:9000/' is not https.",
            hint=authz_checks.W003_HINT,
            obj=local,
            id="cortex.W003",
        ),
    ]


def test_registered_with_django(no_tenants: None, settings: SettingsWrapper) -> None:
    settings.DEBUG = False
    make("dev", use_dev_issuer=True, issuer="", resource_url="http://127.0.0.1:8000/mcp")
    ours = [m.id for m in checks.run_checks(include_deployment_checks=True) if m.id and m.id.startswith("cortex.")]
    assert ours == ["cortex.E001", "cortex.W002"]
    assert [m.id for m in checks.run_checks() if m.id and m.id.startswith("cortex.")] == ["cortex.E001"]


def test_other_apps_only(no_tenants: None) -> None:
    make("dev", use_dev_issuer=True, issuer="")
    from django.apps import apps

    assert check_tenants([apps.get_app_config("tools")]) == []


def test_before_migrate(no_tenants: None) -> None:
    make("dev", use_dev_issuer=True, issuer="")
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE authz_tenant RENAME TO authz_tenant_away")  # as if not migrated yet
    assert check_tenants(None) == []
    assert check_tenants_deploy(None) == []


@pytest.mark.parametrize(
    ("environ", "ids"),
    [
        ({}, ["cortex.E001"]),
        ({"AUTH0_DOMAIN": "t.auth0.com"}, []),  # the next migrate switches the dev issuer off: no dead end
        ({"AUTH_MODE": "none", "AUTH_ISSUER": "https://login.example/"}, ["cortex.E002"]),
        ({"AUTH_ISSUER": "http://not-loopback.example/"}, ["cortex.E001"]),  # invalid: bootstrap reports it
    ],
)
def test_default_tenant_is_judged_with_the_environment(
    no_tenants: None,
    settings: SettingsWrapper,
    monkeypatch: pytest.MonkeyPatch,
    environ: dict[str, str],
    ids: list[str],
) -> None:
    settings.DEBUG = False
    for name in ["AUTH_MODE", "AUTH0_DOMAIN", "AUTH_ISSUER", "AUTH_JWKS_URI", "AUTH_AUTHORIZATION_SERVER"]:
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    make("default", use_dev_issuer=True, issuer="", resource_url="http://127.0.0.1:8000/mcp")
    assert [message.id for message in check_tenants(None)] == ids
