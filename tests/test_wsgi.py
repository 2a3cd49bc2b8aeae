"""The WSGI application: the API paths run under ``API_MIDDLEWARE``, everything else under ``MIDDLEWARE``."""

from __future__ import annotations

import io
from typing import Any
from wsgiref.util import setup_testing_defaults

import orjson
import pytest

from cortex import wsgi


def call(path: str, method: str = "GET", host: str = "127.0.0.1", **extra: str) -> tuple[str, dict[str, str], bytes]:
    environ: dict[str, Any] = {"PATH_INFO": path, "REQUEST_METHOD": method, "HTTP_HOST": host, **extra}
    setup_testing_defaults(environ)
    environ["wsgi.input"] = io.BytesIO(b"")
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: object = None) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    body = b"".join(wsgi.application(environ, start_response))
    return seen["status"], seen["headers"], body


@pytest.mark.parametrize(
    ("path", "api"),
    [
        ("/mcp", True),
        ("/t/acme/mcp", True),
        ("/.well-known/oauth-protected-resource", True),
        ("/.well-known/oauth-protected-resource/t/acme/mcp", True),
        ("/dev-issuer/.well-known/jwks.json", True),
        ("/admin/login/", False),
        ("/mcpx", False),
        ("/t/acme/mcp/extra", False),
    ],
)
def test_api_paths(path: str, api: bool) -> None:
    assert bool(wsgi.API_PATH.match(path)) is api


@pytest.mark.django_db(transaction=True)
def test_admin_keeps_the_full_chain_and_the_api_gets_the_short_one() -> None:
    _, admin, _ = call("/admin/login/")
    assert admin["X-Frame-Options"] == "DENY"  # XFrameOptionsMiddleware: only in MIDDLEWARE
    status, api, _ = call("/mcp", "GET")
    assert status.startswith("405")
    assert "X-Frame-Options" not in api
    assert api["Allow"] == "POST"


@pytest.mark.django_db
def test_host_outside_allowed_hosts_is_a_json_rpc_400_before_anything_else() -> None:
    status, headers, body = call(
        "/mcp", "POST", host="evil.example", HTTP_ORIGIN="https://x", CONTENT_TYPE="text/plain"
    )
    assert status.startswith("400")
    assert headers["Content-Type"] == "application/json"
    assert orjson.loads(body) == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": -32600, "message": "Bad Request: Host not allowed"},
    }


def test_admin_static_files_are_served_without_debug(settings: Any, tmp_path: Any) -> None:
    """WhiteNoise serves what `make serve` collects: the admin has its CSS under granian, DEBUG off."""
    from django.core.management import call_command
    from django.test import Client

    settings.DEBUG = False
    settings.STATIC_ROOT = tmp_path
    call_command("collectstatic", "--no-input", verbosity=0)
    response = Client().get("/static/admin/css/base.css", HTTP_HOST="127.0.0.1")
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"/*")
