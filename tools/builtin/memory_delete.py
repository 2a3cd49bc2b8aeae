"""``local_memory_delete``: forget one of the caller's memories.

Another user's memory and a missing id give the same answer ("memory <id> not found"), so the tool
cannot be used to probe which ids exist.
"""

from __future__ import annotations

from typing import Any

from tools.memories import owned
from tools.registry import ToolContext, ToolError, ToolOutput, ToolSpec

NAME = "local_memory_delete"

INPUT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {"id": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}},
    "required": ["id"],
    "additionalProperties": False,
}

OUTPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"id": {"type": "integer"}, "deleted": {"type": "boolean"}},
    "required": ["id", "deleted"],
}


def delete(ctx: ToolContext, args: dict[str, Any]) -> ToolOutput:
    memory_id: int = args["id"]
    deleted, _ = owned(ctx, NAME).filter(pk=memory_id).delete()
    if not deleted:
        raise ToolError(f"memory {memory_id} not found")
    return ToolOutput(text=f"Deleted memory {memory_id}.", structured={"id": memory_id, "deleted": True})


TOOL = ToolSpec(
    name=NAME,
    title="Delete memory",
    description="Delete one of the signed-in user's memories by id.",
    input_schema=INPUT_SCHEMA,
    output_schema=OUTPUT_SCHEMA,
    default_scopes=("memory.delete",),
    handler=delete,
    annotations={"readOnlyHint": False, "destructiveHint": True, "idempotentHint": True, "openWorldHint": False},
)
