"""``local_memory_store``: remember a piece of text for the calling user (tenant + token subject).

The memory, its search postings and the call's audit row are stored atomically
(``tools.memories.store_memory``): an acknowledged store is searchable and audited, and a failed one leaves
none of them."""

from __future__ import annotations

import json
from typing import Any

from tools.memories import require_subject, store_memory
from tools.registry import ToolContext, ToolError, ToolOutput, ToolSpec

NAME = "local_memory_store"
MAX_METADATA_BYTES = 4096

INPUT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "content": {"type": "string", "minLength": 1, "maxLength": 8192},
        "tags": {"type": "array", "maxItems": 32, "items": {"type": "string", "minLength": 1, "maxLength": 50}},
        "importance": {"type": "integer", "minimum": 1, "maximum": 10, "default": 5},
        "domain": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,100}$"},
        "metadata": {
            "type": "object",
            "maxProperties": 32,
            "description": "Free-form JSON object, at most 4 KiB serialized.",
        },
    },
    "required": ["content"],
    "additionalProperties": False,
}

OUTPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "importance": {"type": "integer"},
        "domain": {"type": "string"},
        "created": {"type": "string"},
    },
    "required": ["id", "tags", "importance", "domain", "created"],
}


def store(ctx: ToolContext, args: dict[str, Any]) -> ToolOutput:
    subject = require_subject(ctx, NAME)
    content: str = args["content"]
    if not content.strip():
        raise ToolError("content must not be blank")
    metadata = args.get("metadata", {})
    size = len(json.dumps(metadata, ensure_ascii=False, separators=(",", ":")).encode())
    if size > MAX_METADATA_BYTES:
        raise ToolError(f"metadata is {size} bytes serialized; the limit is {MAX_METADATA_BYTES}")
    tags = list(dict.fromkeys(tag.strip() for tag in args.get("tags", []) if tag.strip()))
    importance: int = args["importance"]
    domain: str = args.get("domain", "")
    pk, created = store_memory(ctx.tenant.pk, subject, content, tags, importance, domain, metadata, ctx.audit)
    return ToolOutput(
        text=f"Stored memory {pk}.",
        structured={"id": pk, "tags": tags, "importance": importance, "domain": domain, "created": created.isoformat()},
    )


TOOL = ToolSpec(
    name=NAME,
    title="Store memory",
    description=(
        "Remember a piece of text for the signed-in user, with optional tags, importance (1-10, default 5), "
        "domain and metadata. Only this user can search or delete it. Returns the memory id."
    ),
    input_schema=INPUT_SCHEMA,
    output_schema=OUTPUT_SCHEMA,
    default_scopes=("memory.write",),
    handler=store,
    annotations={"readOnlyHint": False, "destructiveHint": False, "idempotentHint": False, "openWorldHint": False},
)
