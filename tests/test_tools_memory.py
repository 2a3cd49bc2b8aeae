"""The three local memory tools through the real call path: ownership, BM25 ranking from the impact-ordered
index (checked against an independent computation), escaping, filters, bounds, and the index kept in step
with every write (runs on SQLite and on PostgreSQL)."""

from __future__ import annotations

import importlib
import itertools
import math
import random
import re
import time
from datetime import datetime
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext
from jsonschema import Draft202012Validator

from authz.models import Tenant
from authz.principal import Principal
from tools import audit as tools_audit
from tools import catalog, memories, service
from tools.builtin import memory_delete, memory_search, memory_store
from tools.models import Memory, MemoryTerm, Tool, ToolCall

fulltext = importlib.import_module("tools.migrations.0002_memory_fulltext")

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_caches")]

ALL = frozenset({"memory.read", "memory.write", "memory.delete"})
ALICE = Principal(subject="alice", client_id="c", scopes=ALL, expires_at=0)
BOB = Principal(subject="bob", client_id="c", scopes=ALL, expires_at=0)


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
    """Memory ids the search index itself holds for a word, every owner (not through the tool, whose join
    with tools_memory would hide a stale posting)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT memory_id FROM tools_memoryterm WHERE term = %s", [word])
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


def test_store_writes_the_postings_index_memories_would(tenant: Tenant) -> None:
    """The store path (plain SQL) and index_memories agree: word postings, then one per distinct tag."""
    pk = store(tenant, ALICE, "Ünïcode words, words: x_y", tags=["Tag One", "tag", "TAG"], importance=8)
    stored = sorted(MemoryTerm.objects.filter(memory_id=pk).values_list("owner", "term", "impact"))
    owner = memories.owner_key(tenant.pk, "alice")
    expected = memories.postings("Ünïcode words, words: x_y", ["Tag One", "tag", "TAG"], 8)
    assert stored == sorted((owner, term, impact) for term, impact in expected)
    assert {term for _, term, _ in stored} == {"unicode", "words", "x", "y", "tag", "one", "#tag one", "#tag"}
    assert {impact for _, term, impact in stored if term.startswith("#")} == {0.0}
    memories.index_memories(Memory.objects.filter(pk=pk))
    assert sorted(MemoryTerm.objects.filter(memory_id=pk).values_list("owner", "term", "impact")) == stored
    memory = Memory.objects.get(pk=pk)
    assert (memory.tags, memory.metadata, memory.importance) == (["Tag One", "tag", "TAG"], {}, 8)


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
    """The tokenizer is Python's, so this holds on every database."""
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


def bm25_impact(content: str, tags: list[str], importance: int, word: str) -> float:
    """The impact of a word, computed here from the formula (ASCII test texts: lower-case word runs)."""
    tokens = re.findall(r"[a-z0-9]+", content.lower())
    tag_tokens = [t for tag in tags for t in re.findall(r"[a-z0-9]+", tag.lower())]
    tf = tokens.count(word) + 2 * tag_tokens.count(word)
    dl = len(tokens) + 2 * len(tag_tokens)
    k1, b, avgdl = 1.2, 0.75, 24.0
    return tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl)) * (0.5 + importance / 20)


def random_memories(tenant: Tenant, seed: int, count: int) -> dict[int, tuple[str, list[str], int]]:
    rnd = random.Random(seed)
    vocabulary = ["alpha", "beta", "gamma", "delta", "filler", "other", "more"]
    made = {}
    for _ in range(count):
        content = " ".join(rnd.choices(vocabulary, [3, 2, 1, 1, 4, 4, 4], k=rnd.randint(1, 40)))
        tags = rnd.sample(["alpha", "beta", "misc"], rnd.randint(0, 2))
        importance = rnd.randint(1, 10)
        made[store(tenant, ALICE, content, tags=tags, importance=importance)] = (content, tags, importance)
    store(tenant, BOB, "alpha beta gamma " * 5)  # another owner's words change no count of alice's
    return made


