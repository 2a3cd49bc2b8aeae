"""What the three memory tools share: the owner rule and the search index.

Owner rule. A memory belongs to one (tenant, subject) pair. Every query the memory tools make is
constrained to the caller's pair (``owned(ctx)`` for the ORM; in the search SQL the postings are read by the
caller's ``owner_key`` and every row returned is joined with ``tools_memory`` on ``tenant_id = %s AND
subject = %s``), so no code path can reach another user's or another tenant's memory. A call without a
principal (a ``noauth`` call) has no subject and is refused: there is nobody to own the memory.

Search index: impact-ordered postings in an ordinary table, ``tools_memoryterm`` (``MemoryTerm``), the
same code and SQL on SQLite and PostgreSQL. Why not FTS5 / tsvector: their BM25 / ts_rank is computed
over EVERY match at query time (a 400-match word cost ~1.1 ms on SQLite, ~2.5 ms on PostgreSQL), and the
MCP endpoint needs a search of ~100-200 µs. Here the per-document part of BM25 is computed once, when a
memory is written, and stored with the posting, so the best matches of a word are the first entries of
one index range (``owner, term, impact DESC, memory_id DESC``).

- One posting per (memory, distinct word): ``owner`` = ``owner_key(tenant id, subject)`` (16 hex digits
  of blake2b; a collision could only mis-count a total, never return a row: rows are joined on the real
  tenant and subject), ``term`` (``words()``: NFKD, combining marks dropped, casefolded, runs of letters and
  digits, cut to ``MAX_TERM_CHARS``; the same function at index and query time), ``impact``.
- ``impact = tf * (K1 + 1) / (tf + K1 * (1 - B + B * dl / AVGDL)) * (0.5 + importance / 20)``: BM25's
  term-frequency part, K1 = 1.2, B = 0.75, with a FIXED average document length ``AVGDL`` (a per-owner
  moving average would make every stored impact stale when it moves), times the importance weight
  (0.55..1.0). ``tf`` counts a word once per occurrence in the content and ``TAG_WEIGHT`` (2) times per
  occurrence in a tag; ``dl`` is the sum of those counts. At most ``MAX_TERMS_PER_MEMORY`` distinct words
  of a memory are indexed (tag words first, then content words in order of first appearance).
- One word, no filters: the index range IS the answer: ``ORDER BY impact DESC, memory_id DESC LIMIT
  limit OFFSET offset``. For one word idf is a constant factor, so this is exactly the BM25 order (with
  the fixed AVGDL), over every match; ``score`` is the impact.
- Several words (OR semantics: a memory matches with any of them): candidates are each word's best
  ``MAX_CANDIDATES + 1`` postings; ``score = sum(idf(word) * impact)`` with BM25's
  ``idf = ln(1 + (N - df + 0.5) / (df + 0.5))``, df counted per (owner, word) and N (the owner's memories)
  counted, both up to ``MAX_COUNT``. Exact for every memory that is among the candidates of each of its
  words (always so when no word has more than ``MAX_CANDIDATES`` matches); a word in more than
  ``MAX_COUNT`` memories (or an owner with more) is weighed as if the counts were ``MAX_COUNT``.
- Tag postings: one per distinct tag of a memory, ``tag_term``: ``TAG_PREFIX`` (``#``) and the whole tag,
  stripped and folded, impact 0. No query word starts with ``#``, so they never rank; they answer tag
  filters through the (memory, term, impact) index.
- Filters (tags any/all, domain, min_importance) are tested while walking each word's postings best first,
  over at most ``MAX_SCAN`` postings per word: exact among a word's ``MAX_SCAN`` best postings. When the
  tag filter's rarest group of tags has fewer postings than the word (and at most ``MAX_SCAN``), its
  memories drive instead, each probed for the word's posting: exact over every tagged memory.
- ``total`` counts matches up to ``MAX_CANDIDATES``; ``total_capped`` says there are more (or that a
  filtered word has more than ``MAX_SCAN`` postings, some not examined).

Scores are comparable within one result list only. Equal scores list the newest (highest id) first.

Index maintenance, in the transaction of the memory write: ``local_memory_store`` calls ``store_memory``
(SQLite: the memory's INSERT, its postings' and the call's audit row in one transaction; PostgreSQL: one
INSERT ... RETURNING statement with data-modifying CTEs for the postings and the audit row); any other save
(the admin) re-indexes through the ``post_save`` signal (``tools.models``) when an indexed field may have
changed; deletes cascade (through the ORM, which is how Django does CASCADE). ``QuerySet.update()`` and
``bulk_create()`` send no signal: call ``index_memories()`` after them (``bench/memory_bench.py`` does for its
bulk load).
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import QuerySet
from django.utils import timezone

from cortex import rawsql
from tools import audit as tools_audit
from tools.models import Memory
from tools.registry import ToolContext, ToolError

WORD = re.compile(r"[^\W_]+")  # runs of letters and digits: "snake_case" is two words
MAX_TERM_CHARS = 64
MAX_TERMS_PER_MEMORY = 1024
MAX_QUERY_TERMS = 32
TAG_WEIGHT = 2
K1 = 1.2
B = 0.75
AVGDL = 24.0  # words of a typical memory (a note of a sentence or two plus a tag or two, tags counted twice)
MAX_CANDIDATES = 1000  # postings per word ranked for several words; the bound of `total`
MAX_SCAN = 10_000  # postings per word examined when filters are given
MAX_COUNT = 10_000  # bound of the df and N counts used by idf
TAG_PREFIX = "#"  # tag postings: a query word (runs of letters and digits) never starts with it
INDEXED_FIELDS = frozenset({"tenant", "tenant_id", "subject", "content", "tags", "importance"})

_INSERT = "INSERT INTO tools_memoryterm (memory_id, owner, term, impact) VALUES "
_ROWS_PER_INSERT = 200
_TOP = (
    "SELECT memory_id, impact FROM tools_memoryterm WHERE owner = %s AND term = %s "
    "ORDER BY impact DESC, memory_id DESC LIMIT %s"
)
_DF = "(SELECT count(*) FROM (SELECT 1 FROM tools_memoryterm WHERE owner = %s AND term = %s LIMIT %s) d)"
_GROUP_DF = "(SELECT count(*) FROM (SELECT 1 FROM tools_memoryterm WHERE owner = %s AND term IN ({}) LIMIT %s) d)"
_OWNED = "(SELECT count(*) FROM (SELECT 1 FROM tools_memory WHERE tenant_id = %s AND subject = %s LIMIT %s) n)"
_ROW = "m.id, m.content, m.tags, m.importance, m.domain, m.created"


def require_subject(ctx: ToolContext, tool: str) -> str:
    if ctx.principal is None or not ctx.subject:
        raise ToolError(f"{tool} needs an authenticated user: call it with a bearer token that has a subject")
    return ctx.subject


def owned(ctx: ToolContext, tool: str) -> QuerySet[Memory]:
    """The caller's memories in the caller's tenant, and only those."""
    return Memory.objects.filter(tenant=ctx.tenant, subject=require_subject(ctx, tool))


def fold(text: str) -> str:
    """Case- and accent-insensitive form: NFKD, combining marks dropped, casefolded."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()


