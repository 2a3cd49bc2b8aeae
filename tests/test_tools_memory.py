"""The three local memory tools through the real call path: ownership, full-text ranking, escaping,
filters, bounds, and the index kept in step by the database (runs on SQLite and on PostgreSQL)."""

from __future__ import annotations

import importlib
import random
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from django.db import connection
from jsonschema import Draft202012Validator

from authz.models import Tenant
from authz.principal import Principal
from tools import catalog, memories, service
from tools.builtin import memory_delete, memory_search, memory_store
from tools.models import Memory, Tool

fulltext = importlib.import_module("tools.migrations.0002_memory_fulltext")

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


def indexed(word: str) -> set[int]:
    """Memory ids the full-text index itself holds for a word, every owner (not through the tool, whose
    join with tools_memory would hide a stale index entry)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT id FROM tools_memory WHERE search @@ plainto_tsquery('cortex_memory', %s)", [word])
        else:
            cursor.execute("SELECT rowid FROM tools_memory_fts WHERE tools_memory_fts MATCH %s", [f'"{word}"'])
        return {row[0] for row in cursor.fetchall()}


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
    assert search(other_tenant, ALICE, "note") == {"results": [], "total": 0, "total_capped": False}
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
    # Same length (4 words) everywhere, so only the named signal differs between neighbours.
    one_term = store(tenant, ALICE, "alpha filler filler filler")
    both = store(tenant, ALICE, "alpha beta filler filler")
    repeated = store(tenant, ALICE, "alpha alpha beta filler")
    important = store(tenant, ALICE, "alpha beta filler filler", importance=10)
    store(tenant, ALICE, "gamma filler filler filler")  # no query word: not a result
    store(tenant, ALICE, "alphabet filler filler filler")  # a longer word, not the word
    found = search(tenant, ALICE, "alpha beta")
    assert ids(found) == [important, repeated, both, one_term]
    scores = [item["score"] for item in found["results"]]
    assert scores == sorted(scores, reverse=True)
    assert all(score > 0 for score in scores)
    assert (found["total"], found["total_capped"]) == (4, False)


def test_more_occurrences_rank_higher_and_tags_count(tenant: Tenant) -> None:
    once = store(tenant, ALICE, "tea filler filler filler")
    thrice = store(tenant, ALICE, "tea tea tea filler")
    assert ids(search(tenant, ALICE, "tea")) == [thrice, once]
    tagged = store(tenant, ALICE, "filler filler filler filler", tags=["coffee"])
    in_text = store(tenant, ALICE, "coffee filler filler filler")
    assert set(ids(search(tenant, ALICE, "coffee"))) == {tagged, in_text}


def test_tags_match_memories_too(tenant: Tenant) -> None:
    tagged = store(tenant, ALICE, "something else", tags=["Groceries"])
    assert ids(search(tenant, ALICE, "groceries")) == [tagged]


def test_non_ascii_words_in_content_and_tags(tenant: Tenant) -> None:
    in_tag = store(tenant, ALICE, "morning order", tags=["Café"])
    in_content = store(tenant, ALICE, "a café au lait", tags=["drinks"])
    cyrillic = store(tenant, ALICE, "Встреча в Москве", tags=["Город"])
    assert set(ids(search(tenant, ALICE, "café"))) == {in_tag, in_content}
    assert set(ids(search(tenant, ALICE, "CAFÉ"))) == {in_tag, in_content}
    assert ids(search(tenant, ALICE, "café", tags=["CAFÉ"])) == [in_tag]
    assert ids(search(tenant, ALICE, "москве")) == [cyrillic]
    assert ids(search(tenant, ALICE, "город")) == [cyrillic]
    assert ids(search(tenant, ALICE, "встреча", tags=["ГОРОД"])) == [cyrillic]


def test_accents_are_ignored(tenant: Tenant) -> None:
    """unicode61 remove_diacritics 2 on SQLite; unaccent on PostgreSQL (skipped where it is missing)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'unaccent'")
            if cursor.fetchone() is None:
                pytest.skip("unaccent is not installed: PostgreSQL search is accent-sensitive")
    accented = store(tenant, ALICE, "déjà vu at the café")
    assert ids(search(tenant, ALICE, "cafe deja")) == [accented]
    plain = store(tenant, ALICE, "naive resume")
    assert ids(search(tenant, ALICE, "naïve résumé")) == [plain]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('alpha OR "', {"alpha", "or"}),
        ("NEAR(", {"near"}),
        ("NEAR(alpha beta)", {"alpha", "near"}),
        ("alpha*", {"alpha"}),
        ("content:secret", {"secret"}),
        ("owner:x OR 1=1", {"or"}),
        ("NOT alpha", {"alpha", "not"}),
        ("-alpha", {"alpha"}),
        ("^alpha", {"alpha"}),
        ("{content tags}: alpha", {"alpha"}),
        ("x'y; DROP TABLE tools_memory; --", set()),
        ("snake_case", {"snake"}),
    ],
)
def test_query_syntax_is_plain_words(tenant: Tenant, query: str, expected: set[str]) -> None:
    """Search syntax of either database in a query is read as words: no error, no injection."""
    by_word = {
        "alpha": store(tenant, ALICE, "alpha"),
        "or": store(tenant, ALICE, "this or that"),
        "near": store(tenant, ALICE, "near the river"),
        "not": store(tenant, ALICE, "not now"),
        "secret": store(tenant, ALICE, "a secret"),
        "snake": store(tenant, ALICE, "snake in the grass"),
    }
    store(tenant, BOB, "alpha or near not secret snake")  # never found by alice
    found = search(tenant, ALICE, query)
    assert set(ids(found)) == {by_word[word] for word in expected}
    assert Memory.objects.count() == 7


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