@pytest.mark.parametrize("seed", range(3))
def test_one_word_order_is_bm25_with_the_fixed_avgdl(tenant: Tenant, seed: int) -> None:
    made = random_memories(tenant, seed, 60)
    for word in ["alpha", "gamma", "misc"]:
        expected = sorted(
            ((bm25_impact(*made[pk], word), pk) for pk in made if bm25_impact(*made[pk], word) > 0), reverse=True
        )
        found = search(tenant, ALICE, word.upper(), limit=100)
        assert ids(found) == [pk for _, pk in expected], word
        assert [item["score"] for item in found["results"]] == pytest.approx([sc for sc, _ in expected], rel=1e-5)
        assert found["total"] == len(expected)
        paged = search(tenant, ALICE, word, limit=7, offset=7)
        assert ids(paged) == [pk for _, pk in expected][7:14]


@pytest.mark.parametrize("seed", range(3))
def test_several_words_rank_by_the_sum_of_idf_times_impact(tenant: Tenant, seed: int) -> None:
    made = random_memories(tenant, seed, 60)
    query = ["alpha", "gamma", "delta"]
    n = len(made)
    idf = {}
    for word in query:
        df = sum(1 for pk in made if bm25_impact(*made[pk], word) > 0)
        idf[word] = math.log(1 + (n - df + 0.5) / (df + 0.5))
    scores = {pk: sum(idf[w] * bm25_impact(*made[pk], w) for w in query) for pk in made}
    expected = sorted(((score, pk) for pk, score in scores.items() if score > 0), reverse=True)
    found = search(tenant, ALICE, "alpha GAMMA delta alpha", limit=100)
    assert [item["score"] for item in found["results"]] == pytest.approx([score for score, _ in expected], rel=1e-5)
    # Order: by the independently computed score (memories whose sums differ only by rounding: either order).
    listed = [scores[pk] for pk in ids(found)]
    assert all(a >= b - 1e-9 for a, b in itertools.pairwise(listed))
    assert set(ids(found)) == {pk for _, pk in expected}
    assert found["total"] == len(expected)
    # Filters: the same ranking restricted to the memories that pass them.
    important = search(tenant, ALICE, "alpha gamma delta", min_importance=8, limit=100)
    assert set(ids(important)) == {pk for _, pk in expected if made[pk][2] >= 8}
    scores_shown = [item["score"] for item in important["results"]]
    assert scores_shown == sorted(scores_shown, reverse=True)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Déjà Vu", ["deja", "vu"]),
        ("İstanbul ISTANBUL", ["istanbul", "istanbul"]),
        ("Straße", ["strasse"]),
        ("ﬁle ＡＢＣ①", ["file", "abc1"]),
        ("snake_case x-y", ["snake", "case", "x", "y"]),
        ("Ärger été Москве", ["arger", "ete", "москве"]),
        ("a" * 100, ["a" * 64]),
        ("'; DROP TABLE tools_memoryterm; --", ["drop", "table", "tools", "memoryterm"]),
        ("?!*()", []),
    ],
)
def test_the_tokenizer(text: str, expected: list[str]) -> None:
    assert memories.words(text) == expected