def words(text: str) -> list[str]:
    """Every word of ``text`` as the index stores it (the one tokenizer, for memories and queries)."""
    return [word[:MAX_TERM_CHARS] for word in WORD.findall(fold(text))]


def terms(text: str) -> list[str]:
    """The query's distinct words, in order, at most ``MAX_QUERY_TERMS``."""
    return list(dict.fromkeys(words(text)))[:MAX_QUERY_TERMS]


def owner_key(tenant_id: int, subject: str) -> str:
    """The postings' owner column: 16 hex digits of blake2b over the tenant id and the subject."""
    return hashlib.blake2b(f"{tenant_id}:{subject}".encode(), digest_size=8).hexdigest()


def impacts(content: str, tags: Sequence[str], importance: int) -> dict[str, float]:
    """A memory's postings, ``{term: impact}`` (see the module docstring for the formula)."""
    counts: Counter[str] = Counter()
    for tag in tags:
        for word in words(tag):
            counts[word] += TAG_WEIGHT
    counts.update(words(content))
    length_norm = K1 * (1 - B + B * sum(counts.values()) / AVGDL)
    weight = 0.5 + importance / 20
    return {
        term: tf * (K1 + 1) / (tf + length_norm) * weight for term, tf in list(counts.items())[:MAX_TERMS_PER_MEMORY]
    }


