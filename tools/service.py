"""The two things the MCP layer asks of the tools app: the tool list and a tool call.

``list_tools`` turns the tenant's catalogue into MCP Tool descriptors, cached per process on
(``Tenant.config_version``, ``auth_mode``), the same key the catalogue uses plus the one tenant field the
descriptors also depend on. The returned dicts are shared: callers must not mutate them.

``securitySchemes`` (top level and ``_meta``) say what the endpoint really accepts:
- ``auth_mode`` ``oauth2``: ``[{"type": "oauth2", "scopes": [...]}]`` for every tool; the endpoint demands a
  token on every request, so a tool's ``noauth`` flag has no effect there and is not advertised.
- ``optional``: a ``noauth`` tool lists ``[{"type": "noauth"}, {"type": "oauth2", "scopes": [...]}]``
  (callable anonymously; a token may be linked), other tools ``oauth2`` only.
- ``none`` (development): ``[{"type": "noauth"}]`` for every tool.

``call_tool`` runs the fixed sequence: look up → authorize → validate → run → audit. Authorization trusts
the endpoint for the tenant-wide rule (in ``oauth2`` mode no token-less request reaches here) and enforces
the per-tool one: a tool callable anonymously (``noauth``, or every tool when ``auth_mode`` is ``none``)
is run with or without a principal and without a scope check (a token never makes a call fail that would
succeed without one); any other tool needs a principal (``MissingToken``) holding all its scopes
(``InsufficientScope``). Every call writes one ``ToolCall`` row — unknown tools and refusals (outcome
``denied``) before the exception is raised; a handler may write its call's successful row itself, with its
data (``tools.audit.CallAudit``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from authz.errors import InsufficientScope, MissingToken
from authz.models import Tenant
from authz.principal import Principal
from cortex import observability
from tools import audit
from tools.catalog import CatalogEntry, catalog
from tools.models import ToolCall
from tools.registry import ToolContext, ToolError, ToolSpec

logger = logging.getLogger(__name__)

MAX_SHOWN_VALUE = 60


class UnknownTool(Exception):
    """No enabled tool of that name in the tenant (JSON-RPC -32602)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"Unknown tool: {name}")
        self.name = name


@dataclass
class ToolCallResult:
    content: list[dict[str, Any]]
    structured: dict[str, Any] | None
    is_error: bool


# ---------------------------------------------------------------------------------------------- tools/list

_descriptors: dict[int, tuple[tuple[int, str], list[dict[str, Any]]]] = {}


def _security_schemes(tenant: Tenant, entry: CatalogEntry) -> list[dict[str, Any]]:
    oauth2 = {"type": "oauth2", "scopes": list(entry.scopes)}
    if tenant.auth_mode == Tenant.AuthMode.NONE:
        return [{"type": "noauth"}]
    if tenant.auth_mode == Tenant.AuthMode.OPTIONAL and entry.noauth:
        return [{"type": "noauth"}, oauth2]
    return [oauth2]


def _descriptor(tenant: Tenant, entry: CatalogEntry) -> dict[str, Any]:
    schemes = _security_schemes(tenant, entry)
    descriptor: dict[str, Any] = {
        "name": entry.name,
        "title": entry.title,
        "description": entry.description,
        "inputSchema": dict(entry.spec.input_schema),
    }
    if entry.spec.output_schema is not None:
        descriptor["outputSchema"] = dict(entry.spec.output_schema)
    if entry.spec.annotations:
        descriptor["annotations"] = dict(entry.spec.annotations)
    descriptor["securitySchemes"] = schemes
    descriptor["_meta"] = {"securitySchemes": schemes}
    return descriptor


def list_tools(tenant: Tenant) -> list[dict[str, Any]]:
    """MCP Tool descriptors of the tenant's enabled, registered tools, in name order."""
    key = (tenant.config_version, tenant.auth_mode)
    cached = _descriptors.get(tenant.pk)
    if cached is not None and cached[0] == key:
        return list(cached[1])
    descriptors = [_descriptor(tenant, entry) for entry in catalog(tenant).values()]
    _descriptors[tenant.pk] = (key, descriptors)
    return list(descriptors)


# ---------------------------------------------------------------------------------------------- tools/call


@dataclass(frozen=True)
class _Compiled:
    spec: ToolSpec
    check: jsonschema_rs.Validator  # is it valid? (compiled to Rust: about 0.3 µs, against 25 µs)
    explain: Draft202012Validator  # which error to show, with jsonschema's best_match heuristics
    defaults: dict[str, Any]


_validators: dict[int, _Compiled] = {}


