"""``local_memory_search``: find the caller's memories by words, ranked by BM25 from the impact-ordered
search index (see ``tools.memories``: a memory matches when it has any of the query's words; best first).

Filters: ``tags`` with ``tags_mode`` ``any`` (default: a memory with at least one of the tags) or ``all``
(every tag); tags compare as whole tags, case- and accent-insensitively. ``domain`` is exact;
``min_importance`` inclusive. Paging by ``offset``/``limit`` over the ranked list. ``total`` counts the matches, at most
``tools.memories.MAX_CANDIDATES``; ``total_capped`` is true when more memories match.
"""

from __future__ import annotations

from typing import Any

from tools import memories
from tools.memories import Filters, require_subject, terms
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
        "total": {"type": "integer", "description": "Matches (counted up to 1000)."},
        "total_capped": {"type": "boolean", "description": "More memories match than total counts."},
    },
    "required": ["results", "total", "total_capped"],
}


def search(ctx: ToolContext, args: dict[str, Any]) -> ToolOutput:
    subject = require_subject(ctx, NAME)
    query_terms = terms(args["query"])
    if not query_terms:
        raise ToolError("query has no words to search for")
    filters = Filters(
        tags=tuple(dict.fromkeys(tag.strip() for tag in args.get("tags", []) if tag.strip())),
        tags_mode=args["tags_mode"],
        domain=args.get("domain"),
        min_importance=args.get("min_importance"),
    )
    page = memories.search(ctx.tenant.pk, subject, query_terms, filters, args["limit"], args["offset"])
    structured = {"results": page.results, "total": page.total, "total_capped": page.capped}
    return ToolOutput(text=render(page.results, page.total, page.capped, args["offset"]), structured=structured)


def render(results: list[dict[str, Any]], total: int, capped: bool, offset: int) -> str:
    counted = f"more than {total}" if capped else str(total)
    if not results:
        return f"No memories found ({counted} matches in all)." if total else "No memories found."
    lines = [f"{counted} matching memories; showing {offset + 1}-{offset + len(results)}:"]
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