def test_long_words_are_cut_and_terms_per_memory_are_bounded(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    long = store(tenant, ALICE, "x" * 80)
    assert ids(search(tenant, ALICE, "x" * 64 + "ignored")) == [long]
    monkeypatch.setattr(memories, "MAX_TERMS_PER_MEMORY", 3)
    bounded = store(tenant, ALICE, "one two three four five", tags=["tagword"])
    # The bound is on words; the tag's own posting comes on top.
    assert sorted(MemoryTerm.objects.filter(memory_id=bounded).values_list("term", flat=True)) == [
        "#tagword",
        "one",
        "tagword",
        "two",
    ]


@pytest.mark.parametrize(
    "hostile",
    ["'", "''); DROP TABLE tools_memoryterm; --", "%s", "%(x)s", "\\", "a' OR '1'='1", ") OR 1=1 --"],
)
def test_hostile_strings_are_parameters(tenant: Tenant, hostile: str) -> None:
    """Query words and tag filters reach the database as parameters only."""
    plain = store(tenant, ALICE, "drop table notes", tags=[hostile])
    store(tenant, BOB, "drop table notes", tags=[hostile])
    assert ids(search(tenant, ALICE, hostile + " drop")) == [plain]
    assert ids(search(tenant, ALICE, "notes", tags=[hostile])) == [plain]
    assert ids(search(tenant, ALICE, "notes table", tags=[hostile, "x"], tags_mode="any")) == [plain]
    assert Memory.objects.count() == 2
    assert MemoryTerm.objects.filter(term="drop").count() == 2


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


def test_total_is_capped_but_one_word_ranks_every_match(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memories, "MAX_CANDIDATES", 3)
    made = [store(tenant, ALICE, f"capped note {i}", importance=10 if i == 0 else 5) for i in range(5)]
    found = search(tenant, ALICE, "capped")
    assert (found["total"], found["total_capped"]) == (3, True)
    # One word: the index order is the BM25 order over every match, so the oldest, most important is first.
    assert ids(found) == [made[0], *reversed(made[1:])]
    assert (
        call(tenant, ALICE, "local_memory_search", query="capped")
        .content[0]["text"]
        .startswith("more than 3 matching memories; showing 1-5:")
    )
    assert search(tenant, ALICE, "capped", offset=3) == {
        "results": search(tenant, ALICE, "capped")["results"][3:],
        "total": 3,
        "total_capped": True,
    }
    # Several words: each word's best MAX_CANDIDATES + 1 postings are ranked, the total says there are more.
    several = search(tenant, ALICE, "capped nothing")
    assert (several["total"], several["total_capped"]) == (3, True)
    assert ids(several)[0] == made[0]
    assert ids(search(tenant, ALICE, "capped", min_importance=10)) == [made[0]]
    assert search(tenant, ALICE, "capped", min_importance=6)["total_capped"] is False


def test_filters_examine_a_bounded_number_of_postings(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memories, "MAX_SCAN", 3)
    made = [store(tenant, ALICE, f"scan note {i}", domain="d" if i == 0 else "e") for i in range(5)]
    # The oldest is the one the domain filter wants, and it is fifth in the index: beyond the scan.
    found = search(tenant, ALICE, "scan", domain="d")
    assert found == {"results": [], "total": 0, "total_capped": True}
    assert ids(search(tenant, ALICE, "scan", domain="e")) == list(reversed(made[1:]))[:3]
    monkeypatch.setattr(memories, "MAX_SCAN", 5)
    assert ids(search(tenant, ALICE, "scan", domain="d")) == [made[0]]


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


def postings() -> list[tuple[int, str, str]]:
    return sorted(MemoryTerm.objects.values_list("memory_id", "owner", "term"))


def test_update_reindexes(tenant: Tenant) -> None:
    memory = store(tenant, ALICE, "old words here", tags=["before"])
    row = Memory.objects.get(pk=memory)
    row.content, row.tags = "new text here", ["After"]
    row.save()  # what the admin does
    assert indexed("old") == set()
    assert indexed("before") == set()
    assert indexed("new") == {memory}
    assert ids(search(tenant, ALICE, "after")) == [memory]
    row.subject = "bob"  # a save() moving it to another owner: the owner key moves too
    row.save()
    assert ids(search(tenant, ALICE, "new")) == []
    assert ids(search(tenant, BOB, "new")) == [memory]
    before = search(tenant, BOB, "new")["results"][0]["score"]
    row.importance = 10  # the importance weight is part of the impact
    row.save(update_fields=["importance"])
    assert search(tenant, BOB, "new")["results"][0]["score"] > before
    assert indexed("new") == {memory}
    kept = postings()
    row.metadata = {"x": 1}
    row.save(update_fields=["metadata"])  # not an indexed field: postings untouched
    assert postings() == kept
    # QuerySet.update() sends no signal: index_memories() is the way to bring the index in step.
    Memory.objects.filter(pk=memory).update(content="updated in bulk")
    assert indexed("bulk") == set()
    assert memories.index_memories(Memory.objects.filter(pk=memory)) == 5  # updated, in, bulk, after, #after
    assert indexed("bulk") == {memory}
    assert indexed("new") == set()


def test_the_index_is_installed_after_all_migrations() -> None:
    """The postings table and its top-k index exist; the earlier FTS5 / tsvector design is gone."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "tools_memoryterm")
        tables = connection.introspection.table_names(cursor)
        memory_columns = [c.name for c in connection.introspection.get_table_description(cursor, "tools_memory")]
    top = constraints["memoryterm_top_idx"]
    assert top["columns"] == ["owner", "term", "impact", "memory_id"]
    assert top["orders"] == ["ASC", "ASC", "DESC", "DESC"]
    by_memory = constraints["memoryterm_memory_idx"]  # cascade deletes and tag probes
    assert (by_memory["columns"], by_memory["index"]) == (["memory_id", "term", "impact"], True)
    assert not any(c["columns"] == ["memory_id"] and c["index"] for c in constraints.values())  # replaced
    assert "tools_memory_fts" not in tables
    assert "search" not in memory_columns


def test_migration_indexes_existing_rows(tenant: Tenant) -> None:
    """The migration's function, run again over memories that have no postings (bulk_create sends no
    signal), writes their postings."""
    Memory.objects.bulk_create(
        [
            Memory(tenant=tenant, subject="alice", content="written before the index", tags=["Old"]),
            Memory(tenant=tenant, subject="bob", content="written before the index too"),
        ]
    )
    assert indexed("written") == set()
    fulltext.index_existing(django_apps, connection.schema_editor())
    found = search(tenant, ALICE, "before old")
    assert [item["content"] for item in found["results"]] == ["written before the index"]
    assert len(indexed("written")) == 2
    fulltext.index_existing(django_apps, connection.schema_editor())  # again: replaces, never duplicates
    assert MemoryTerm.objects.filter(term="written").count() == 2
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


def test_a_store_writes_its_own_audit_row_once_in_the_same_commit(tenant: Tenant) -> None:
    with CaptureQueriesContext(connection) as queries:
        pk = store(tenant, ALICE, "remember the milk", tags=["home"])
    inserts = [q["sql"] for q in queries.captured_queries if "INSERT INTO" in q["sql"]]
    # SQLite: the memory, its postings and the audit row, in one transaction; PostgreSQL: one statement.
    assert len(inserts) == (1 if connection.vendor == "postgresql" else 3)
    assert "tools_toolcall" in inserts[-1]
    rows = list(ToolCall.objects.values_list("tool", "outcome", "subject", "client_id", "error"))
    assert rows == [("local_memory_store", "ok", "alice", "c", "")]
    assert ToolCall.objects.get().duration_ms > 0
    assert Memory.objects.filter(pk=pk).exists()


def test_a_refused_store_is_audited_by_the_service(tenant: Tenant) -> None:
    result = call(tenant, ALICE, "local_memory_store", content="   ")
    assert result.is_error is True
    assert list(ToolCall.objects.values_list("outcome", "error")) == [("tool_error", "content must not be blank")]
    assert not Memory.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_failed_store_leaves_neither_the_memory_nor_its_audit_row(tenant: Tenant) -> None:
    # An audit row naming a tenant that does not exist breaks its foreign key: the whole write must go.
    ghost = Tenant(pk=tenant.pk + 1000, slug="ghost", name="Ghost", resource_url="https://ghost.example/mcp")
    pending = tools_audit.CallAudit(ghost, ALICE, "local_memory_store", time.perf_counter())
    with pytest.raises(IntegrityError):
        memories.store_memory(tenant.pk, "alice", "remember the milk", ["home"], 5, "", {}, pending)
    assert (Memory.objects.count(), MemoryTerm.objects.count(), ToolCall.objects.count()) == (0, 0, 0)


def test_tag_filters_fold_case_and_accents(tenant: Tenant) -> None:
    cafe = store(tenant, ALICE, "note about coffee", tags=["Café Noir"])
    store(tenant, ALICE, "note about tea", tags=["cafe"])
    assert ids(search(tenant, ALICE, "note", tags=["CAFÉ NOIR"])) == [cafe]
    assert ids(search(tenant, ALICE, "note", tags=["  cafe noir "])) == [cafe]
    assert len(ids(search(tenant, ALICE, "note", tags=["Cafe"]))) == 1


def test_a_rare_tag_drives_the_search_past_the_scan_bound(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memories, "MAX_SCAN", 3)
    made = [store(tenant, ALICE, f"scan note {i}", tags=["rare" if i == 0 else "common"]) for i in range(5)]
    # The oldest is fifth in the word's index, beyond a walk of 3; its tag has 1 posting against the word's 5.
    found = search(tenant, ALICE, "scan", tags=["rare"])
    assert (ids(found), found["total"], found["total_capped"]) == ([made[0]], 1, False)
    # A tag as common as the word: the word's postings are walked, down to the bound.
    common = search(tenant, ALICE, "scan", tags=["common"])
    assert (ids(common), common["total_capped"]) == (list(reversed(made[2:])), True)


def _passes(tags: list[str], importance: int, wanted: list[str], mode: str, floor: int | None) -> bool:
    have = {memories.fold(tag) for tag in tags}
    hits = [memories.fold(tag) in have for tag in wanted]
    return (all(hits) if mode == "all" else any(hits)) and (floor is None or importance >= floor)


@pytest.mark.parametrize("seed", range(4))
def test_filtered_search_equals_a_plain_scan(tenant: Tenant, seed: int) -> None:
    """Property: whichever side drives (the word's postings or the tagged memories), a filtered search
    returns exactly the caller's memories that have a query word and pass the filters; one word in BM25
    order (impact, then newest)."""
    rnd = random.Random(seed)
    vocabulary = ["ant", "bee", "cat", "dog", "eel", "fox"]
    tag_pool = ["red", "Green", "blue", "Gelb", "rosé"]
    made: dict[int, tuple[str, list[str], int]] = {}
    for _ in range(60):
        content = " ".join(rnd.choices(vocabulary, weights=[20, 8, 4, 2, 1, 1], k=rnd.randint(2, 6)))
        tags = rnd.sample(tag_pool, k=rnd.choice([0, 1, 1, 2]))
        importance = rnd.randint(1, 10)
        made[store(tenant, ALICE, content, tags=tags, importance=importance)] = (content, tags, importance)
    store(tenant, BOB, "ant bee cat", tags=["red"])  # another owner: never in the results
    drivers = {"tags": 0, "words": 0}
    for _ in range(40):
        words = rnd.sample(vocabulary, k=rnd.choice([1, 1, 2]))
        wanted = rnd.sample(tag_pool, k=rnd.choice([1, 2]))
        mode = rnd.choice(["any", "all"])
        floor = rnd.choice([None, None, 4])
        extra: dict[str, Any] = {"tags": [t.upper() for t in wanted], "tags_mode": mode, "limit": 100}
        if floor is not None:
            extra["min_importance"] = floor
        with CaptureQueriesContext(connection) as queries:
            found = search(tenant, ALICE, " ".join(words), **extra)
        driven = any(") g CROSS JOIN tools_memoryterm p" in q["sql"] for q in queries.captured_queries)
        drivers["tags" if driven else "words"] += 1
        expected = {
            pk
            for pk, (content, tags, importance) in made.items()
            if set(words) & set(memories.words(content) + [w for t in tags for w in memories.words(t)])
            and _passes(tags, importance, wanted, mode, floor)
        }
        assert set(ids(found)) == expected, (words, extra)
        assert (found["total"], found["total_capped"]) == (len(expected), False)
        if len(words) == 1:
            impact = {pk: memories.impacts(*made[pk])[words[0]] for pk in expected}
            assert ids(found) == sorted(expected, key=lambda pk: (-impact[pk], -pk))
    assert drivers["tags"] > 0 and drivers["words"] > 0, drivers
