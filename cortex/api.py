"""The django-ninja API. Views are thin: each hands the request to a plain module."""

from __future__ import annotations

from ninja import NinjaAPI

api = NinjaAPI(title="Cortex MCP", urls_namespace="cortex", docs_url=None, openapi_url=None)
