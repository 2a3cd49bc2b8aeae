"""The doctor against the Auth0 stand-in: a healthy setup has no FAIL, and every row of the seed guide's
troubleshooting table, reproduced by breaking the one thing that causes it, gives a FAIL naming that cause."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from pytest_django.fixtures import Settings as SettingsWrapper

from authz import doctor
from authz.models import DEFAULT_TENANT, Tenant
from tests.auth0_login import Auth0Login
from tools.models import Tool

RESOURCE = "https://mcp.example/mcp"
SEED_SCOPES = ["search.read", "docs.write", "memory.read", "memory.write", "memory.delete"]
GRANTS = ("read:resource_servers", "update:resource_servers", "read:tenant_settings")


@pytest.fixture
def auth0() -> Iterator[Auth0Login]:
    server = Auth0Login()
    server.add_client("m2m", "m2m-secret", GRANTS)
    server.add_resource_server(RESOURCE, [{"value": name, "description": name} for name in SEED_SCOPES])
    yield server
    server.stop()


@pytest.fixture
def tenant(db: None, fresh_caches: None, auth0: Auth0Login, settings: SettingsWrapper) -> Tenant:
    """The default tenant set up as the seed guide says, against the stand-in."""
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "mcp.example"]
    tenant, _ = Tenant.objects.update_or_create(
        slug=DEFAULT_TENANT,
        defaults={
            "name": "Default",
            "use_dev_issuer": False,
            "issuer": auth0.issuer,
            "authorization_server": auth0.base,
            "jwks_uri": auth0.jwks_uri,
            "audience": RESOURCE,
            "resource_url": RESOURCE,
            "auth_mode": Tenant.AuthMode.OAUTH2,
            "mgmt_domain": auth0.host,
            "mgmt_client_id": "m2m",
            "mgmt_client_secret": "m2m-secret",
        },
    )
    return tenant


def rows_by_status(rows: list[doctor.Row], status: doctor.Status) -> list[doctor.Row]:
    return [row for row in rows if row.status is status]


def test_a_healthy_setup_passes(tenant: Tenant, auth0: Auth0Login, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCP_RESOURCE_URL", RESOURCE)
    token = auth0.mint("login-key", RESOURCE)
    rows = doctor.run(Tenant.objects.get(pk=tenant.pk), token)
    assert rows_by_status(rows, doctor.Status.FAIL) == []
    assert rows_by_status(rows, doctor.Status.WARN) == []
    checks = {row.check for row in rows}
    assert {"resource URL", "metadata", "metadata resource", "discovery", "issuer", "registration", "pkce"} <= checks
    assert {"jwks", "api", "api rbac", "api permissions", "api scopes", "resource parameter", "token"} <= checks
    assert [row.message for row in rows if row.check == "token tools"] == [
        f"can call {name}"
        for name in [
            "codebase.search",
            "docs.create",
            "local_memory_delete",
            "local_memory_search",
            "local_memory_store",
        ]
    ]


Break = Callable[[Tenant, Auth0Login, pytest.MonkeyPatch], Any]


def _set(**fields: Any) -> Break:
    def apply(tenant: Tenant, auth0: Auth0Login, monkeypatch: pytest.MonkeyPatch) -> None:
        Tenant.objects.filter(pk=tenant.pk).update(**fields)

    return apply


def _rs(**fields: Any) -> Break:
    def apply(tenant: Tenant, auth0: Auth0Login, monkeypatch: pytest.MonkeyPatch) -> None:
        next(iter(auth0.resource_servers.values())).update(fields)

    return apply


def _standin(**fields: Any) -> Break:
    def apply(tenant: Tenant, auth0: Auth0Login, monkeypatch: pytest.MonkeyPatch) -> None:
        for name, value in fields.items():
            setattr(auth0, name, value)

    return apply


def _env(name: str, value: str) -> Break:
    return lambda tenant, auth0, monkeypatch: monkeypatch.setenv(name, value)


def _orphan_tool(tenant: Tenant, auth0: Auth0Login, monkeypatch: pytest.MonkeyPatch) -> None:
    Tool.objects.create(tenant=tenant, name="gone.tool", enabled=True)


def _issuer_without_slash(tenant: Tenant, auth0: Auth0Login, monkeypatch: pytest.MonkeyPatch) -> None:
    Tenant.objects.filter(pk=tenant.pk).update(issuer=auth0.base)


# (troubleshooting row, what is broken, the check that must FAIL, words its message must contain)
CASES: list[tuple[str, str, Break | str, str, str]] = [
    (
        "401 invalid_token",
        "issuer without trailing slash",
        _issuer_without_slash,
        "issuer",
        "but tokens are checked against",
    ),
    (
        "401 invalid_token",
        "no Auth0 API with the audience",
        _set(audience="https://other.example/mcp"),
        "api",
        "no Auth0 API has the identifier 'https://other.example/mcp'",
    ),
    ("401 invalid_token", "JWKS endpoint down", _standin(jwks_mode="down"), "jwks", "is not reachable (HTTP 503)"),
    (
        "401 invalid_token",
        "token for another audience",
        "aud",
        "token",
        "audience mismatch: expected 'https://mcp.example/mcp'",
    ),
    ("401 invalid_token", "expired token", "exp", "token", "token expired at"),
    ("401 insufficient_scope", "RBAC off", _rs(enforce_policies=False), "api rbac", "RBAC is off"),
    (
        "401 insufficient_scope",
        "permissions not in token",
        _rs(token_dialect="access_token"),
        "api permissions",
        "not added to the access token",
    ),
    (
        "401 insufficient_scope",
        "API lacks docs.write",
        _rs(scopes=[{"value": "search.read"}]),
        "api scopes",
        "docs.write (for docs.create)",
    ),
    (
        "401 insufficient_scope",
        "token lacks docs.write",
        "scopes",
        "token tools",
        "cannot call docs.create: missing docs.write",
    ),
    ("register connector", "DCR off", _standin(dcr=False), "registration", "no registration_endpoint"),
    ("register connector", "no PKCE S256", _standin(pkce_methods=["plain"]), "pkce", "without S256"),
    (
        "register connector",
        "authorization server unreachable",
        _set(authorization_server="http://127.0.0.1:9"),
        "discovery",
        "is not reachable",
    ),
    (
        "metadata missing scopes",
        "resource differs from MCP_RESOURCE_URL",
        _env("MCP_RESOURCE_URL", "https://mcp.example/other"),
        "metadata resource",
        "MCP_RESOURCE_URL is 'https://mcp.example/other'",
    ),
    (
        "metadata missing scopes",
        "enabled tool without handler",
        _orphan_tool,
        "metadata tools",
        "no handler registered",
    ),
    (
        "metadata missing scopes",
        "host not allowed",
        _set(resource_url="https://elsewhere.example/mcp", audience="https://elsewhere.example/mcp"),
        "metadata",
        "not in ALLOWED_HOSTS",
    ),
    ("https", "plain-http resource", _set(resource_url="http://mcp.example/mcp"), "resource URL", "is plain http"),
]


@pytest.mark.parametrize(("row", "broken", "action", "check", "words"), CASES, ids=[case[1] for case in CASES])
def test_each_troubleshooting_row_fails_with_its_cause(
    tenant: Tenant,
    auth0: Auth0Login,
    monkeypatch: pytest.MonkeyPatch,
    row: str,
    broken: str,
    action: Break | str,
    check: str,
    words: str,
) -> None:
    monkeypatch.setenv("MCP_RESOURCE_URL", RESOURCE)
    token = auth0.mint("login-key", RESOURCE)
    if action == "aud":
        token = auth0.mint("login-key", "https://another.example/api")
    elif action == "exp":
        token = auth0.mint("login-key", RESOURCE, ttl=-3600)
    elif action == "scopes":
        token = auth0.mint("login-key", RESOURCE, permissions=["search.read"], scope="openid")
    elif callable(action):
        action(tenant, auth0, monkeypatch)
    rows = doctor.run(Tenant.objects.get(pk=tenant.pk), token)
    failures = rows_by_status(rows, doctor.Status.FAIL)
    assert any(item.check == check and words in item.message for item in failures), [
        (item.check, item.message) for item in failures
    ]
    assert all(item.fix for item in failures)


def test_no_management_credentials_is_a_warning(tenant: Tenant) -> None:
    Tenant.objects.filter(pk=tenant.pk).update(mgmt_client_id="", mgmt_client_secret="")
    rows = doctor.run(Tenant.objects.get(pk=tenant.pk))
    api = [row for row in rows if row.check == "api"]
    assert [(row.status, row.message) for row in api] == [
        (doctor.Status.WARN, "the Auth0 API was not checked: no Management API credentials")
    ]


def test_compatibility_profile_off_is_a_warning(tenant: Tenant, auth0: Auth0Login) -> None:
    auth0.tenant_settings["resource_parameter_profile"] = "audience"
    rows = doctor.run(Tenant.objects.get(pk=tenant.pk))
    (row,) = [row for row in rows if row.check == "resource parameter"]
    assert row.status is doctor.Status.WARN and "Resource Parameter Compatibility Profile" in row.fix


def test_command_prints_rows_and_exits_non_zero_on_fail(tenant: Tenant, auth0: Auth0Login) -> None:
    out = StringIO()
    call_command("oauth_doctor", "--tenant", DEFAULT_TENANT, stdout=out)
    text = out.getvalue()
    assert "PASS" in text and "registration" in text and text.rstrip().endswith("0 FAIL")
    auth0.dcr = False
    out = StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("oauth_doctor", "--tenant", DEFAULT_TENANT, "--token", "not-a-jwt", stdout=out)
    assert exited.value.code == 1
    text = out.getvalue()
    assert "FAIL" in text and "enable Dynamic Client Registration" in text and "opaque token" in text


def test_command_unknown_tenant(db: None) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no tenant 'nope'"):
        call_command("oauth_doctor", "--tenant", "nope")


def test_dev_issuer_tenant_warns_it_cannot_connect(make_tenant: Callable[..., Tenant]) -> None:
    tenant = make_tenant()
    rows = doctor.run(tenant)
    # Only the plain-http resource URL of the test server fails; nothing Auth0 is checked.
    assert [row.check for row in rows_by_status(rows, doctor.Status.FAIL)] == ["resource URL"]
    assert not {"api", "registration", "pkce"} & {row.check for row in rows}
    (row,) = [row for row in rows if row.check == "discovery"]
    assert row.status is doctor.Status.WARN and "development issuer" in row.message
