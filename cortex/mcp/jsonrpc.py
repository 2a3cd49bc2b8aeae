"""JSON-RPC 2.0 framing: parse one message from a body, check its envelope, build result and error bodies.

Bodies are read and written with orjson (the endpoint must sustain well over a thousand calls a second in
one process), never with pydantic.

Batches (a JSON array) are refused with -32600: MCP 2025-06-18 removed JSON-RPC batching, every version this
server speaks (2025-06-18 and later, and 2025-03-26 clients in practice) sends one message per POST, and a
batch would mix several results, statuses and authorization outcomes into one HTTP response.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from cortex.mcp.errors import InvalidRequest, ParseError

JSONRPC = "2.0"
RequestId = str | int


@dataclass(slots=True)
class Message:
    """One inbound JSON-RPC message.

    ``kind`` is ``"request"`` (has an id: must be answered), ``"notification"`` (no id) or ``"response"``
    (a client's answer to a server request; we never send any, so it is acknowledged and dropped).
    """

    kind: str
    id: RequestId | None
    method: str
    params: dict[str, Any]

    @property
    def is_request(self) -> bool:
        return self.kind == "request"


def parse(body: bytes) -> object:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ParseError() from None


def _valid_id(value: object) -> bool:
    # MCP: "a string or integer", never null; bool is an int subclass in Python, so exclude it explicitly.
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def message(obj: object) -> Message:
    """Check the JSON-RPC envelope of a parsed body. Raises ``InvalidRequest`` (id null) when it is not one."""
    if isinstance(obj, list):
        raise InvalidRequest("Batch requests are not supported: send one JSON-RPC message per POST")
    if not isinstance(obj, dict) or obj.get("jsonrpc") != JSONRPC:
        raise InvalidRequest("Body must be a single JSON-RPC 2.0 request or notification object")
    method = obj.get("method")
    has_id = "id" in obj
    if method is None and has_id and ("result" in obj or "error" in obj):
        return Message("response", None, "", {})
    if not isinstance(method, str) or not method:
        raise InvalidRequest("The request's method must be a non-empty string")
    if has_id and not _valid_id(obj["id"]):
        raise InvalidRequest("The request id must be a string or an integer")
    params = obj.get("params")
    if params is None:
        params = {}
    elif not isinstance(params, dict):
        raise InvalidRequest("The request's params must be an object")
    if has_id:
        return Message("request", obj["id"], method, params)
    return Message("notification", None, method, params)


def result_body(request_id: RequestId | None, result: dict[str, Any]) -> bytes:
    return orjson.dumps({"jsonrpc": JSONRPC, "id": request_id, "result": result})


def error_body(request_id: RequestId | None, code: int, message: str, data: Any = None) -> bytes:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return orjson.dumps({"jsonrpc": JSONRPC, "id": request_id, "error": error})
