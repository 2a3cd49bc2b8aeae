"""One exception tree for every reason a request is not authorized.

Each class carries what the response needs: the HTTP status, the RFC 6750 ``error`` code for the
``WWW-Authenticate`` challenge (``None``: a bare challenge, as for a missing token) and the JSON-RPC error
code for the body. The message of the exception is the ``error_description``: it names the reason an
operator needs (expected vs got). ``cortex.mcp.responses`` is the one place that turns these into HTTP.
"""

from __future__ import annotations

from collections.abc import Iterable


class AuthzError(Exception):
    status: int = 401
    error: str | None = "invalid_token"
    jsonrpc_code: int = -32001

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class MissingToken(AuthzError):
    """No credentials: a bare challenge (no ``error`` parameter), per RFC 6750 section 3.1."""

    error = None

    def __init__(self, description: str = "Authorization required: send a bearer token") -> None:
        super().__init__(description)


class InvalidRequest(AuthzError):
    """The Authorization header itself is malformed (wrong scheme, two credentials, bad characters)."""

    status = 400
    error = "invalid_request"
    jsonrpc_code = -32600


class InvalidToken(AuthzError):
    """The token was presented but cannot be trusted. Subclasses name why."""


class MalformedToken(InvalidToken):
    pass


class EncryptedToken(InvalidToken):
    """A JWE (five segments) or an opaque token: Auth0 issues these when no audience was requested."""


class AlgorithmNotAllowed(InvalidToken):
    pass


class UnknownSigningKey(InvalidToken):
    pass


class InvalidSignature(InvalidToken):
    pass


class TokenExpired(InvalidToken):
    pass


class TokenNotYetValid(InvalidToken):
    pass


class IssuerMismatch(InvalidToken):
    pass


class AudienceMismatch(InvalidToken):
    pass


class MissingClaim(InvalidToken):
    pass


class IssuerNotConfigured(InvalidToken):
    """The tenant trusts no issuer yet (no AUTH0_DOMAIN / AUTH_ISSUER, or the dev issuer with DEBUG off)."""


class KeysUnavailable(AuthzError):
    """The JWKS could not be fetched and no keys are cached: our side's failure, so no challenge."""

    status = 503
    error = None
    jsonrpc_code = -32603


class InsufficientScope(AuthzError):
    """The token is valid but lacks scopes this call needs (RFC 6750 section 3.1, MCP step-up)."""

    status = 403
    error = "insufficient_scope"
    jsonrpc_code = -32003

    def __init__(self, missing: Iterable[str], required: Iterable[str]) -> None:
        self.missing = list(missing)
        self.required = list(required)
        super().__init__("Unauthorized: scope " + " ".join(self.missing) + " required")