def test_tag_filters_are_exact_tags(tenant: Tenant) -> None:
    """The index narrows by tag words; the filter itself compares whole tags."""
    phrase = store(tenant, ALICE, "note one", tags=["Work Stuff"])
    split = store(tenant, ALICE, "note two", tags=["work", "stuff"])
    symbols = store(tenant, ALICE, "note three", tags=["C++", "++"])
    plain_c = store(tenant, ALICE, "note four", tags=["c"])
    assert ids(search(tenant, ALICE, "note", tags=["work stuff"])) == [phrase]
    assert set(ids(search(tenant, ALICE, "note", tags=["work", "stuff"], tags_mode="all"))) == {split}
    assert ids(search(tenant, ALICE, "note", tags=["c++"])) == [symbols]
    assert ids(search(tenant, ALICE, "note", tags=["++"])) == [symbols]
    assert set(ids(search(tenant, ALICE, "note", tags=["++", "c"]))) == {symbols, plain_c}
    assert ids(search(tenant, ALICE, "note", tags=["c++", "++"], tags_mode="all")) == [symbols]


def test_paging(tenant: Tenant) -> None:
    made = [store(tenant, ALICE, f"page note {i}") for i in range(5)]
    newest_first = list(reversed(made))
    first = search(tenant, ALICE, "page", limit=2)
    assert (ids(first), first["total"]) == (newest_first[:2], 5)
    assert ids(search(tenant, ALICE, "page", limit=2, offset=2)) == newest_first[2:4]
    past_end = search(tenant, ALICE, "page", offset=5)
    assert (ids(past_end), past_end["total"]) == ([], 5)
    assert len(ids(search(tenant, ALICE, "page"))) == 5  # default limit 10


def test_total_is_capped_at_the_most_recent_matches(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memories, "MAX_CANDIDATES", 3)
    made = [store(tenant, ALICE, f"capped note {i}", importance=10 if i == 0 else 5) for i in range(5)]
    found = search(tenant, ALICE, "capped")
    assert (found["total"], found["total_capped"]) == (3, True)
    assert ids(found) == list(reversed(made))[:3]  # the oldest (most important) is beyond the bound
    assert (
        call(tenant, ALICE, "local_memory_search", query="capped")
        .content[0]["text"]
        .startswith("more than 3 matching memories; showing 1-3:")
    )
    assert search(tenant, ALICE, "capped", offset=3) == {"results": [], "total": 3, "total_capped": True}
    # Filters apply before the bound: the important one is found when asked for.
    assert ids(search(tenant, ALICE, "capped", min_importance=10)) == [made[0]]


def test_search_text_rendering(tenant: Tenant) -> None:
    memory = store(tenant, ALICE, "Prefers tea", tags=["drinks"])
    result = call(tenant, ALICE, "local_memory_search", query="tea")
    text = result.content[0]["text"]
    assert text.startswith("1 matching memories; showing 1-1:\n")
    assert f"- #{memory} (score " in text
    assert text.endswith("importance 5) [drinks]: Prefers tea")
    assert call(tenant, ALICE, "local_memory_search", query="coffee").content[0]["text"] == "No memories found."


@pytest.mark.parametrize("query", ["?!", '"', "___", "*", "( )"])
def test_query_without_words_is_a_tool_error(tenant: Tenant, query: str) -> None:
    result = call(tenant, ALICE, "local_memory_search", query=query)
    assert result.is_error is True
    assert result.content[0]["text"] == "query has no words to search for"


