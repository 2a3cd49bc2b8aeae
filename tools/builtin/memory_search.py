"""``local_memory_search``: find the caller's memories by words, ranked (see ``tools.memories``).

Filters: ``tags`` with ``tags_mode`` ``any`` (default: a memory with at least one of the tags) or ``all``
(every tag); tags compare case-insensitively. ``domain`` is exact; ``min_importance`` inclusive. Paging by
``offset``/``limit`` over the ranked list; ``total`` counts every match.
"""

from __future__ import annotations

from typing import Any

from tools.memories import MAX_CANDIDATES, owned, prefilter, score, terms
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
    fields = ("id", "content", "tags", "importance", "domain", "created")
    ranked: list[tuple[float, tuple[Any, ...]]] = []
    for row in candidates.values_list(*fields):  # tuples: this loop is the hot path of the tool
        if wanted and not _tags_match(wanted, row[2], args["tags_mode"]):
            continue
        value = score(query_terms, row[1], row[2], row[3])
        if value > 0:
            ranked.append((value, row))
    ranked.sort(key=lambda item: -item[0])  # stable: equal scores stay newest first, as fetched
    page = ranked[args["offset"] : args["offset"] + args["limit"]]
    results = [
        {
            "id": row[0],
            "content": row[1],
            "tags": list(row[2]),
            "importance": row[3],
            "domain": row[4],
            "score": value,
            "created": row[5].isoformat(),
        }
        for value, row in page
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
