"""WSGI entry point: the production server (granian) loads ``application`` from here.

Two middleware chains over one URLconf. The admin and operator pages get ``settings.MIDDLEWARE`` (sessions,
auth, CSRF, messages, ...). The machine-facing API (the MCP endpoint, protected-resource metadata, the
development JWKS) gets ``settings.API_MIDDLEWARE``: it carries no cookies or sessions, so that machinery
would only cost time on the hottest path (about half of a bare request's cost, measured). Host checking does
not depend on the chain: the MCP pipeline validates the Host itself.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from typing import Any

from django.core.handlers.wsgi import WSGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cortex.settings")

import django

django.setup(set_prefix=False)

from django.conf import settings  # noqa: E402

API_PATH = re.compile(r"^/(?:mcp/?|t/[^/]+/mcp/?|\.well-known/.*|dev-issuer/.*|healthz|readyz|metrics)$")


class APIHandler(WSGIHandler):
    """A ``WSGIHandler`` whose middleware chain is ``settings.API_MIDDLEWARE``."""

    def load_middleware(self, is_async: bool = False) -> None:
        full = settings.MIDDLEWARE
        try:
            settings.MIDDLEWARE = settings.API_MIDDLEWARE
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full


class Application:
    def __init__(self) -> None:
        self.site = WSGIHandler()
        self.api = APIHandler()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        handler = self.api if API_PATH.match(environ.get("PATH_INFO", "")) else self.site
        return handler(environ, start_response)


application = Application()