def tag_term(tag: str) -> str:
    """A tag's posting: ``TAG_PREFIX`` and the whole tag, stripped and folded (``fold``)."""
    return (TAG_PREFIX + fold(tag.strip()))[:MAX_TERM_CHARS]


def postings(content: str, tags: Sequence[str], importance: int) -> list[tuple[str, float]]:
    """Every posting of a memory: its words with their impacts, then one per distinct tag (impact 0: a tag
    posting is never ranked, it answers tag filters)."""
    tag_terms = dict.fromkeys(term for term in (tag_term(tag) for tag in tags) if len(term) > len(TAG_PREFIX))
    return [*impacts(content, tags, importance).items(), *((term, 0.0) for term in tag_terms)]


def _rows(memory: Memory) -> list[tuple[int, str, str, float]]:
    owner = owner_key(memory.tenant_id, memory.subject)
    tags = memory.tags if isinstance(memory.tags, list) else []
    return [
        (memory.pk, owner, term, impact)
        for term, impact in postings(memory.content, [str(tag) for tag in tags], memory.importance)
    ]


def _insert_postings(rows: Sequence[tuple[int, str, str, float]], using: str) -> None:
    """Write postings ``(memory_id, owner, term, impact)``. Multi-row INSERTs, not executemany: one round trip
    for a store's postings (psycopg's executemany costs several), and at most 800 parameters per statement
    (SQLite's older limit 999)."""
    for start in range(0, len(rows), _ROWS_PER_INSERT):
        chunk = rows[start : start + _ROWS_PER_INSERT]
        values = ", ".join(["(%s, %s, %s, %s)"] * len(chunk))
        rawsql.execute(_INSERT + values, [value for row in chunk for value in row], using=using)


def index_memories(memories: Iterable[Memory], *, using: str = DEFAULT_DB_ALIAS, fresh: bool = False) -> int:
    """(Re)write the postings of saved memories; returns how many postings were written. For bulk loads
    (``bulk_create`` sends no signal) and after ``QuerySet.update()``. ``fresh=True`` skips deleting old
    postings (memories just inserted have none). Runs in one transaction."""
    written = 0
    batch: list[Memory] = []
    with transaction.atomic(using=using, savepoint=False):

        def flush() -> int:
            if not fresh:
                rawsql.execute(
                    f"DELETE FROM tools_memoryterm WHERE memory_id IN ({', '.join(['%s'] * len(batch))})",
                    [memory.pk for memory in batch],
                    using=using,
                )
            rows = [row for memory in batch for row in _rows(memory)]
            _insert_postings(rows, using)
            batch.clear()
            return len(rows)

        for memory in memories:
            batch.append(memory)
            if len(batch) == 500:
                written += flush()
        if batch:
            written += flush()
    return written


def reindex_after_save(memory: Memory, created: bool, update_fields: Iterable[str] | None) -> None:
    """The ``post_save`` receiver's work: index a new memory, re-index a changed one."""
    if update_fields is not None and not INDEXED_FIELDS.intersection(update_fields):
        return
    index_memories([memory], using=memory._state.db or DEFAULT_DB_ALIAS, fresh=created)