def test_delete_removes_from_the_index(tenant: Tenant) -> None:
    kept = store(tenant, ALICE, "walrus kept")
    gone = store(tenant, ALICE, "walrus gone")
    assert indexed("walrus") == {kept, gone}
    assert call(tenant, ALICE, "local_memory_delete", id=gone).is_error is False
    assert indexed("walrus") == {kept}
    assert ids(search(tenant, ALICE, "walrus gone")) == [kept]
    Memory.objects.filter(pk=kept).delete()  # any delete, not only the tool's
    assert indexed("walrus") == set()


def test_update_reindexes(tenant: Tenant) -> None:
    memory = store(tenant, ALICE, "old words here", tags=["before"])
    Memory.objects.filter(pk=memory).update(content="new text here", tags=["After"])
    assert indexed("old") == set()
    assert indexed("before") == set()
    assert indexed("new") == {memory}
    assert ids(search(tenant, ALICE, "after")) == [memory]
    row = Memory.objects.get(pk=memory)
    row.subject = "bob"  # a save() moving it to another owner: the owner token moves too
    row.save()
    assert ids(search(tenant, ALICE, "new")) == []
    assert ids(search(tenant, BOB, "new")) == [memory]
    Memory.objects.filter(pk=memory).update(importance=9)  # a column outside the index: still indexed once
    assert indexed("new") == {memory}
    assert search(tenant, BOB, "new")["results"][0]["importance"] == 9


def test_the_index_is_installed_after_all_migrations() -> None:
    """A later migration that rebuilds tools_memory on SQLite drops the triggers; this catches it."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT is_generated FROM information_schema.columns "
                "WHERE table_name = 'tools_memory' AND column_name = 'search'"
            )
            assert cursor.fetchall() == [("ALWAYS",)]
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'tools_memory'")
            assert sorted(row[0] for row in cursor.fetchall()) == [
                "tools_memory_fts_delete",
                "tools_memory_fts_insert",
                "tools_memory_fts_update",
            ]


class _Executor:
    """The two things the migration's functions use of a schema editor, over the test's connection."""

    connection = connection

    def execute(self, sql: str) -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql)


def test_migration_indexes_existing_rows(tenant: Tenant) -> None:
    fulltext.backwards(None, _Executor())
    Memory.objects.create(tenant=tenant, subject="alice", content="written before the index", tags=["Old"])
    Memory.objects.create(tenant=tenant, subject="bob", content="written before the index too")
    if connection.vendor == "postgresql":  # PostgreSQL refuses ALTER TABLE with deferred FK checks pending
        _Executor().execute("SET CONSTRAINTS ALL IMMEDIATE")
    fulltext.forwards(None, _Executor())
    found = search(tenant, ALICE, "before old")
    assert [item["content"] for item in found["results"]] == ["written before the index"]
    assert len(indexed("written")) == 2
    later = store(tenant, ALICE, "written after")
    assert ids(search(tenant, ALICE, "after")) == [later]


@pytest.mark.parametrize("seed", range(6))
def test_no_memory_crosses_owners(tenant: Tenant, other_tenant: Tenant, seed: int) -> None:
    """Property: whatever several users in two tenants store, search returns exactly the caller's own
    matches and delete succeeds only for the owner (seeded random stores, searches and deletes)."""
    rnd = random.Random(seed)
    words = ["apple", "berry", "cherry", "date", "elder", "fig", "grape", "Ärger", "été"]
    subjects = ["alice", "bob", "auth0|carol", "dave@example.com", "ALICE", "alice "]
    owners = [(t, Principal(subject=s, client_id="c", scopes=ALL, expires_at=0)) for t in (tenant, other_tenant)
              for s in subjects]  # fmt: skip
    content: dict[int, tuple[int, str, set[str]]] = {}
    for _ in range(40):
        where, who = rnd.choice(owners)
        chosen = rnd.sample(words, rnd.randint(1, 3))
        tags = rnd.sample(words, rnd.randint(0, 2))
        pk = store(where, who, " ".join(chosen), tags=tags)
        content[pk] = (where.pk, who.subject, {w.casefold() for w in chosen + tags})
    for _ in range(12):
        pk = rnd.choice(list(content))
        where, who = rnd.choice(owners)
        result = call(where, who, "local_memory_delete", id=pk)
        mine = content[pk][:2] == (where.pk, who.subject)
        assert result.is_error is (not mine)
        if mine:
            del content[pk]
    for where, who in owners:
        for word in words:
            expected = {
                pk for pk, (t, s, ws) in content.items() if (t, s) == (where.pk, who.subject) and word.casefold() in ws
            }
            found = search(where, who, word, limit=100)
            assert set(ids(found)) == expected, (who.subject, word)
            assert found["total"] == len(expected)


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
