"""The code registry of tool handlers, loaded by dotted path from ``settings.CORTEX_TOOL_MODULES``
(as Django loads password hashers). Each module defines ``TOOL``, a ``ToolSpec``.

A handler receives a ``ToolContext`` and arguments already validated against ``input_schema`` and
returns a ``ToolOutput``; it raises ``ToolError`` for a failure the caller should read (it becomes a tool
result with ``isError: true``, not a protocol error).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.utils.module_loading import import_string

from authz.models import Tenant
from authz.principal import Principal

if TYPE_CHECKING:
    from tools.audit import CallAudit


class ToolError(Exception):
    """A failure reported to the caller as a tool result with ``isError: true``."""


@dataclass(frozen=True)
class ToolContext:
    tenant: Tenant
    principal: Principal | None
    audit: CallAudit | None = None  # the call's audit row, for a handler that writes it with its data

    @property
    def subject(self) -> str:
        return self.principal.subject if self.principal else ""

    @property
    def client_id(self) -> str:
        return self.principal.client_id if self.principal else ""


@dataclass(frozen=True)
class ToolOutput:
    """``text`` becomes the result's first content block (text); ``structured`` its ``structuredContent``;
    ``content`` holds further MCP content blocks (image, audio, embedded resource) sent after the text."""

    text: str
    structured: Mapping[str, Any] | None = None
    content: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class ToolSpec:
    name: str
    title: str
    description: str
    input_schema: Mapping[str, Any]
    default_scopes: tuple[str, ...]
    handler: Callable[[ToolContext, dict[str, Any]], ToolOutput]
    output_schema: Mapping[str, Any] | None = None
    annotations: Mapping[str, Any] = field(default_factory=dict)


@functools.cache
def registry() -> dict[str, ToolSpec]:
    """Every registered tool by name. Two modules registering one name is a configuration error."""
    specs: dict[str, ToolSpec] = {}
    for path in settings.CORTEX_TOOL_MODULES:
        spec: ToolSpec = import_string(f"{path}.TOOL")
        if spec.name in specs:
            raise ValueError(f"tool {spec.name!r} is registered twice ({path})")
        specs[spec.name] = spec
    return specs


def get(name: str) -> ToolSpec | None:
    return registry().get(name)
