"""What the three memory tools share: the owner rule and the full-text search.

Owner rule. A memory belongs to one (tenant, subject) pair. Every query the memory tools make is
constrained to the caller's pair (``owned(ctx)`` for the ORM, ``tenant_id = %s AND subject = %s`` in the
search SQL), so no code path can reach another user's or another tenant's memory. A call without a
principal (a ``noauth`` call) has no subject and is refused: there is nobody to own the memory.

Search is done by the database, in one SQL statement per page (migration ``0002_memory_fulltext``):

- SQLite: the FTS5 table ``tools_memory_fts`` (contentless, rowid = memory id, tokenizer ``unicode61
  remove_diacritics 2``: case- and accent-insensitive) with columns ``owner``, ``content`` and ``tags``,
  kept in step with ``tools_memory`` by triggers. ``owner`` holds one token, ``o<tenant id>x<hex of the
  subject's UTF-8>``: it is exact (no hash, so no collisions) and computable by the triggers in plain SQL
  on any connection. A search matches ``owner:<token> AND {content tags}: ("w1" OR "w2" ...)``, so it only
  walks the caller's postings; the score is ``-bm25()`` with tags weighted twice content.
- PostgreSQL: the generated column ``tools_memory.search`` (tsvector) with a GIN index: the owner token
  ``O<tenant id>x<md5 of the subject>`` (upper-case, so no word of a memory can produce it), the content
  (weight B) and the tag strings (weight A), in the text search configuration ``cortex_memory`` (``simple``
  plus ``unaccent`` when that extension can be installed: no stemming, no stop words). The score is
  ``ts_rank`` with tags weighted twice content, normalized by document length.

Semantics, the same on both databases: the query is split into words (runs of letters and digits, at
most ``MAX_QUERY_TERMS``); each word is searched as a quoted literal (``OR``, ``NEAR(``, ``"`` and ``*``
are plain words, never search syntax), and a memory matches when it contains ANY of them (OR), in its
content or its tags. The score (higher is better) grows with how often and how many of the words occur and
is multiplied by an importance weight ``0.5 + importance / 20`` (0.55..1.0); equal scores list the newest
(highest id) first. Scores are comparable within one result list, not across databases.

Bound: a search ranks the ``MAX_CANDIDATES`` most recent matching memories (highest ids) that pass the
filters, so one user's large store cannot make a search slow; ``total`` counts matches up to that bound
and ``total_capped`` says there were more (then a narrower query or filter finds older ones).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from django.db import connection
from django.db.models import QuerySet

from tools.models import Memory
from tools.registry import ToolContext, ToolError

# Words as both tokenizers see them: runs of letters and digits (unicode61 and the PostgreSQL parser both
# split on underscores and punctuation).
WORD = re.compile(r"[^\W_]+")
MAX_QUERY_TERMS = 32
MAX_CANDIDATES = 1000
# Column weights: owner (never scored), content, tags.
SQLITE_WEIGHTS = "0.0, 1.0, 2.0"
PG_WEIGHTS = "{0, 0, 0.5, 1.0}"  # D, C, B (content), A (tags)
PG_CONFIG = "cortex_memory"


def require_subject(ctx: ToolContext, tool: str) -> str:
    if ctx.principal is None or not ctx.subject:
        raise ToolError(f"{tool} needs an authenticated user: call it with a bearer token that has a subject")
    return ctx.subject


def owned(ctx: ToolContext, tool: str) -> QuerySet[Memory]:
    """The caller's memories in the caller's tenant, and only those."""
    return Memory.objects.filter(tenant=ctx.tenant, subject=require_subject(ctx, tool))


def terms(text: str) -> list[str]:
    """The query's distinct words, in order, at most ``MAX_QUERY_TERMS``."""
    return list(dict.fromkeys(WORD.findall(text.casefold())))[:MAX_QUERY_TERMS]


def sqlite_owner(tenant_id: int, subject: str) -> str:
    """The FTS5 owner token; the triggers compute the same as ``'o' || tenant_id || 'x' || hex(subject)``."""
    return f"o{tenant_id}x{subject.encode().hex().upper()}"


def pg_owner(tenant_id: int, subject: str) -> str:
    """The tsvector owner lexeme; the generated column computes ``'O' || tenant_id || 'x' || md5(subject)``."""
    return f"O{tenant_id}x{hashlib.md5(subject.encode()).hexdigest()}"


def _fts5_words(words: list[str]) -> str:
    return " OR ".join('"' + word.replace('"', '""') + '"' for word in words)


def fts5_match(tenant_id: int, subject: str, words: list[str], tag_groups: list[list[str]] | None = None) -> str:
    """An FTS5 query string in which every user word is a quoted string (``"`` doubled), never syntax.

    ``tag_groups`` narrow the match in the index (each group: a tag column holding one of the group's tags,
    word for word); the exact, case-insensitive tag test still runs on ``tools_memory`` (a tag of words
    "a b" in the index may come from two tags "a" and "b"). A group with a tag without words (``"++"``)
    cannot be narrowed this way and is skipped here."""
    query = f'owner:"{sqlite_owner(tenant_id, subject)}" AND {{content tags}}: ({_fts5_words(words)})'
    for group in tag_groups or []:
        phrases = [" ".join(WORD.findall(tag.casefold())) for tag in group]
        if phrases and all(phrases):
            query += f" AND tags: ({_fts5_words(phrases)})"
    return query


@dataclass(frozen=True)
class Filters:
    tags: tuple[str, ...] = ()
    tags_mode: str = "any"
    domain: str | None = None
    min_importance: int | None = None


