"""What the pipeline has learned about one HTTP exchange so far; each step fills in its part."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest

from authz.models import Tenant
from authz.principal import Principal
from cortex.mcp.jsonrpc import Message
from cortex.mcp.versions import Era


@dataclass(slots=True)
class Exchange:
    request: HttpRequest
    tenant: Tenant | None = None
    principal: Principal | None = None
    message: Message | None = None
    era: Era | None = None