def store_memory(
    tenant_id: int,
    subject: str,
    content: str,
    tags: list[str],
    importance: int,
    domain: str,
    metadata: dict,
    audit: tools_audit.CallAudit | None = None,
) -> tuple[int, datetime]:
    """Insert a memory with its postings, and the call's audit row when given, atomically; returns (id, created).

    The hottest write, so it is plain SQL through ``cortex.rawsql`` rather than ``Memory.objects.create`` and
    its ``post_save`` indexing (that path cost about twice as much on SQLite).
    PostgreSQL: ONE statement (a data-modifying CTE inserts the memory and its postings), atomic by itself:
    an atomic block costs three extra round trips (BEGIN, the postings, COMMIT), which halved the store rate
    through call_tool (~390/s -> ~155/s measured on the shared machine); the audit row is one more CTE. SQLite:
    the memory, its postings and the audit row in one transaction (statements in-process, no round trips)."""
    created = timezone.now()
    owner = owner_key(tenant_id, subject)
    rows = postings(content, tags, importance)
    columns = "tenant_id, subject, content, tags, importance, domain, metadata, created"
    alias = DEFAULT_DB_ALIAS
    if connections[alias].vendor != "postgresql":
        adapted = connections[alias].ops.adapt_datetimefield_value(created)
        with transaction.atomic(using=alias, savepoint=False):
            pk = _first(
                f"INSERT INTO tools_memory ({columns}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                [tenant_id, subject, content, _json(tags), importance, domain, _json(metadata), adapted],
            )[0]
            _insert_postings([(pk, owner, term, impact) for term, impact in rows], alias)
            if audit is not None:
                rawsql.execute(tools_audit.insert_statement(alias), audit.claim(alias))
        return pk, created
    sql = (
        f"WITH new AS (INSERT INTO tools_memory ({columns}) "
        "VALUES (%s, %s, %s, %s::jsonb, %s, %s, %s::jsonb, %s) RETURNING id)"
    )
    params: list[Any] = [tenant_id, subject, content, _json(tags), importance, domain, _json(metadata), created]
    if rows:
        values = ", ".join(["(%s, %s::float8)"] * len(rows))
        sql += (
            ", p AS (INSERT INTO tools_memoryterm (memory_id, owner, term, impact) "
            f"SELECT new.id, %s, v.term, v.impact FROM new, (VALUES {values}) v(term, impact))"
        )
        params += [owner, *(value for posting in rows for value in posting)]
    if audit is not None:
        sql += f", audited AS ({tools_audit.insert_statement(alias)})"
        params += audit.claim(alias)
    return _first(sql + " SELECT id FROM new", params)[0], created


def _json(value: object) -> str:
    return orjson.dumps(value).decode()


@dataclass(frozen=True)
class Filters:
    tags: tuple[str, ...] = ()
    tags_mode: str = "any"
    domain: str | None = None
    min_importance: int | None = None

    @property
    def active(self) -> bool:
        return bool(self.tags) or self.domain is not None or self.min_importance is not None


@dataclass(frozen=True)
class Page:
    results: list[dict[str, Any]]
    total: int
    capped: bool


def _filters_sql(filters: Filters) -> tuple[str, list[Any]]:
    """SQL conditions on ``m`` (tools_memory) for the domain and importance filters."""
    sql, params = "", []
    if filters.domain is not None:
        sql += " AND m.domain = %s"
        params.append(filters.domain)
    if filters.min_importance is not None:
        sql += " AND m.importance >= %s"
        params.append(filters.min_importance)
    return sql, params


def _tags_sql(groups: list[list[str]], memory_id: str) -> tuple[str, list[Any]]:
    """SQL conditions that the memory ``memory_id`` has a tag of each group: a probe of its tag postings (the
    (memory, term, impact) index). Tags are whole tags, compared stripped, case- and accent-insensitively (``fold``)."""
    sql, params = "", []
    for group in groups:
        marks = ", ".join(["%s"] * len(group))
        sql += f" AND EXISTS (SELECT 1 FROM tools_memoryterm t WHERE t.memory_id = {memory_id} AND t.term IN ({marks}))"
        params += group
    return sql, params


def _tag_groups(filters: Filters) -> list[list[str]]:
    """The tag filter as groups of tag terms a memory needs one of: "any" is one group, "all" one per tag."""
    terms = list(dict.fromkeys(tag_term(tag) for tag in filters.tags))
    if not terms:
        return []
    return [[term] for term in terms] if filters.tags_mode == "all" else [terms]


def search(tenant_id: int, subject: str, query_words: list[str], filters: Filters, limit: int, offset: int) -> Page:
    """One page of the owner's matching memories, best first."""
    owner = owner_key(tenant_id, subject)
    if len(query_words) == 1 and not filters.active:
        rows, matched, capped = _one_word(tenant_id, subject, owner, query_words[0], limit, offset)
    else:
        rows, matched, capped = _ranked(tenant_id, subject, owner, query_words, filters, limit, offset)
    results = [
        {
            "id": pk,
            "content": content,
            "tags": _tags(tags),
            "importance": importance,
            "domain": domain,
            "score": float(f"{score:.6g}"),
            "created": _created(created),
        }
        for pk, content, tags, importance, domain, created, score in rows
    ]
    return Page(results=results, total=min(matched, MAX_CANDIDATES), capped=capped)


