"""The operator's admin: tenant setup page, write-only secrets, tools inline, actions (JWKS refresh, scope
sync against the Auth0 stand-in, development token, re-index), the audit log's filters, the doctor page."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from authz import devissuer
from authz.models import Scope, ScopeSyncRun, Tenant
from tests.auth0_login import Auth0Login
from tools.models import Codebase, Tool, ToolCall

pytestmark = pytest.mark.django_db
RESOURCE = "https://mcp.example/mcp"


@pytest.fixture
def auth0() -> Iterator[Auth0Login]:
    server = Auth0Login()
    server.add_client("m2m", "m2m-secret")
    server.add_resource_server(RESOURCE, [{"value": "legacy.scope", "description": "kept"}])
    yield server
    server.stop()


@pytest.fixture
def remote(fresh_caches: None, auth0: Auth0Login) -> Tenant:
    return Tenant.objects.create(
        slug="remote", name="Remote", issuer=auth0.issuer, jwks_uri=auth0.jwks_uri, resource_url=RESOURCE,
        mgmt_domain=auth0.host, mgmt_client_id="m2m", mgmt_client_secret="m2m-secret",
    )  # fmt: skip


def messages_of(reply: object) -> list[str]:
    return [str(message) for message in get_messages(reply.wsgi_request)]  # type: ignore[attr-defined]


def action(client: Client, path: str, name: str, *pks: int) -> object:
    return client.post(path, {"action": name, "_selected_action": [str(pk) for pk in pks]}, follow=True)


def test_tenant_page_groups_fields_with_auth0_help_and_operator_links(admin_client: Client, remote: Tenant) -> None:
    page = admin_client.get(f"/admin/authz/tenant/{remote.pk}/change/").content.decode()
    for words in ["Auth0 (the authorization server)", "Auth0 Management API", "Must equal the Auth0 API Identifier",
                  "Connect ChatGPT", "Doctor", "name=\"tools-0-enabled\"", "name=\"tools-0-scopes\""]:  # fmt: skip
        assert words in page, words
    listing = admin_client.get("/admin/authz/tenant/").content.decode()
    assert f"/admin/authz/tenant/{remote.pk}/connect/" in listing


def test_management_secret_is_write_only(admin_client: Client, remote: Tenant) -> None:
    page = admin_client.get(f"/admin/authz/tenant/{remote.pk}/change/").content.decode()
    assert "m2m-secret" not in page and "A secret is stored." in page
    form = admin_client.get(f"/admin/authz/tenant/{remote.pk}/change/").context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name != "mgmt_client_secret"}
    data.update({f"{prefix}-{key}": value for prefix in ("scopes", "tools")
                 for key, value in {"TOTAL_FORMS": 0, "INITIAL_FORMS": 0}.items()})  # fmt: skip
    data["mgmt_client_secret"] = ""
    reply = admin_client.post(f"/admin/authz/tenant/{remote.pk}/change/", data)
    assert reply.status_code == 302, reply.context["adminform"].form.errors if reply.context else reply
    assert Tenant.objects.get(pk=remote.pk).mgmt_client_secret == "m2m-secret"  # empty keeps it
    data["mgmt_client_secret"] = "rotated"
    admin_client.post(f"/admin/authz/tenant/{remote.pk}/change/", data)
    assert Tenant.objects.get(pk=remote.pk).mgmt_client_secret == "rotated"


def test_editing_a_tools_scopes_inline_changes_the_metadata(admin_client: Client, remote: Tenant) -> None:
    tool = Tool.objects.get(tenant=remote, name="docs.create")
    search = Scope.objects.get(tenant=remote, name="search.read")
    reply = admin_client.post(f"/admin/tools/tool/{tool.pk}/change/", {
        "enabled": "on", "title": "Create a doc", "description": "", "scopes": [search.pk],
    })  # fmt: skip
    assert reply.status_code == 302
    metadata = json.loads(admin_client.get("/.well-known/oauth-protected-resource/t/remote/mcp").content)
    assert metadata["scopes"]["docs.create"] == ["search.read"]


def test_refresh_jwks_action(admin_client: Client, remote: Tenant, auth0: Auth0Login) -> None:
    reply = action(admin_client, "/admin/authz/tenant/", "refresh_jwks", remote.pk)
    assert messages_of(reply) == [f"remote: JWKS refreshed from {auth0.jwks_uri} (kids: login-key)"]
    auth0.jwks_mode = "down"
    reply = action(admin_client, "/admin/authz/tenant/", "refresh_jwks", remote.pk)
    assert "JWKS refresh failed" in messages_of(reply)[0]


def test_sync_scopes_action_records_a_run(admin_client: Client, remote: Tenant, auth0: Auth0Login) -> None:
    reply = action(admin_client, "/admin/authz/tenant/", "sync_scopes", remote.pk)
    assert messages_of(reply) == [
        "remote: scopes synced (added: docs.write, memory.delete, memory.read, memory.write, search.read)"
    ]
    values = [scope["value"] for scope in next(iter(auth0.resource_servers.values()))["scopes"]]
    assert "legacy.scope" in values and "docs.write" in values
    run = ScopeSyncRun.objects.get(tenant=remote)
    listing = admin_client.get("/admin/authz/scopesyncrun/").content.decode()
    assert run.status == ScopeSyncRun.Status.OK
    assert "legacy.scope" in listing  # the kept (foreign) scope is shown
    assert admin_client.get("/admin/authz/scopesyncrun/add/").status_code == 403


def test_mint_dev_token_only_for_the_dev_issuer(
    admin_client: Client, remote: Tenant, make_tenant: Callable[..., Tenant]
) -> None:
    dev = make_tenant("devco")
    reply = action(admin_client, "/admin/authz/tenant/", "mint_dev_token", dev.pk, remote.pk)
    texts = messages_of(reply)
    assert any(text.startswith("devco: development token (") for text in texts)
    assert "remote: not minted: only tenants that trust the development issuer, with DEBUG on" in texts
    token = next(text for text in texts if text.startswith("devco:")).rsplit(" ", 1)[1]
    from authz.verifier import verify_token

    assert verify_token(dev, token).subject == "admin|admin"
    assert devissuer.DEV_ISSUER_PATH in verify_token(dev, token).claims["iss"]


def test_reindex_codebase_action(admin_client: Client, remote: Tenant, tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("print('hello')\n")
    codebase = Codebase.objects.create(tenant=remote, name="demo", root=str(tmp_path))
    reply = action(admin_client, "/admin/tools/codebase/", "reindex", codebase.pk)
    (text,) = messages_of(reply)
    assert text.startswith("demo: re-indexed (")


def test_audit_log_filters_and_search(admin_client: Client, remote: Tenant) -> None:
    ToolCall.objects.create(tenant=remote, tool="docs.create", outcome="denied", subject="auth0|bob", duration_ms=1)
    ToolCall.objects.create(tenant=remote, tool="codebase.search", outcome="ok", subject="auth0|amy", duration_ms=2)
    base = "/admin/tools/toolcall/"
    page = admin_client.get(base).content.decode()
    for facet in ["By outcome", "By tenant", "By tool", "By created", "By subject"]:
        assert facet in page, facet
    only = admin_client.get(base, {"outcome": "denied", "tool": "docs.create", "subject": "auth0|bob"})
    assert [call.tool for call in only.context["cl"].result_list] == ["docs.create"]
    found = admin_client.get(base, {"q": "amy"})
    assert [call.subject for call in found.context["cl"].result_list] == ["auth0|amy"]


def test_doctor_page(admin_client: Client, remote: Tenant, settings: object) -> None:
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "mcp.example"]  # type: ignore[attr-defined]
    page = admin_client.get(f"/admin/authz/tenant/{remote.pk}/doctor/").content.decode()
    assert "doctor-pass" in page and "registration_endpoint" in page
    checked = admin_client.post(f"/admin/authz/tenant/{remote.pk}/doctor/", {"token": "opaque"}).content.decode()
    assert "opaque token" in checked and "doctor-fail" in checked
