"""The three local memory tools through the real call path: ownership, ranking, filters, bounds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from authz.models import Tenant
from authz.principal import Principal
from tools import catalog, service
from tools.builtin import memory_delete, memory_search, memory_store
from tools.models import Memory, Tool

pytestmark = pytest.mark.django_db

ALL = frozenset({"memory.read", "memory.write", "memory.delete"})
ALICE = Principal(subject="alice", client_id="c", scopes=ALL, expires_at=0)
BOB = Principal(subject="bob", client_id="c", scopes=ALL, expires_at=0)


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    catalog._cache.clear()
    service._descriptors.clear()
    yield


@pytest.fixture
def tenant() -> Tenant:
    return Tenant.objects.create(slug="mem-co", name="Mem Co", resource_url="https://mem.example/mcp")


@pytest.fixture
def other_tenant() -> Tenant:
    return Tenant.objects.create(slug="mem-other", name="Other", resource_url="https://other.example/mcp")


def call(tenant: Tenant, who: Principal | None, tool: str, **arguments: Any) -> service.ToolCallResult:
    return service.call_tool(tenant, who, tool, arguments)


def store(tenant: Tenant, who: Principal, content: str, **extra: Any) -> int:
    result = call(tenant, who, "local_memory_store", content=content, **extra)
    assert result.is_error is False, result.content
    assert result.structured is not None
    return int(result.structured["id"])


def search(tenant: Tenant, who: Principal, query: str, **extra: Any) -> dict[str, Any]:
    result = call(tenant, who, "local_memory_search", query=query, **extra)
    assert result.is_error is False, result.content
    assert result.structured is not None
    Draft202012Validator(memory_search.OUTPUT_SCHEMA).validate(result.structured)
    return dict(result.structured)


def ids(found: dict[str, Any]) -> list[int]:
    return [item["id"] for item in found["results"]]


def test_store_search_delete(tenant: Tenant) -> None:
    result = call(
        tenant, ALICE, "local_memory_store", content="Prefers tea", tags=["Drinks"], domain="home", metadata={"a": 1}
    )
    assert result.structured is not None
    Draft202012Validator(memory_store.OUTPUT_SCHEMA).validate(result.structured)
    memory = Memory.objects.get()
    assert result.structured["id"] == memory.pk
    assert result.content[0]["text"] == f"Stored memory {memory.pk}."
    assert (memory.tenant, memory.subject, memory.importance, memory.domain) == (tenant, "alice", 5, "home")
    assert memory.metadata == {"a": 1}
    assert memory.tags == ["Drinks"]

    found = search(tenant, ALICE, "TEA")
    assert found["total"] == 1
    [item] = found["results"]
    assert item["id"] == memory.pk
    assert item["content"] == "Prefers tea"
    assert item["tags"] == ["Drinks"]
    assert item["score"] > 0
    assert datetime.fromisoformat(item["created"]) == memory.created

    deleted = call(tenant, ALICE, "local_memory_delete", id=memory.pk)
    assert deleted.structured == {"id": memory.pk, "deleted": True}
    Draft202012Validator(memory_delete.OUTPUT_SCHEMA).validate(deleted.structured)
    assert not Memory.objects.exists()
    again = call(tenant, ALICE, "local_memory_delete", id=memory.pk)
    assert again.is_error is True
    assert again.content[0]["text"] == f"memory {memory.pk} not found"


def test_users_never_see_or_delete_each_others_memories(tenant: Tenant) -> None:
    mine = store(tenant, ALICE, "alice secret plan")
    theirs = store(tenant, BOB, "bob secret plan")
    assert ids(search(tenant, ALICE, "secret plan")) == [mine]
    assert ids(search(tenant, BOB, "secret plan")) == [theirs]
    refused = call(tenant, BOB, "local_memory_delete", id=mine)
    assert refused.is_error is True
    assert refused.content[0]["text"] == f"memory {mine} not found"
    assert Memory.objects.filter(pk=mine).exists()


def test_tenants_are_isolated_for_the_same_subject(tenant: Tenant, other_tenant: Tenant) -> None:
    here = store(tenant, ALICE, "tenant one note")
    assert search(other_tenant, ALICE, "note") == {"results": [], "total": 0}
    refused = call(other_tenant, ALICE, "local_memory_delete", id=here)
    assert refused.content[0]["text"] == f"memory {here} not found"
    assert Memory.objects.filter(pk=here).exists()


@pytest.mark.parametrize("tool", ["local_memory_store", "local_memory_search", "local_memory_delete"])
def test_no_principal_is_a_tool_error_even_when_the_tool_is_noauth(tenant: Tenant, tool: str) -> None:
    Tool.objects.filter(tenant=tenant, name=tool).update(noauth=True)
    tenant.refresh_from_db()  # queryset.update sends no signal; make the flag visible to a fresh catalogue
    catalog._cache.clear()
    arguments = {"local_memory_store": {"content": "x"}, "local_memory_search": {"query": "x"}}.get(tool, {"id": 1})
    result = service.call_tool(tenant, None, tool, arguments)
    assert result.is_error is True
    assert (
        result.content[0]["text"]
        == f"{tool} needs an authenticated user: call it with a bearer token that has a subject"
    )
    assert not Memory.objects.exists()


def test_ranking_by_term_frequency_coverage_and_importance(tenant: Tenant) -> None:
    one_term = store(tenant, ALICE, "alpha only")
    both = store(tenant, ALICE, "alpha and beta")
    repeated = store(tenant, ALICE, "alpha alpha alpha beta")
    important = store(tenant, ALICE, "alpha beta", importance=10)
    store(tenant, ALICE, "gamma")  # no query term: not a result
    store(tenant, ALICE, "alphabet")  # substring only, not the word
    found = search(tenant, ALICE, "alpha beta")
    # mean over terms of 1 + ln(tf), times 0.5 + importance / 20
    assert [(item["id"], item["score"]) for item in found["results"]] == [
        (repeated, 1.162),  # (1 + ln 3 + 1) / 2 * 0.75
        (important, 1.0),  # (1 + 1) / 2 * 1.0
        (both, 0.75),  # (1 + 1) / 2 * 0.75
        (one_term, 0.375),  # 1 / 2 * 0.75
    ]
    assert found["total"] == 4


def test_tags_match_memories_too(tenant: Tenant) -> None:
    tagged = store(tenant, ALICE, "something else", tags=["Groceries"])
    assert ids(search(tenant, ALICE, "groceries")) == [tagged]


def test_non_ascii_words_in_content_and_tags(tenant: Tenant) -> None:
    in_tag = store(tenant, ALICE, "morning order", tags=["Café"])
    in_content = store(tenant, ALICE, "a café au lait", tags=["drinks"])
    assert set(ids(search(tenant, ALICE, "café"))) == {in_tag, in_content}
    assert ids(search(tenant, ALICE, "café", tags=["CAFÉ"])) == [in_tag]


def test_equal_scores_newest_first(tenant: Tenant) -> None:
    first = store(tenant, ALICE, "same words")
    second = store(tenant, ALICE, "same words")
    assert ids(search(tenant, ALICE, "same")) == [second, first]


def test_filters(tenant: Tenant) -> None:
    work = store(tenant, ALICE, "note about work", tags=["Work", "urgent"], domain="job", importance=8)
    home = store(tenant, ALICE, "note about home", tags=["home"], domain="house", importance=3)
    both = store(tenant, ALICE, "note about both", tags=["work", "home"], importance=5)
    assert set(ids(search(tenant, ALICE, "note", tags=["WORK"]))) == {work, both}
    assert set(ids(search(tenant, ALICE, "note", tags=["work", "home"]))) == {work, home, both}
    assert ids(search(tenant, ALICE, "note", tags=["work", "home"], tags_mode="all")) == [both]
    assert ids(search(tenant, ALICE, "note", domain="house")) == [home]
    assert set(ids(search(tenant, ALICE, "note", min_importance=5))) == {work, both}


def test_paging(tenant: Tenant) -> None:
    made = [store(tenant, ALICE, f"page note {i}") for i in range(5)]
    newest_first = list(reversed(made))
    first = search(tenant, ALICE, "page", limit=2)
    assert (ids(first), first["total"]) == (newest_first[:2], 5)
    assert ids(search(tenant, ALICE, "page", limit=2, offset=2)) == newest_first[2:4]
    assert ids(search(tenant, ALICE, "page", offset=5)) == []
    assert len(ids(search(tenant, ALICE, "page"))) == 5  # default limit 10


def test_search_text_rendering(tenant: Tenant) -> None:
    memory = store(tenant, ALICE, "Prefers tea", tags=["drinks"])
    result = call(tenant, ALICE, "local_memory_search", query="tea")
    text = result.content[0]["text"]
    assert text.startswith("1 matching memories; showing 1-1:\n")
    assert f"- #{memory} (score " in text
    assert text.endswith("importance 5) [drinks]: Prefers tea")
    assert call(tenant, ALICE, "local_memory_search", query="coffee").content[0]["text"] == "No memories found."


def test_query_without_words_is_a_tool_error(tenant: Tenant) -> None:
    result = call(tenant, ALICE, "local_memory_search", query="?!")
    assert result.is_error is True
    assert result.content[0]["text"] == "query has no words to search for"


def test_store_refuses_large_metadata_and_blank_content(tenant: Tenant) -> None:
    big = call(tenant, ALICE, "local_memory_store", content="x", metadata={"blob": "é" * 2100})
    assert big.is_error is True
    assert big.content[0]["text"] == "metadata is 4211 bytes serialized; the limit is 4096"
    blank = call(tenant, ALICE, "local_memory_store", content="   ")
    assert blank.content[0]["text"] == "content must not be blank"
    assert not Memory.objects.exists()


def test_integral_floats_become_ints(tenant: Tenant) -> None:
    memory = store(tenant, ALICE, "float importance", importance=7.0)
    assert Memory.objects.get(pk=memory).importance == 7
    result = call(tenant, ALICE, "local_memory_delete", id=float(memory))
    assert result.structured == {"id": memory, "deleted": True}


@pytest.mark.parametrize(
    ("tool", "arguments", "message"),
    [
        ("local_memory_store", {}, "'content' is a required property"),
        ("local_memory_store", {"content": ""}, "content: '' should be non-empty"),
        ("local_memory_store", {"content": "x" * 8193}, "content: 'xxx"),
        ("local_memory_store", {"content": "x", "tags": ["t"] * 33}, "tags: ['t',"),
        ("local_memory_store", {"content": "x", "tags": ["y" * 51]}, "tags[0]: 'yyy"),
        ("local_memory_store", {"content": "x", "importance": 0}, "importance: 0 is less than the minimum of 1"),
        ("local_memory_store", {"content": "x", "importance": 11}, "importance: 11 is greater than the maximum of 10"),
        ("local_memory_store", {"content": "x", "domain": "has space"}, "domain: 'has space' does not match"),
        ("local_memory_store", {"content": "x", "domain": "d" * 101}, "domain: 'ddd"),
        ("local_memory_store", {"content": "x", "metadata": [1]}, "metadata: [1] is not of type 'object'"),
        (
            "local_memory_store",
            {"content": "x", "metadata": {f"k{i}": i for i in range(33)}},
            "metadata: {'k0': 0,",
        ),
        ("local_memory_search", {}, "'query' is a required property"),
        ("local_memory_search", {"query": "q" * 501}, "query: 'qqq"),
        ("local_memory_search", {"query": "q", "limit": 0}, "limit: 0 is less than the minimum of 1"),
        ("local_memory_search", {"query": "q", "limit": 101}, "limit: 101 is greater than the maximum of 100"),
        ("local_memory_search", {"query": "q", "offset": -1}, "offset: -1 is less than the minimum of 0"),
        ("local_memory_search", {"query": "q", "offset": 10_001}, "offset: 10001 is greater than the maximum"),
        ("local_memory_search", {"query": "q", "min_importance": 11}, "min_importance: 11 is greater than"),
        ("local_memory_search", {"query": "q", "tags_mode": "some"}, "tags_mode: 'some' is not one of ['any', 'all']"),
        ("local_memory_search", {"query": "q", "domain": "a/b"}, "domain: 'a/b' does not match"),
        ("local_memory_delete", {}, "'id' is a required property"),
        ("local_memory_delete", {"id": "1"}, "id: '1' is not of type 'integer'"),
        ("local_memory_delete", {"id": True}, "id: True is not of type 'integer'"),
        ("local_memory_delete", {"id": 0}, "id: 0 is less than the minimum of 1"),
        ("local_memory_delete", {"id": 1, "all": True}, "('all' was unexpected)"),
    ],
)
def test_invalid_arguments(tenant: Tenant, tool: str, arguments: dict[str, Any], message: str) -> None:
    result = service.call_tool(tenant, ALICE, tool, arguments)
    assert result.is_error is True
    assert result.content[0]["text"].startswith("Invalid arguments: ")
    assert message in result.content[0]["text"]
    assert not Memory.objects.exists()