def _one_word(tenant_id: int, subject: str, owner: str, word: str, limit: int, offset: int) -> tuple:
    """The exact BM25 order for one word, straight from the index: one statement (a second one only when
    the page is past the end, to count)."""
    rows = rawsql.fetchall(
        f"SELECT {_ROW}, p.impact, {_DF} FROM ({_TOP} OFFSET %s) p JOIN tools_memory m ON m.id = p.memory_id "
        "WHERE m.tenant_id = %s AND m.subject = %s ORDER BY p.impact DESC, p.memory_id DESC",
        [owner, word, MAX_CANDIDATES + 1, owner, word, limit, offset, tenant_id, subject],
    )
    if rows:
        matched = rows[0][7]
    elif offset:
        matched = _first(f"SELECT {_DF}", [owner, word, MAX_CANDIDATES + 1])[0]
    else:
        matched = 0
    return [row[:7] for row in rows], matched, matched > MAX_CANDIDATES


def _ranked(
    tenant_id: int,
    subject: str,
    owner: str,
    query_words: list[str],
    filters: Filters,
    limit: int,
    offset: int,
) -> tuple:
    """Several words and/or filters: count df (and N for idf, and the tag filter's postings), then rank the
    candidates in one statement.

    With filters, each word's candidates come from the smaller side: the word's postings walked best first
    (at most MAX_SCAN of them), or, when the tag filter matches fewer memories (at most MAX_SCAN), those
    memories, each probed for the word's posting (exact: every tagged memory is examined)."""
    several = len(query_words) > 1
    counted_to = max(MAX_COUNT, MAX_SCAN) + 1
    counts = [_DF] * len(query_words)
    params: list[Any] = [value for word in query_words for value in (owner, word, counted_to)]
    groups = _tag_groups(filters)
    for group in groups:  # postings of each group of tags (a memory with two tags of one group counts twice)
        counts.append(_GROUP_DF.format(", ".join(["%s"] * len(group))))
        params += [owner, *group, counted_to]
    if several:
        counts.append(_OWNED)
        params += [tenant_id, subject, MAX_COUNT]
    found = _first(f"SELECT {', '.join(counts)}", params)
    dfs = dict(zip(query_words, found[: len(query_words)], strict=True))
    group_dfs = found[len(query_words) : len(query_words) + len(groups)]
    owned_count = found[-1] if several else 0
    weighted = []
    for word in query_words:
        if dfs[word]:
            df = min(dfs[word], MAX_COUNT)
            idf = math.log(1 + (max(owned_count, df) - df + 0.5) / (df + 0.5)) if several else 1.0
            weighted.append((word, idf))
    if not weighted or (groups and min(group_dfs) == 0):
        return [], 0, False
    # The rarest group of tags can drive: its memories are the only ones that can pass the tag filter.
    driver_df, driver = min(zip(group_dfs, groups, strict=True), default=(counted_to, []))
    driver_sql = "SELECT {} memory_id FROM tools_memoryterm WHERE owner = %s AND term IN ({})".format(
        "DISTINCT" if len(driver) > 1 else "", ", ".join(["%s"] * len(driver))
    )
    where, where_params = _filters_sql(filters)
    tags_where, tags_params = _tags_sql(groups, "m.id")
    others_where, others_params = _tags_sql([group for group in groups if group is not driver], "p.memory_id")

    parts, params = [], []
    unscanned = False
    for i, (word, idf) in enumerate(weighted):
        if driver and driver_df <= MAX_SCAN and driver_df < dfs[word]:
            # The tagged memories, each probed for the word's posting by (memory, term), impact included (a
            # covering index). No condition on p.owner: it would let the planner pick the (owner, term) index
            # and walk the word's postings per tagged memory; the tagged memories are the owner's already.
            # tools_memory is read here only for domain / importance filters; every row returned is joined
            # with it on tenant and subject below, as always.
            memory_join, memory_where, memory_params = "", "", []
            if where:
                memory_join = " CROSS JOIN tools_memory m"
                memory_where = f" AND m.id = p.memory_id AND m.tenant_id = %s AND m.subject = %s{where}"
                memory_params = [tenant_id, subject, *where_params]
            parts.append(
                f"SELECT * FROM (SELECT p.memory_id, p.impact * %s AS s FROM ({driver_sql}) g "
                f"CROSS JOIN tools_memoryterm p{memory_join} WHERE p.memory_id = g.memory_id AND p.term = %s"
                f"{memory_where}{others_where} ORDER BY p.impact DESC, p.memory_id DESC LIMIT %s) w{i}"
            )
            params += [idf, owner, *driver, word, *memory_params, *others_params, MAX_CANDIDATES + 1]
        elif filters.active:
            # Walk the word's postings best first (CROSS JOIN: SQLite keeps the postings as the outer loop,
            # so the walk stops after MAX_CANDIDATES + 1 that pass); a word with more than MAX_SCAN
            # postings is walked down to its MAX_SCAN-th posting only (an index range bound).
            bound, bound_params = "", []
            if dfs[word] > MAX_SCAN:
                unscanned = True
                last_id, last_impact = _first(f"{_TOP} OFFSET %s", [owner, word, 1, MAX_SCAN - 1])
                bound = " AND p.impact >= %s AND (p.impact > %s OR p.memory_id >= %s)"
                bound_params = [last_impact, last_impact, last_id]
            parts.append(
                f"SELECT * FROM (SELECT p.memory_id, p.impact * %s AS s FROM tools_memoryterm p "
                f"CROSS JOIN tools_memory m WHERE p.owner = %s AND p.term = %s{bound} AND m.id = p.memory_id "
                f"AND m.tenant_id = %s AND m.subject = %s{where}{tags_where} "
                f"ORDER BY p.impact DESC, p.memory_id DESC LIMIT %s) w{i}"
            )
            params += [idf, owner, word, *bound_params, tenant_id, subject, *where_params, *tags_params]
            params.append(MAX_CANDIDATES + 1)
        else:
            parts.append(f"SELECT memory_id, impact * %s AS s FROM ({_TOP}) w{i}")
            params += [idf, owner, word, MAX_CANDIDATES + 1]
    candidates = f"SELECT memory_id, sum(s) AS score FROM ({' UNION ALL '.join(parts)}) u GROUP BY memory_id"
    rows = rawsql.fetchall(
        f"WITH c AS MATERIALIZED ({candidates}), n AS (SELECT count(*) AS total FROM c) "
        f"SELECT {_ROW}, p.score, n.total FROM "
        "(SELECT memory_id, score FROM c ORDER BY score DESC, memory_id DESC LIMIT %s OFFSET %s) p "
        "CROSS JOIN n JOIN tools_memory m ON m.id = p.memory_id AND m.tenant_id = %s AND m.subject = %s "
        "ORDER BY p.score DESC, p.memory_id DESC",
        [*params, limit, offset, tenant_id, subject],
    )
    if rows:
        matched = rows[0][7]
    elif offset:
        matched = _first(f"SELECT count(*) FROM ({candidates}) c", params)[0]
    else:
        matched = 0
    return [row[:7] for row in rows], matched, matched > MAX_CANDIDATES or unscanned


def _first(sql: str, params: Sequence[Any]) -> tuple[Any, ...]:
    """The first row of a query that always returns one (counts, or a posting known to exist)."""
    row = rawsql.fetchone(sql, params)
    assert row is not None, sql
    return row


def _tags(value: Any) -> list[str]:
    """Raw-cursor tags: JSON text on SQLite; psycopg already decodes jsonb."""
    if isinstance(value, (str, bytes)):
        value = orjson.loads(value)
    return list(value) if isinstance(value, list) else []


def _created(value: Any) -> str:
    """Raw-cursor timestamps: aware datetimes on PostgreSQL; naive UTC (datetime or text) on SQLite."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.isoformat() if moment.tzinfo else moment.isoformat() + "+00:00"
