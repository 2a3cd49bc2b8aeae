"""tools.service: descriptors for tools/list and the tools/call sequence (authorize, validate, run, audit).

This module also registers a tool of its own (``TOOL`` below, added to CORTEX_TOOL_MODULES by a fixture) to
drive the paths the built-in tools never take: a handler that crashes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pytest_django.fixtures import Settings

from authz.errors import InsufficientScope, MissingToken
from authz.models import Scope, Tenant
from authz.principal import Principal
from tools import catalog, service
from tools.models import Document, Tool, ToolCall
from tools.registry import ToolContext, ToolOutput, ToolSpec, registry
from tools.sync import sync_tools

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_caches")]

SEED = {
    "codebase.search": ["search.read"],
    "docs.create": ["docs.write"],
    "local_memory_delete": ["memory.delete"],
    "local_memory_search": ["memory.read"],
    "local_memory_store": ["memory.write"],
}
EVERYTHING = frozenset(scope for scopes in SEED.values() for scope in scopes)


def principal(scopes: frozenset[str] = EVERYTHING, subject: str = "alice") -> Principal:
    return Principal(subject=subject, client_id="client-7", scopes=scopes, expires_at=0)


def _crash(ctx: ToolContext, args: dict[str, Any]) -> ToolOutput:
    raise RuntimeError("secret internals /srv/app/db.sqlite3")


TOOL = ToolSpec(
    name="test.crash",
    title="Crash",
    description="Always fails.",
    input_schema={"type": "object", "properties": {}, "additionalProperties": False},
    default_scopes=(),
    handler=_crash,
)


@pytest.fixture
def tenant() -> Tenant:
    made = Tenant.objects.create(slug="svc-co", name="Svc", resource_url="https://svc.example/mcp")
    made.refresh_from_db()
    return made


@pytest.fixture
def crash_tool(settings: Settings, tenant: Tenant) -> Iterator[None]:
    settings.CORTEX_TOOL_MODULES = [*settings.CORTEX_TOOL_MODULES, "tests.test_service"]
    registry.cache_clear()
    sync_tools(tenant)
    yield
    registry.cache_clear()


def audit() -> list[tuple[str, str, str, str, str]]:
    return [(row.tool, row.outcome, row.subject, row.client_id, row.error) for row in ToolCall.objects.order_by("id")]


# ---------------------------------------------------------------------------------------------- list_tools


def test_list_tools_describes_the_seed_tools(tenant: Tenant) -> None:
    tools = service.list_tools(tenant)
    assert [tool["name"] for tool in tools] == sorted(SEED)
    for tool in tools:
        schemes = [{"type": "oauth2", "scopes": SEED[tool["name"]]}]
        assert tool["securitySchemes"] == schemes
        assert tool["_meta"] == {"securitySchemes": schemes}
        assert tool["inputSchema"]["type"] == "object"
        assert tool["inputSchema"]["additionalProperties"] is False
        assert tool["outputSchema"]["type"] == "object"
        assert tool["title"] and tool["description"]
    by_name = {tool["name"]: tool for tool in tools}
    assert by_name["codebase.search"]["annotations"]["readOnlyHint"] is True
    assert by_name["local_memory_search"]["annotations"]["readOnlyHint"] is True
    assert by_name["local_memory_delete"]["annotations"]["destructiveHint"] is True
    assert by_name["docs.create"]["annotations"]["readOnlyHint"] is False


@pytest.mark.parametrize(
    ("auth_mode", "noauth", "expected"),
    [
        ("oauth2", False, [{"type": "oauth2", "scopes": ["docs.write"]}]),
        ("oauth2", True, [{"type": "oauth2", "scopes": ["docs.write"]}]),  # oauth2 mode: every request needs a token
        ("optional", False, [{"type": "oauth2", "scopes": ["docs.write"]}]),
        ("optional", True, [{"type": "noauth"}, {"type": "oauth2", "scopes": ["docs.write"]}]),
        ("none", False, [{"type": "noauth"}]),
    ],
)
def test_security_schemes_follow_auth_mode_and_noauth(
    tenant: Tenant, auth_mode: str, noauth: bool, expected: list[dict[str, Any]]
) -> None:
    Tenant.objects.filter(pk=tenant.pk).update(auth_mode=auth_mode)
    tool = Tool.objects.get(tenant=tenant, name="docs.create")
    tool.noauth = noauth
    tool.save()
    tenant.refresh_from_db()
    [docs] = [item for item in service.list_tools(tenant) if item["name"] == "docs.create"]
    assert docs["securitySchemes"] == expected
    assert docs["_meta"]["securitySchemes"] == expected


def test_list_tools_follows_admin_edits_and_is_cached(tenant: Tenant) -> None:
    service.list_tools(tenant)
    with CaptureQueriesContext(connection) as queries:
        service.list_tools(tenant)
    assert len(queries) == 0  # warm: no database work on the hot path

    tool = Tool.objects.get(tenant=tenant, name="docs.create")
    tool.enabled = False
    tool.save()
    search = Tool.objects.get(tenant=tenant, name="codebase.search")
    search.title = "Find code"
    search.save()
    search.scopes.add(Scope.objects.get(tenant=tenant, name="memory.read"))
    tenant.refresh_from_db()
    tools = {tool["name"]: tool for tool in service.list_tools(tenant)}
    assert "docs.create" not in tools
    assert tools["codebase.search"]["title"] == "Find code"
    assert tools["codebase.search"]["securitySchemes"] == [{"type": "oauth2", "scopes": ["memory.read", "search.read"]}]


def test_list_tools_hides_rows_without_a_handler(tenant: Tenant) -> None:
    Tool.objects.create(tenant=tenant, name="gone.tool")
    tenant.refresh_from_db()
    assert "gone.tool" not in [tool["name"] for tool in service.list_tools(tenant)]


# ---------------------------------------------------------------------------------------------- call_tool


def test_ok_call_returns_text_and_structured_content_and_is_audited(tenant: Tenant) -> None:
    result = service.call_tool(tenant, principal(), "docs.create", {"title": "Plan", "body": "A body long enough."})
    assert result.is_error is False
    assert result.structured is not None
    assert result.content == [
        {"type": "text", "text": f"Created document {result.structured['uri']}\n\n# Plan\n\nA body long enough.\n"}
    ]
    assert audit() == [("docs.create", "ok", "alice", "client-7", "")]
    row = ToolCall.objects.get()
    assert row.tenant == tenant
    assert row.duration_ms >= 0


def test_warm_call_costs_only_the_tools_own_query_and_the_audit_insert(tenant: Tenant) -> None:
    arguments = {"title": "Plan", "body": "A body long enough."}
    service.call_tool(tenant, principal(), "docs.create", arguments)
    with CaptureQueriesContext(connection) as queries:
        service.call_tool(tenant, principal(), "docs.create", arguments)
    assert [query["sql"].split()[0] for query in queries.captured_queries] == ["INSERT", "INSERT"]
    assert Document.objects.count() == 2


@pytest.mark.parametrize("name", ["nope", "docs.create ", "", "test.crash"])
def test_unknown_tool(tenant: Tenant, name: str) -> None:
    with pytest.raises(service.UnknownTool) as caught:
        service.call_tool(tenant, principal(), name, {})
    assert str(caught.value) == f"Unknown tool: {name}"
    assert audit() == [(name, "denied", "alice", "client-7", f"Unknown tool: {name}")]


def test_disabled_tool_is_unknown(tenant: Tenant) -> None:
    Tool.objects.filter(tenant=tenant, name="docs.create").update(enabled=False)
    tenant.refresh_from_db()
    catalog._cache.clear()  # queryset.update sends no signal
    with pytest.raises(service.UnknownTool, match=r"^Unknown tool: docs\.create$"):
        service.call_tool(tenant, principal(), "docs.create", {"title": "Plan", "body": "A body long enough."})
    assert not Document.objects.exists()


def test_tool_of_another_tenant_only_counts_there(tenant: Tenant) -> None:
    other = Tenant.objects.create(slug="svc-other", name="Other", resource_url="https://o.example/mcp")
    Tool.objects.filter(tenant=other, name="docs.create").delete()
    other.refresh_from_db()
    with pytest.raises(service.UnknownTool):
        service.call_tool(other, principal(), "docs.create", {})
    assert (
        service.call_tool(tenant, principal(), "docs.create", {"title": "Plan", "body": "0123456789"}).is_error is False
    )


def test_missing_token(tenant: Tenant) -> None:
    with pytest.raises(MissingToken):
        service.call_tool(tenant, None, "docs.create", {"title": "Plan", "body": "A body long enough."})
    assert audit() == [("docs.create", "denied", "", "", "Authorization required: send a bearer token")]
    assert not Document.objects.exists()


@pytest.mark.parametrize(
    ("tool_scopes", "token_scopes", "missing"),
    [
        (["docs.write"], set(), ["docs.write"]),
        (["docs.write"], {"search.read", "memory.read"}, ["docs.write"]),
        (["docs.write", "search.read"], {"search.read"}, ["docs.write"]),
        (["docs.write", "search.read"], set(), ["docs.write", "search.read"]),
    ],
)
def test_insufficient_scope_names_the_missing_scopes(
    tenant: Tenant, tool_scopes: list[str], token_scopes: set[str], missing: list[str]
) -> None:
    tool = Tool.objects.get(tenant=tenant, name="docs.create")
    tool.scopes.set(Scope.objects.filter(tenant=tenant, name__in=tool_scopes))
    tenant.refresh_from_db()
    with pytest.raises(InsufficientScope) as caught:
        service.call_tool(
            tenant, principal(frozenset(token_scopes)), "docs.create", {"title": "Plan", "body": "b" * 10}
        )
    assert caught.value.missing == missing
    assert caught.value.required == sorted(tool_scopes)
    assert str(caught.value) == "Unauthorized: scope " + " ".join(missing) + " required"
    assert audit() == [("docs.create", "denied", "alice", "client-7", str(caught.value))]
    assert not Document.objects.exists()


def test_seed_message_for_docs_create(tenant: Tenant) -> None:
    with pytest.raises(InsufficientScope, match=r"^Unauthorized: scope docs\.write required$"):
        service.call_tool(tenant, principal(frozenset({"search.read"})), "docs.create", {})


def test_a_tool_without_scopes_needs_only_a_token(tenant: Tenant) -> None:
    Tool.objects.get(tenant=tenant, name="docs.create").scopes.clear()
    tenant.refresh_from_db()
    result = service.call_tool(tenant, principal(frozenset()), "docs.create", {"title": "Plan", "body": "0123456789"})
    assert result.is_error is False
    with pytest.raises(MissingToken):
        service.call_tool(tenant, None, "docs.create", {"title": "Plan", "body": "0123456789"})


@pytest.mark.parametrize("auth_mode", ["optional", "oauth2"])
def test_noauth_tool_runs_without_a_token_and_without_scope_checks(tenant: Tenant, auth_mode: str) -> None:
    Tenant.objects.filter(pk=tenant.pk).update(auth_mode=auth_mode)
    tool = Tool.objects.get(tenant=tenant, name="docs.create")
    tool.noauth = True
    tool.save()
    tenant.refresh_from_db()
    anonymous = service.call_tool(tenant, None, "docs.create", {"title": "Anon", "body": "0123456789"})
    assert anonymous.is_error is False
    scopeless = service.call_tool(
        tenant, principal(frozenset()), "docs.create", {"title": "Mine", "body": "0123456789"}
    )
    assert scopeless.is_error is False
    assert sorted(Document.objects.values_list("title", "author")) == [("Anon", ""), ("Mine", "alice")]
    assert [outcome for _, outcome, *_ in audit()] == ["ok", "ok"]


def test_auth_mode_none_runs_every_tool_without_a_token(tenant: Tenant) -> None:
    Tenant.objects.filter(pk=tenant.pk).update(auth_mode="none")
    tenant.refresh_from_db()
    assert service.call_tool(tenant, None, "docs.create", {"title": "Dev", "body": "0123456789"}).is_error is False


@pytest.mark.parametrize(
    ("arguments", "text"),
    [
        (["title"], "Invalid arguments: expected a JSON object"),
        ("title=x", "Invalid arguments: expected a JSON object"),
        (None, "Invalid arguments: 'title' is a required property"),
        ({"title": "ab", "body": "0123456789"}, "Invalid arguments: title: 'ab' is too short"),
        ({"title": "Plan", "body": 5}, "Invalid arguments: body: 5 is not of type 'string'"),
        (
            {"title": "Plan", "body": "0123456789", "tags": ["ok", 3]},
            "Invalid arguments: tags[1]: 3 is not of type 'string'",
        ),
        (
            {"title": "Plan", "body": "0123456789", "x": 1},
            "Invalid arguments: Additional properties are not allowed ('x' was unexpected)",
        ),
    ],
)
def test_schema_errors_are_tool_results_naming_the_field(tenant: Tenant, arguments: object, text: str) -> None:
    result = service.call_tool(tenant, principal(), "docs.create", arguments)
    assert result.is_error is True
    assert result.structured is None
    assert result.content == [{"type": "text", "text": text}]
    assert audit() == [("docs.create", "tool_error", "alice", "client-7", text)]


def test_tool_error_is_a_result_and_audited(tenant: Tenant) -> None:
    result = service.call_tool(tenant, principal(), "local_memory_delete", {"id": 42})
    assert (result.is_error, result.content) == (True, [{"type": "text", "text": "memory 42 not found"}])
    assert audit() == [("local_memory_delete", "tool_error", "alice", "client-7", "memory 42 not found")]


def test_crash_is_an_internal_error_without_details(
    tenant: Tenant, crash_tool: None, caplog: pytest.LogCaptureFixture
) -> None:
    tenant.refresh_from_db()
    result = service.call_tool(tenant, principal(), "test.crash", {})
    assert result.is_error is True
    assert result.content == [{"type": "text", "text": "Internal error in tool test.crash"}]
    assert audit() == [
        ("test.crash", "failed", "alice", "client-7", "RuntimeError: secret internals /srv/app/db.sqlite3")
    ]
    assert "tool test.crash failed (tenant svc-co)" in caplog.text
    assert "RuntimeError" in caplog.text  # the traceback goes to the log, not to the caller


def test_schema_defaults_are_applied(tenant: Tenant, tmp_path: Any) -> None:
    (tmp_path / "f.txt").write_text("".join(f"hit {i}\n" for i in range(60)))
    from tools.models import Codebase

    Codebase.objects.create(tenant=tenant, name="c", root=str(tmp_path))
    result = service.call_tool(tenant, principal(), "codebase.search", {"query": "HIT"})
    assert result.structured is not None
    assert len(result.structured["matches"]) == 50  # limit defaults to 50, case-insensitive by default
    assert result.structured["matches"][0]["before"] == []  # context defaults to 0


DIGITS = ToolSpec(
    name="test.digits",
    title="Digits",
    description="A schema on which the two validators disagree.",
    input_schema={"type": "object", "properties": {"n": {"type": "string", "pattern": "^\\d+$"}}},
    default_scopes=(),
    handler=_crash,
)


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"n": "123"}, ({"n": "123"}, "")),
        ({"n": "12a"}, (None, "Invalid arguments: n: '12a' does not match '^\\\\d+$'")),
        # JSON Schema patterns are ECMA-262, where \d is [0-9]: jsonschema-rs refuses an Arabic-Indic digit that
        # Python's re accepts, so the refusal is reported with jsonschema-rs's own message.
        ({"n": "\u0663"}, (None, 'Invalid arguments: n: "\u0663" does not match "^\\d+$"')),
    ],
)
def test_validation_is_decided_by_jsonschema_rs_and_explained_by_jsonschema(
    arguments: dict[str, Any], expected: tuple[dict[str, Any] | None, str]
) -> None:
    assert service.validate(DIGITS, arguments) == expected


def test_a_whole_float_is_an_integer_and_handed_over_as_int() -> None:
    args, problem = service.validate(registry()["local_memory_search"], {"query": "alpha", "limit": 5.0})
    assert (args, problem) == ({"query": "alpha", "limit": 5, "offset": 0, "tags_mode": "any"}, "")
    assert type(args["limit"]) is int
