"""``docs.create``: store a markdown document in the tenant, signed with the caller's subject and client.

The title is one line (whitespace runs, newlines included, collapse to one space) so the rendered
``# title`` heading cannot be broken; tags are trimmed and de-duplicated, order kept.
"""

from __future__ import annotations

from typing import Any

from tools.models import Document
from tools.registry import ToolContext, ToolError, ToolOutput, ToolSpec

URI_PREFIX = "cortex://docs/"

INPUT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "title": {"type": "string", "minLength": 3, "maxLength": 120},
        "body": {"type": "string", "minLength": 10, "maxLength": 100_000, "description": "Markdown."},
        "summary": {"type": "string", "maxLength": 500},
        "tags": {
            "type": "array",
            "maxItems": 20,
            "items": {"type": "string", "minLength": 1, "maxLength": 50},
        },
    },
    "required": ["title", "body"],
    "additionalProperties": False,
}

OUTPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "uri": {"type": "string"},
        "title": {"type": "string"},
        "markdown": {"type": "string"},
    },
    "required": ["id", "uri", "title", "markdown"],
}


def clean_tags(tags: list[str]) -> list[str]:
    """Trimmed, blank ones dropped, duplicates dropped (first spelling kept)."""
    return list(dict.fromkeys(tag.strip() for tag in tags if tag.strip()))


def render(title: str, summary: str, tags: list[str], body: str) -> str:
    parts = [f"# {title}"]
    if summary:
        parts.append(summary)
    if tags:
        parts.append("Tags: " + ", ".join(f"`{tag}`" for tag in tags))
    parts.append(body.strip("\n"))
    return "\n\n".join(parts) + "\n"


def create(ctx: ToolContext, args: dict[str, Any]) -> ToolOutput:
    title = " ".join(args["title"].split())
    if len(title) < 3:
        raise ToolError("title must have at least 3 non-blank characters")
    body: str = args["body"]
    if not body.strip():
        raise ToolError("body must not be blank")
    summary = args.get("summary", "").strip()
    tags = clean_tags(args.get("tags", []))
    doc = Document.objects.create(
        tenant=ctx.tenant,
        title=title,
        body=body,
        summary=summary,
        tags=tags,
        author=ctx.subject,
        client_id=ctx.client_id,
    )
    uri = f"{URI_PREFIX}{doc.uid}"
    markdown = render(title, summary, tags, body)
    return ToolOutput(
        text=f"Created document {uri}\n\n{markdown}",
        structured={"id": str(doc.uid), "uri": uri, "title": title, "markdown": markdown},
    )


TOOL = ToolSpec(
    name="docs.create",
    title="Create document",
    description=(
        "Create a markdown document with a title, body, optional summary and tags. Returns its id, its "
        "cortex://docs/<id> URI and the rendered markdown."
    ),
    input_schema=INPUT_SCHEMA,
    output_schema=OUTPUT_SCHEMA,
    default_scopes=("docs.write",),
    handler=create,
    annotations={"readOnlyHint": False, "destructiveHint": False, "idempotentHint": False, "openWorldHint": False},
)
