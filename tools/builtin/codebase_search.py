"""``codebase.search``: find text in the tenant's registered codebases.

A plain scan of the files ``tools.codebase_files`` allows (a later issue adds an index). Literal by default,
a Python regular expression with ``regex: true``; case-insensitive unless ``case_sensitive``. Every
non-empty match is reported (several per line possible), ordered by (codebase, path, line, column), with up
to ``context`` lines before and after. Lines longer than ``MAX_LINE_CHARS`` are cut, so output stays bounded.
"""

from __future__ import annotations

import re
from typing import Any

from tools import codebase_files
from tools.models import Codebase
from tools.registry import ToolContext, ToolError, ToolOutput, ToolSpec

MAX_LINE_CHARS = 300

INPUT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "query": {"type": "string", "minLength": 1, "maxLength": 500, "description": "Text (or regex) to find."},
        "regex": {"type": "boolean", "default": False, "description": "Treat query as a Python regular expression."},
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


def _pattern(args: dict[str, Any]) -> re.Pattern[str]:
    flags = 0 if args["case_sensitive"] else re.IGNORECASE
    source = args["query"] if args["regex"] else re.escape(args["query"])
    try:
        return re.compile(source, flags)
    except re.error as exc:
        raise ToolError(f"Invalid regular expression: {exc}") from None


def _codebases(ctx: ToolContext, name: str | None) -> list[Codebase]:
    rows = Codebase.objects.filter(tenant=ctx.tenant).order_by("name")
    if name is None:
        return list(rows)
    found = list(rows.filter(name=name))
    if not found:
        raise ToolError(f"Unknown codebase: {name}")
    return found


def _cut(line: str) -> str:
    return line if len(line) <= MAX_LINE_CHARS else line[:MAX_LINE_CHARS] + "…"


def search(ctx: ToolContext, args: dict[str, Any]) -> ToolOutput:
    pattern = _pattern(args)
    limit: int = args["limit"]
    context: int = args["context"]
    path_glob: str | None = args.get("path_glob")
    if path_glob is not None:
        try:
            codebase_files.check_glob(path_glob)
        except codebase_files.UnsafeGlob as exc:
            raise ToolError(str(exc)) from None
    matches: list[dict[str, Any]] = []
    truncated = False
    for codebase in _codebases(ctx, args.get("codebase")):
        try:
            walked = codebase_files.walk(codebase, path_glob)
        except FileNotFoundError as exc:
            if args.get("codebase") is not None:
                raise ToolError(str(exc)) from None
            continue  # searching everything: an unavailable tree is skipped, not fatal
        truncated = truncated or walked.truncated
        for rel, real in walked.files:
            text = codebase_files.read_text(real)
            if text is None:
                continue
            lines = list(codebase_files.iter_lines(text))
            for number, line in enumerate(lines, start=1):
                for found in pattern.finditer(line):
                    if found.end() == found.start():
                        continue  # empty matches (``^``, ``x*``) say nothing and would flood the result
                    if len(matches) >= limit:
                        return _output(matches, True)
                    matches.append(
                        {
                            "codebase": codebase.name,
                            "path": rel,
                            "line": number,
                            "column": found.start() + 1,
                            "text": _cut(line),
                            "before": [_cut(x) for x in lines[max(0, number - 1 - context) : number - 1]],
                            "after": [_cut(x) for x in lines[number : number + context]],
                        }
                    )
    return _output(matches, truncated)


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
    out.append(count + (" (truncated: more matches exist; narrow the query or raise limit)" if truncated else ""))
    return "\n".join(out)


TOOL = ToolSpec(
    name="codebase.search",
    title="Search codebase",
    description=(
        "Search the text of the registered codebases. Literal match by default (regex: true for a regular "
        "expression), case-insensitive unless case_sensitive. Filter with codebase and path_glob; context adds "
        "lines around each match. Results are ordered by codebase, path, line and column."
    ),
    input_schema=INPUT_SCHEMA,
    output_schema=OUTPUT_SCHEMA,
    default_scopes=("search.read",),
    handler=search,
    annotations={"readOnlyHint": True, "openWorldHint": False},
)
