"""``local_memory_search``: find the caller's memories by words, ranked (see ``tools.memories``).

Filters: ``tags`` with ``tags_mode`` ``any`` (default: a memory with at least one of the tags) or ``all``
(every tag); tags compare case-insensitively. ``domain`` is exact; ``min_importance`` inclusive. Paging by
``offset``/``limit`` over the ranked list; ``total`` counts every match.
"""

from __future__ import annotations

from typing import Any

import orjson
from django.db.models import TextField
from django.db.models.functions import Cast

from tools.memories import MAX_CANDIDATES, Ranker, owned, prefilter, terms
from tools.registry import ToolContext, ToolError, ToolOutput, ToolSpec

NAME = "local_memory_search"

INPUT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "query": {"type": "string", "minLength": 1, "maxLength": 500},
        "tags": {"type": "array", "maxItems": 32, "items": {"type": "string", "minLength": 1, "maxLength": 50}},
        "tags_mode": {
            "enum": ["any", "all"],
            "default": "any",
            "description": "any: a memory with at least one of tags matches; all: it must have every tag.",
        },
        "domain": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,100}$"},
        "min_importance": {"type": "integer", "minimum": 1, "maximum": 10},
        "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
        "offset": {"type": "integer", "minimum": 0, "maximum": 10_000, "default": 0},
    },
    "required": ["query"],
    "additionalProperties": False,
}

OUTPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "results": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "content": {"type": "string"},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "importance": {"type": "integer"},
                    "domain": {"type": "string"},
                    "score": {"type": "number"},
                    "created": {"type": "string"},
                },
                "required": ["id", "content", "tags", "importance", "domain", "score", "created"],
            },
        },
        "total": {"type": "integer"},
    },
    "required": ["results", "total"],
}


def _tags_match(wanted: set[str], tags: list[str], mode: str) -> bool:
    have = {tag.casefold() for tag in tags}
    return wanted <= have if mode == "all" else bool(wanted & have)


def search(ctx: ToolContext, args: dict[str, Any]) -> ToolOutput:
    rows = owned(ctx, NAME)
    query_terms = terms(args["query"])
    if not query_terms:
        raise ToolError("query has no words to search for")
    if "domain" in args:
        rows = rows.filter(domain=args["domain"])
    if "min_importance" in args:
        rows = rows.filter(importance__gte=args["min_importance"])
    wanted = {tag.strip().casefold() for tag in args.get("tags", []) if tag.strip()}
    candidates = rows.filter(prefilter(query_terms)).order_by("-created", "-id")[:MAX_CANDIDATES]
    # Phase 1, the hot loop: rank plain tuples; tags come as JSON text and are parsed with orjson (Django's
    # JSONField converter and the datetime conversion cost more than the ranking itself).
    ranker = Ranker(query_terms)
    mode = args["tags_mode"]
    ranked: list[tuple[float, int]] = []
    for pk, content, tags_json, importance in candidates.annotate(tags_text=Cast("tags", TextField())).values_list(
        "id", "content", "tags_text", "importance"
    ):
        tags = orjson.loads(tags_json) if tags_json else []
        if wanted and not _tags_match(wanted, tags, mode):
            continue
        value = ranker.score(content, tags, importance)
        if value > 0:
            ranked.append((value, pk))
    ranked.sort(key=lambda item: -item[0])  # stable: equal scores stay newest first, as fetched
    page = ranked[args["offset"] : args["offset"] + args["limit"]]
    # Phase 2: the page's rows in full (one small query; still the caller's own rows only).
    full = {
        row[0]: row
        for row in owned(ctx, NAME)
        .filter(pk__in=[pk for _, pk in page])
        .values_list("id", "content", "tags", "importance", "domain", "created")
    }
    results = [
        {
            "id": pk,
            "content": full[pk][1],
            "tags": list(full[pk][2]),
            "importance": full[pk][3],
            "domain": full[pk][4],
            "score": value,
            "created": full[pk][5].isoformat(),
        }
        for value, pk in page
        if pk in full  # deleted between the two queries: dropped
    ]
    return ToolOutput(
        text=render(results, len(ranked), args["offset"]), structured={"results": results, "total": len(ranked)}
    )


def render(results: list[dict[str, Any]], total: int, offset: int) -> str:
    if not results:
        return f"No memories found ({total} matches in all)." if total else "No memories found."
    lines = [f"{total} matching memories; showing {offset + 1}-{offset + len(results)}:"]
    for item in results:
        tags = f" [{', '.join(item['tags'])}]" if item["tags"] else ""
        lines.append(
            f"- #{item['id']} (score {item['score']}, importance {item['importance']}){tags}: {item['content']}"
        )
    return "\n".join(lines)


TOOL = ToolSpec(
    name=NAME,
    title="Search memories",
    description=(
        "Search the signed-in user's memories by words, best matches first. Optional filters: tags (tags_mode "
        "any or all), domain, min_importance; page with limit and offset."
    ),
    input_schema=INPUT_SCHEMA,
    output_schema=OUTPUT_SCHEMA,
    default_scopes=("memory.read",),
    handler=search,
    annotations={"readOnlyHint": True, "openWorldHint": False},
)
