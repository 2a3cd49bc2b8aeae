"""MCP protocol versions this server speaks, and who it says it is.

One endpoint serves two eras (DESIGN.md, "MCP protocol eras"), chosen by the ``MCP-Protocol-Version`` header:

- legacy handshake: header absent or one of ``LEGACY_VERSIONS``; ``initialize`` negotiates the version.
- modern: header ``2026-07-28``; every request carries its version in ``params._meta``.

``2024-11-05`` is deliberately not supported although the SDK still lists it among its handshake versions:
the contract names only the three below, that revision predates Streamable HTTP (it used HTTP+SSE) and had
JSON-RPC batching, and ``initialize`` never negotiates it, so a conforming client never sends it as a header.
A client offering it in ``initialize`` is answered ``2025-11-25`` (the spec's rule: the server's latest).
"""

from __future__ import annotations

import enum
import tomllib
from pathlib import Path

MODERN = "2026-07-28"
LATEST_LEGACY = "2025-11-25"
LEGACY_VERSIONS: tuple[str, ...] = ("2025-11-25", "2025-06-18", "2025-03-26")
MODERN_VERSIONS: tuple[str, ...] = (MODERN,)
# Newest first: what -32022 errors list in ``data.supported`` and ``server/discover`` in ``supportedVersions``.
SUPPORTED_VERSIONS: tuple[str, ...] = (*MODERN_VERSIONS, *LEGACY_VERSIONS)

# Reserved ``_meta`` keys of the modern era.
META_PROTOCOL_VERSION = "io.modelcontextprotocol/protocolVersion"
META_CLIENT_CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"
META_CLIENT_INFO = "io.modelcontextprotocol/clientInfo"
META_SERVER_INFO = "io.modelcontextprotocol/serverInfo"
REQUIRED_ENVELOPE_KEYS: tuple[str, ...] = (META_PROTOCOL_VERSION, META_CLIENT_CAPABILITIES)


class Era(enum.Enum):
    LEGACY = "legacy"
    MODERN = "modern"


def _project_version() -> str:
    """The version in pyproject.toml, read once at import so there is one place to bump it."""
    try:
        with (Path(__file__).resolve().parents[2] / "pyproject.toml").open("rb") as fh:
            return str(tomllib.load(fh)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "0.0.0"


SERVER_NAME = "cortex-mcp"
SERVER_VERSION = _project_version()
SERVER_INFO = {"name": SERVER_NAME, "version": SERVER_VERSION}
CAPABILITIES = {"tools": {"listChanged": False}}
INSTRUCTIONS = (
    "Cortex MCP: search registered codebases, create documents, and store, search and delete your own "
    "memories. Each tool lists the OAuth scopes it needs in securitySchemes; a call without them is refused "
    "with a challenge naming the missing scope."
)