@dataclass(frozen=True)
class Page:
    results: list[dict[str, Any]]
    total: int
    capped: bool


def _filters_sql(vendor: str, filters: Filters) -> tuple[str, list[Any]]:
    """SQL conditions on ``m`` (tools_memory) for the filters. Tags compare case-insensitively: on
    PostgreSQL with ``lower()``, on SQLite (whose ``lower()`` is ASCII-only) with Django's ``REGEXP``
    function, i.e. Python's ``re`` with ``(?i)``."""
    sql, params = "", []
    if filters.domain is not None:
        sql += " AND m.domain = %s"
        params.append(filters.domain)
    if filters.min_importance is not None:
        sql += " AND m.importance >= %s"
        params.append(filters.min_importance)
    if filters.tags:
        # "any": one condition with every tag; "all": one condition per tag.
        groups = [[tag] for tag in filters.tags] if filters.tags_mode == "all" else [list(filters.tags)]
        for group in groups:
            if vendor == "postgresql":
                sql += " AND EXISTS (SELECT 1 FROM jsonb_array_elements_text(m.tags) t(v) WHERE lower(t.v) = ANY(%s))"
                params.append([tag.lower() for tag in group])
            else:
                sql += " AND EXISTS (SELECT 1 FROM json_each(m.tags) t WHERE t.value REGEXP %s)"
                params.append("(?i)^(?:" + "|".join(re.escape(tag) for tag in group) + r")\Z")
    return sql, params


def _candidates_sql(vendor: str, tenant_id: int, subject: str, words: list[str], filters: Filters) -> tuple[str, list]:
    """Ids and scores of the most recent ``MAX_CANDIDATES + 1`` matches that pass the filters."""
    where, where_params = _filters_sql(vendor, filters)
    columns = "m.id"
    weight = "(0.5 + m.importance / 20.0)"
    if vendor == "postgresql":
        query = " || ".join(f"plainto_tsquery('{PG_CONFIG}', %s)" for _ in words)
        sql = (
            f"SELECT {columns}, ts_rank('{PG_WEIGHTS}', m.search, {query}, 1) * {weight} AS score "
            f"FROM tools_memory m WHERE m.tenant_id = %s AND m.subject = %s "
            f"AND m.search @@ (%s::tsquery && ({query})){where} ORDER BY m.id DESC LIMIT %s"
        )
        owner = "'" + pg_owner(tenant_id, subject) + "'"
        params = [*words, tenant_id, subject, owner, *words, *where_params, MAX_CANDIDATES + 1]
    else:
        # CROSS JOIN keeps FTS5 as the outer loop: it walks the caller's postings newest first (rowid DESC is
        # served by FTS5 itself) and stops after MAX_CANDIDATES + 1 rows that pass the filters.
        sql = (
            f"SELECT {columns}, -bm25(tools_memory_fts, {SQLITE_WEIGHTS}) * {weight} AS score "
            f"FROM tools_memory_fts CROSS JOIN tools_memory m ON m.id = tools_memory_fts.rowid "
            f"WHERE tools_memory_fts MATCH %s AND m.tenant_id = %s AND m.subject = %s{where} "
            f"ORDER BY tools_memory_fts.rowid DESC LIMIT %s"
        )
        groups = [[tag] for tag in filters.tags] if filters.tags_mode == "all" else [list(filters.tags)]
        match = fts5_match(tenant_id, subject, words, groups if filters.tags else None)
        params = [match, tenant_id, subject, *where_params, MAX_CANDIDATES + 1]
    return sql, params


def search(tenant_id: int, subject: str, words: list[str], filters: Filters, limit: int, offset: int) -> Page:
    """One page of the owner's matching memories, best first (one SQL statement; a second one only to
    count when the page is past the end)."""
    vendor = connection.vendor
    candidates, params = _candidates_sql(vendor, tenant_id, subject, words, filters)
    # Rank the candidates (ids and scores only), cut the page, then read the page's rows: full rows are
    # fetched for `limit` memories, not for every candidate.
    sql = (
        f"WITH c AS MATERIALIZED ({candidates}), n AS (SELECT count(*) AS total, min(id) AS oldest FROM c) "
        "SELECT m.id, m.content, m.tags, m.importance, m.domain, m.created, p.score, n.total FROM ("
        "SELECT c.id, c.score FROM c, n WHERE n.total <= %s OR c.id > n.oldest "
        "ORDER BY c.score DESC, c.id DESC LIMIT %s OFFSET %s"
        ") p CROSS JOIN n JOIN tools_memory m ON m.id = p.id AND m.tenant_id = %s AND m.subject = %s "
        "ORDER BY p.score DESC, p.id DESC"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, MAX_CANDIDATES, limit, offset, tenant_id, subject])
        rows = cursor.fetchall()
        if rows:
            matched = rows[0][7]
        elif offset:
            cursor.execute(f"SELECT count(*) FROM ({candidates}) c", params)
            matched = cursor.fetchone()[0]
        else:
            matched = 0
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
        for pk, content, tags, importance, domain, created, score, _ in rows
    ]
    return Page(results=results, total=min(matched, MAX_CANDIDATES), capped=matched > MAX_CANDIDATES)


def _tags(value: Any) -> list[str]:
    """Raw-cursor tags: JSON text on SQLite; psycopg already decodes jsonb."""
    if isinstance(value, (str, bytes)):
        value = orjson.loads(value)
    return list(value) if isinstance(value, list) else []


def _created(value: Any) -> str:
    """Raw-cursor timestamps: aware datetimes on PostgreSQL; naive UTC (datetime or text) on SQLite."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()