def _compiled(spec: ToolSpec) -> _Compiled:
    """The spec's validators (both JSON Schema 2020-12) and its top-level defaults, built once per spec object.

    Valid arguments, the common case on the hot path, are decided by jsonschema-rs alone; only a refusal
    asks the Python ``jsonschema`` which error to report, so messages stay as users and tests know them."""
    cached = _validators.get(id(spec))
    if cached is None or cached.spec is not spec:
        schema = spec.input_schema
        Draft202012Validator.check_schema(schema)
        defaults = {
            name: prop["default"]
            for name, prop in schema.get("properties", {}).items()
            if isinstance(prop, Mapping) and "default" in prop
        }
        cached = _Compiled(spec, jsonschema_rs.Draft202012Validator(schema), Draft202012Validator(schema), defaults)
        _validators[id(spec)] = cached
    return cached


def _field(error: ValidationError) -> str:
    path = ""
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _message(error: ValidationError) -> str:
    """jsonschema's message, with a long offending value shortened (it would echo a 100 kB body)."""
    message = error.message
    shown = repr(error.instance)
    if len(shown) > MAX_SHOWN_VALUE and message.startswith(shown):
        message = shown[: MAX_SHOWN_VALUE - 4] + "...'" + message[len(shown) :]
    return message


def validate(spec: ToolSpec, arguments: object) -> tuple[dict[str, Any] | None, str]:
    """The arguments with defaults applied, or ``None`` and a message naming the bad field."""
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        return None, "Invalid arguments: expected a JSON object"
    compiled = _compiled(spec)
    if not compiled.check.is_valid(arguments):
        error = best_match(compiled.explain.iter_errors(arguments))
        if error is None:  # the two libraries disagree: report jsonschema-rs's own first error
            rs_error = next(compiled.check.iter_errors(arguments))
            path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in rs_error.instance_path).lstrip(".")
            return None, f"Invalid arguments: {path + ': ' if path else ''}{rs_error.message}"
        field = _field(error)
        return None, f"Invalid arguments: {field + ': ' if field else ''}{_message(error)}"
    args = {**compiled.defaults, **arguments}
    for name, value in args.items():
        if isinstance(value, float) and value.is_integer():
            prop = spec.input_schema.get("properties", {}).get(name, {})
            if prop.get("type") == "integer":
                args[name] = int(value)  # JSON Schema counts 3.0 as an integer; handlers get an int
    return args, ""


def _audit(tenant: Tenant, principal: Principal | None, name: str, outcome: str, error: str, started: float) -> None:
    audit.record(tenant, principal, name, outcome, error, (time.perf_counter() - started) * 1000)


def _error(text: str) -> ToolCallResult:
    return ToolCallResult(content=[{"type": "text", "text": text}], structured=None, is_error=True)


def call_tool(tenant: Tenant, principal: Principal | None, name: str, arguments: object) -> ToolCallResult:
    """Run one ``tools/call``; raises ``UnknownTool``, ``MissingToken`` or ``InsufficientScope`` (audited)."""
    started = time.perf_counter()
    name = name if isinstance(name, str) else str(name)
    entry = catalog(tenant).get(name)
    if entry is None:
        _audit(tenant, principal, name, ToolCall.Outcome.DENIED, f"Unknown tool: {name}", started)
        raise UnknownTool(name)

    anonymous_ok = entry.noauth or tenant.auth_mode == Tenant.AuthMode.NONE
    if not anonymous_ok:
        if principal is None:
            denial: MissingToken | InsufficientScope = MissingToken()
            _audit(tenant, principal, name, ToolCall.Outcome.DENIED, denial.description, started)
            raise denial
        missing = principal.missing(list(entry.scopes))
        if missing:
            denial = InsufficientScope(missing, required=entry.scopes)
            _audit(tenant, principal, name, ToolCall.Outcome.DENIED, denial.description, started)
            raise denial

    args, problem = validate(entry.spec, arguments)
    if args is None:
        _audit(tenant, principal, name, ToolCall.Outcome.TOOL_ERROR, problem, started)
        return _error(problem)

    pending = audit.CallAudit(tenant, principal, name, started)
    try:
        output = entry.spec.handler(ToolContext(tenant=tenant, principal=principal, audit=pending), args)
    except ToolError as exc:
        _audit(tenant, principal, name, ToolCall.Outcome.TOOL_ERROR, str(exc), started)
        return _error(str(exc))
    except Exception as exc:
        logger.exception("tool %s failed (tenant %s)", name, tenant.slug)
        _audit(tenant, principal, name, ToolCall.Outcome.FAILED, f"{type(exc).__name__}: {exc}", started)
        return _error(f"Internal error in tool {name}")

    if pending.claimed:  # the handler wrote the row with its data: only count the call
        observability.tool_called(name, ToolCall.Outcome.OK, (time.perf_counter() - started) * 1000)
    else:
        _audit(tenant, principal, name, ToolCall.Outcome.OK, "", started)
    structured = dict(output.structured) if output.structured is not None else None
    content = [{"type": "text", "text": output.text}, *(dict(block) for block in output.content)]
    return ToolCallResult(content=content, structured=structured, is_error=False)
