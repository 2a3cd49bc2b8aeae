"""``codebase.search``: find text in the tenant's registered codebases.

Answered from the database index (``tools.codebase_index``: trigram posting lists narrow the files, every
match is verified exactly on the indexed text), or by a plain scan of the files ``tools.codebase_files``
allows for a codebase not indexed yet (or whose root or globs changed since). Literal by default, a regular
expression (the ``regex`` module, with a time budget) with ``regex: true``; case-insensitive unless
``case_sensitive``. Every non-empty match is reported (several per line possible), ordered by (codebase,
path, line, column), with up to ``context`` lines before and after; ``offset`` pages through long results.
Lines longer than ``MAX_LINE_CHARS`` are cut, so output stays bounded.
"""

from __future__ import annotations

from typing import Any

from tools import codebase_index
from tools.codebase_index import MAX_LINE_CHARS
from tools.registry import ToolContext, ToolError, ToolOutput, ToolSpec

__all__ = ["INPUT_SCHEMA", "MAX_LINE_CHARS", "OUTPUT_SCHEMA", "TOOL", "render", "search"]

INPUT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "query": {"type": "string", "minLength": 1, "maxLength": 500, "description": "Text (or regex) to find."},
        "regex": {
            "type": "boolean",
            "default": False,
            "description": "Treat query as a regular expression (Python syntax).",
        },
        "case_sensitive": {"type": "boolean", "default": False},
        "codebase": {
            "type": "string",
            "minLength": 1,
            "maxLength": 64,
            "description": "Search only this codebase (by name); default: all of them.",
        },
        "path_glob": {
            "type": "string",
            "minLength": 1,
            "maxLength": 200,
            "description": "Only files whose path matches this gitignore-style glob, e.g. *.py or src/**/*.ts.",
        },
        "context": {"type": "integer", "minimum": 0, "maximum": 5, "default": 0, "description": "Lines around."},
        "limit": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50, "description": "Most matches."},
        "offset": {
            "type": "integer",
            "minimum": 0,
            "maximum": 10000,
            "default": 0,
            "description": "Matches to skip first (paging: the next page starts at offset + limit).",
        },
    },
    "required": ["query"],
    "additionalProperties": False,
}

OUTPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "matches": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "codebase": {"type": "string"},
                    "path": {"type": "string"},
                    "line": {"type": "integer"},
                    "column": {"type": "integer"},
                    "text": {"type": "string"},
                    "before": {"type": "array", "items": {"type": "string"}},
                    "after": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["codebase", "path", "line", "column", "text", "before", "after"],
            },
        },
        "truncated": {"type": "boolean"},
    },
    "required": ["matches", "truncated"],
}


def search(ctx: ToolContext, args: dict[str, Any]) -> ToolOutput:
    query = codebase_index.Query(
        text=args["query"],
        regex=args["regex"],
        case_sensitive=args["case_sensitive"],
        path_glob=args.get("path_glob"),
        context=args["context"],
        limit=args["limit"],
        offset=args["offset"],
    )
    try:
        result = codebase_index.search(ctx.tenant.pk, args.get("codebase"), query)
    except codebase_index.SearchError as exc:
        raise ToolError(str(exc)) from None
    return _output(result.matches, result.truncated)


def _output(matches: list[dict[str, Any]], truncated: bool) -> ToolOutput:
    return ToolOutput(text=render(matches, truncated), structured={"matches": matches, "truncated": truncated})


def render(matches: list[dict[str, Any]], truncated: bool) -> str:
    """grep-like text: ``codebase:path:line:column: text``, context lines as ``codebase:path-line- text``."""
    if not matches:
        return "No matches." + (" (search truncated)" if truncated else "")
    out: list[str] = []
    for match in matches:
        where = f"{match['codebase']}:{match['path']}"
        first = match["line"] - len(match["before"])
        for offset, line in enumerate(match["before"]):
            out.append(f"{where}-{first + offset}- {line}")
        out.append(f"{where}:{match['line']}:{match['column']}: {match['text']}")
        for offset, line in enumerate(match["after"], start=1):
            out.append(f"{where}-{match['line'] + offset}- {line}")
        if match["before"] or match["after"]:
            out.append("--")
    count = f"{len(matches)} match{'es' if len(matches) != 1 else ''}"
    out.append(
        count
        + (" (truncated: more matches exist; narrow the query, raise limit or page with offset)" if truncated else "")
    )
    return "\n".join(out)


TOOL = ToolSpec(
    name="codebase.search",
    title="Search codebase",
    description=(
        "Search the text of the registered codebases. Literal match by default (regex: true for a regular "
        "expression), case-insensitive unless case_sensitive. Filter with codebase and path_glob; context adds "
        "lines around each match. Results are ordered by codebase, path, line and column; offset pages through "
        "them."
    ),
    input_schema=INPUT_SCHEMA,
    output_schema=OUTPUT_SCHEMA,
    default_scopes=("search.read",),
    handler=search,
    annotations={"readOnlyHint": True, "openWorldHint": False},
)
