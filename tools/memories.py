"""What the three memory tools share: the owner rule and the ranking.

A memory belongs to one (tenant, subject) pair. Every query the memory tools make starts from
``owned(ctx)``, so no code path can reach another user's or another tenant's memory. A call without a
principal (a ``noauth`` call) has no subject and is refused: there is nobody to own the memory.

Ranking (until full-text search replaces it): the query is split into lower-cased word terms; a memory's
score is the mean over query terms of ``1 + ln(tf)`` (0 for an absent term), where ``tf`` counts the term
in the memory's content and tags, times an importance weight ``0.5 + importance / 20`` (0.55..1.0). Only
memories with a positive score are returned, best first, ties broken by newest.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable

from django.db.models import Q, QuerySet

from tools.models import Memory
from tools.registry import ToolContext, ToolError

WORD = re.compile(r"\w+")
# Most recent matching memories considered per search; bounded so one user's store cannot make a search slow.
MAX_CANDIDATES = 5000
MAX_QUERY_TERMS = 32


def require_subject(ctx: ToolContext, tool: str) -> str:
    if ctx.principal is None or not ctx.subject:
        raise ToolError(f"{tool} needs an authenticated user: call it with a bearer token that has a subject")
    return ctx.subject


def owned(ctx: ToolContext, tool: str) -> QuerySet[Memory]:
    """The caller's memories in the caller's tenant, and only those."""
    return Memory.objects.filter(tenant=ctx.tenant, subject=require_subject(ctx, tool))


def terms(text: str) -> list[str]:
    return list(dict.fromkeys(WORD.findall(text.casefold())))[:MAX_QUERY_TERMS]


def prefilter(terms_: Iterable[str]) -> Q:
    """A cheap database filter: content or tags contain one of the terms somewhere (ranking refines it)."""
    query = Q()
    for term in terms_:
        query |= Q(content__icontains=term) | Q(tags__icontains=term)
        escaped = json.dumps(term)[1:-1]
        if escaped != term:  # JSONField text on SQLite is ASCII-escaped: a tag "café" is stored as "caf\\u00e9"
            query |= Q(tags__icontains=escaped)
    return query


class Ranker:
    """Scores memories against one query. Counts only the query's own words (one compiled alternation with
    word boundaries, the same tokens ``\\w+`` yields) instead of tokenizing whole memories: this is the hot
    loop of ``local_memory_search``."""

    def __init__(self, query_terms: list[str]) -> None:
        self.terms = query_terms
        alternation = "|".join(re.escape(term) for term in sorted(query_terms, key=len, reverse=True))
        self.pattern = re.compile(rf"(?<!\w)(?:{alternation})(?!\w)")

    def score(self, content: str, tags: list[str], importance: int) -> float:
        text = content.casefold()
        if tags:
            text += "\n" + "\n".join(tags).casefold()
        found = self.pattern.findall(text)
        if not found:
            return 0.0
        if len(self.terms) == 1:
            total = 1 + math.log(len(found))
        else:
            total = sum(1 + math.log(count) for count in Counter(found).values())
        return round(total / len(self.terms) * (0.5 + importance / 20), 4)


def score(query_terms: list[str], content: str, tags: list[str], importance: int) -> float:
    """One memory's score (see the module docstring)."""
    return Ranker(query_terms).score(content, tags, importance)
