"""JSON log lines carry the request id; Prometheus metrics count token checks, tool calls and latency;
/metrics can be protected."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from prometheus_client import REGISTRY
from pytest_django.fixtures import Settings as SettingsWrapper

from authz.models import Tenant
from cortex import observability
from tests.conftest import McpClient


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def log_lines() -> Callable[[], list[dict]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(observability.json_formatter())
    logger = logging.getLogger("cortex.test")
    logger.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)


def _view(request: HttpRequest) -> HttpResponse:
    logging.getLogger("cortex.test").warning("inside %s", "the view")
    return HttpResponse("ok")


@pytest.mark.parametrize(
    ("incoming", "kept"), [("req-abc.123", True), ("has spaces", False), ("x" * 65, False), (None, False)]
)
def test_every_log_line_of_a_request_has_its_id(log_lines: Callable, incoming: str | None, kept: bool) -> None:
    headers = {"HTTP_X_REQUEST_ID": incoming} if incoming else {}
    response = observability.RequestIdMiddleware(_view)(RequestFactory().get("/x", **headers))
    logging.getLogger("cortex.test").warning("after the request")
    inside, after = log_lines()
    assert inside["event"] == "inside the view" and inside["level"] == "warning" and inside["logger"] == "cortex.test"
    assert inside["request_id"] == response["X-Request-ID"]
    assert (inside["request_id"] == incoming) is kept
    if not kept:
        assert len(inside["request_id"]) == 16 and int(inside["request_id"], 16) >= 0
    assert "request_id" not in after and "timestamp" in after


def test_structlog_loggers_write_the_same_json(log_lines: Callable) -> None:
    import structlog

    observability.RequestIdMiddleware(
        lambda request: (structlog.get_logger("cortex.test").warning("structured", tool="docs.create"), HttpResponse())[
            1
        ]
    )(RequestFactory().get("/", HTTP_X_REQUEST_ID="rid-1"))
    (line,) = log_lines()
    assert line["event"] == "structured" and line["tool"] == "docs.create" and line["request_id"] == "rid-1"


def test_token_check_outcomes_are_counted_by_reason(mcp: McpClient, tenant: Tenant, mint: Callable) -> None:
    before = {
        reason: sample("cortex_token_checks_total", reason=reason)
        for reason in ("ok", "missing", "malformed_token", "invalid_request")
    }
    assert mcp.legacy("ping").status_code == 200
    assert mcp.legacy("ping", token="").status_code == 401
    assert mcp.legacy("ping", token="not.ajwt").status_code == 401
    assert mcp.legacy("ping", headers={"Authorization": "Basic abc"}).status_code == 400
    after = {reason: sample("cortex_token_checks_total", reason=reason) for reason in before}
    assert {reason: after[reason] - before[reason] for reason in before} == {
        "ok": 1, "missing": 1, "malformed_token": 1, "invalid_request": 1,
    }  # fmt: skip


def test_tool_calls_are_counted_by_tool_and_outcome() -> None:
    before = sample("cortex_tool_calls_total", tool="docs.create", outcome="denied")
    count = sample("cortex_tool_call_duration_seconds_count", tool="docs.create")
    observability.tool_called("docs.create", "denied", 2.5)
    observability.tool_called("no.such.tool", "denied", 0.1)
    assert sample("cortex_tool_calls_total", tool="docs.create", outcome="denied") == before + 1
    assert sample("cortex_tool_call_duration_seconds_count", tool="docs.create") == count + 1
    assert sample("cortex_tool_calls_total", tool="no.such.tool", outcome="denied") == 0
    assert sample("cortex_tool_calls_total", tool="<unknown>", outcome="denied") >= 1


@pytest.mark.django_db
def test_requests_are_timed_by_url_name(client: Client) -> None:
    before = sample("cortex_http_request_duration_seconds_count", view="healthz")
    client.get("/healthz")
    client.get("/no-such-page")
    assert sample("cortex_http_request_duration_seconds_count", view="healthz") == before + 1
    assert sample("cortex_http_request_duration_seconds_count", view="unmatched") >= 1


@pytest.mark.parametrize(
    ("enabled", "token", "sent", "status"),
    [
        (True, "", None, 200),
        (True, "s3cret", None, 401),
        (True, "s3cret", "Bearer wrong", 401),
        (True, "s3cret", "Bearer s3cret", 200),
        (False, "", None, 404),
    ],
)
def test_metrics_endpoint_protection(
    client: Client, settings: SettingsWrapper, enabled: bool, token: str, sent: str | None, status: int
) -> None:
    settings.METRICS_ENABLED = enabled
    settings.METRICS_TOKEN = token
    reply = client.get("/metrics", headers={"Authorization": sent} if sent else {})
    assert reply.status_code == status
    if status == 200:
        body = reply.content.decode()
        assert "# TYPE cortex_token_checks_total counter" in body
        assert "# TYPE cortex_http_request_duration_seconds histogram" in body


def test_generated_request_ids_are_unique_and_plain() -> None:
    ids = [observability.new_request_id(None) for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert all(len(value) == 16 and int(value, 16) >= 0 for value in ids)
    assert observability.new_request_id("bad id with spaces") not in ids
