"""What an operator can see of a running process: JSON log lines that each carry the request id, and
Prometheus metrics.

Logs. Every log record (ours, Django's, Celery's) goes through the stdlib ``logging`` handler configured in
``settings.LOGGING``, whose formatter is :func:`json_formatter`: structlog's ``ProcessorFormatter`` rendering
one JSON object per line with ``timestamp``, ``level``, ``logger``, ``event`` and the request id bound for the
current request by :class:`RequestIdMiddleware` (a context variable, so threads and async tasks keep their
own). ``LOG_FORMAT=console`` renders the same lines for humans. Nothing is logged per request at INFO: the
MCP hot path stays at a few microseconds of overhead (an id and two metric updates).

Request id. Taken from an incoming ``X-Request-ID`` when it is short and plain (a proxy's id joins the two
logs), otherwise 16 hex digits (a random per-process prefix and a serial); echoed in the response's
``X-Request-ID`` header.

Metrics (``/metrics``, see :func:`metrics_view`):

- ``cortex_token_checks_total{reason}``: bearer-token outcomes on the MCP endpoint; ``ok``, ``missing``, or
  the refusal (``token_expired``, ``issuer_mismatch``, ``audience_mismatch``, ``unknown_signing_key``, ...).
- ``cortex_tool_calls_total{tool,outcome}`` and ``cortex_tool_call_duration_seconds{tool}``: every
  ``tools/call`` as audited (outcome ``ok``, ``tool_error``, ``denied``, ``failed``).
- ``cortex_http_request_duration_seconds{view}``: every request by URL name (``mcp``, ``tenant_mcp``,
  ``admin:index``, ...; ``unmatched`` for 404s), so the label set stays bounded.

With several server processes (granian ``--workers N``) set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory
shared by them; ``/metrics`` then adds up every process's values (prometheus_client's multiprocess mode).
``METRICS_TOKEN`` protects ``/metrics`` (``Authorization: Bearer <token>``); ``METRICS_ENABLED=0`` turns it off.
"""

from __future__ import annotations

import contextvars
import hmac
import itertools
import logging
import os
import re
import secrets
import time
from collections.abc import Callable
from typing import Any

import structlog
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess

REQUEST_ID_HEADER = "X-Request-ID"
_INCOMING_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

TOKEN_CHECKS = Counter("cortex_token_checks_total", "Bearer-token checks on the MCP endpoint, by outcome.", ["reason"])
TOOL_CALLS = Counter("cortex_tool_calls_total", "tools/call requests, by tool and outcome.", ["tool", "outcome"])
TOOL_CALL_SECONDS = Histogram(
    "cortex_tool_call_duration_seconds", "Time spent in tools/call, by tool.", ["tool"], buckets=_LATENCY_BUCKETS
)
HTTP_SECONDS = Histogram(
    "cortex_http_request_duration_seconds",
    "Time to answer an HTTP request, by URL name.",
    ["view"],
    buckets=_LATENCY_BUCKETS,
)

# --- logs ----------------------------------------------------------------------------------------------------

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


def add_request_id(logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Stamp the current request's id on the line (one ContextVar read: cheaper than binding per request)."""
    request_id = _request_id.get()
    if request_id is not None:
        event_dict.setdefault("request_id", request_id)
    return event_dict


_SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    add_request_id,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def json_formatter(**_: Any) -> logging.Formatter:
    """The ``()`` factory ``settings.LOGGING`` names: one JSON object per line (``LOG_FORMAT=console``: text)."""
    renderer: Any
    if os.environ.get("LOG_FORMAT", "json").lower() == "console":
        renderer = structlog.dev.ConsoleRenderer(colors=False)
    else:
        renderer = structlog.processors.JSONRenderer()
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED_PROCESSORS,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )


def configure_structlog() -> None:
    """Loggers made with ``structlog.get_logger()`` hand their events to stdlib logging (and so to the JSON
    formatter above), so both kinds of logger produce the same lines."""
    structlog.configure(
        processors=[*_SHARED_PROCESSORS, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


_serial = itertools.count(1)
_prefix: tuple[int, str] = (0, "")


def new_request_id(incoming: str | None) -> str:
    """The incoming id when plain, else 16 hex digits: 8 random per process, then a per-process serial (unique
    without asking the OS for randomness on every request)."""
    global _prefix
    if incoming and _INCOMING_ID.fullmatch(incoming):
        return incoming
    pid = os.getpid()
    if _prefix[0] != pid:  # a forked worker draws its own prefix
        _prefix = (pid, secrets.token_hex(4))
    return f"{_prefix[1]}{next(_serial) & 0xFFFFFFFF:08x}"


class RequestIdMiddleware:
    """Binds the request id for every log line of this request and times it for the latency histogram.

    First in both middleware chains (``MIDDLEWARE`` and ``API_MIDDLEWARE``); costs a few microseconds."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        request_id = new_request_id(request.META.get("HTTP_X_REQUEST_ID"))
        request.request_id = request_id  # type: ignore[attr-defined]
        reset = _request_id.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            _request_id.reset(reset)
        response.headers[REQUEST_ID_HEADER] = request_id
        match = request.resolver_match
        view = match.view_name if match is not None else "unmatched"
        timer = _timers.get(view)
        if timer is None:
            timer = _timers[view] = HTTP_SECONDS.labels(view)
        timer.observe(time.perf_counter() - started)
        return response


_timers: dict[str, Any] = {}


# --- metric hooks (called from the hot path: counters only) --------------------------------------------------

_REASONS: dict[type, str] = {}


def _reason(error_type: type) -> str:
    """``TokenExpired`` -> ``token_expired``: stable labels that name the exception an operator can look up."""
    reason = _REASONS.get(error_type)
    if reason is None:
        reason = _REASONS[error_type] = re.sub(r"(?<!^)(?=[A-Z])", "_", error_type.__name__).lower()
    return reason


_TOKEN_OK = TOKEN_CHECKS.labels("ok")
_TOKEN_MISSING = TOKEN_CHECKS.labels("missing")


def token_checked(error: BaseException | None = None, *, missing: bool = False) -> None:
    """Count one bearer-token check: passed (no arguments), absent (``missing``) or refused (``error``)."""
    if missing:
        _TOKEN_MISSING.inc()
    elif error is None:
        _TOKEN_OK.inc()
    else:
        TOKEN_CHECKS.labels(_reason(type(error))).inc()


def tool_called(tool: str, outcome: str, duration_ms: float) -> None:
    """Count one audited ``tools/call``. The tool label is the audited name (unknown names are refused before
    any handler runs, and are counted under ``<unknown>`` so a client cannot grow the label set)."""
    children = _tool_children.get((tool, outcome))
    if children is None:
        from tools.registry import get

        label = tool if get(tool) is not None else "<unknown>"
        children = (TOOL_CALLS.labels(label, outcome), TOOL_CALL_SECONDS.labels(label))
        if label != "<unknown>":
            _tool_children[(tool, outcome)] = children
    children[0].inc()
    children[1].observe(duration_ms / 1000)


# (tool, outcome) -> the two labelled series of a registered tool: ``labels()`` costs a lock and a dict lookup
# per call, on every tools/call. Unknown names are not kept (a client could send any number of them).
_tool_children: dict[tuple[str, str], tuple[Any, Any]] = {}


# --- the /metrics endpoint -------------------------------------------------------------------------------------


def metrics_allowed(request: HttpRequest) -> bool:
    """``METRICS_TOKEN`` set: only ``Authorization: Bearer <that token>``; unset: anyone who can reach it."""
    expected: str = getattr(settings, "METRICS_TOKEN", "")
    if not expected:
        return True
    scheme, _, presented = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), expected.encode())


def render_metrics() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest()


def metrics_view(request: HttpRequest) -> HttpResponse:
    if not getattr(settings, "METRICS_ENABLED", True):
        return HttpResponse(status=404)
    if not metrics_allowed(request):
        response = HttpResponse("metrics need a bearer token (METRICS_TOKEN)\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(render_metrics(), content_type=CONTENT_TYPE_LATEST)


configure_structlog()
