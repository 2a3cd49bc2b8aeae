"""The ``WWW-Authenticate`` header for every ``AuthzError`` (RFC 6750 section 3, RFC 9728 section 5.1).

- no token: ``Bearer resource_metadata="<PRM URL>", scope="<tenant scopes>"`` with no ``error``, so a client
  starts discovery (RFC 6750 section 3.1 says a request without credentials gets no error code);
- a bad token or header: ``Bearer error="invalid_token"`` (or ``invalid_request``), the reason as
  ``error_description`` and ``resource_metadata``;
- a token without a tool's scopes: ``Bearer error="insufficient_scope", scope="<scopes the call needs>"``
  (MCP step-up authorization: the client asks the user to consent to exactly those).

Quoted values are reduced to RFC 6750's allowed characters (no ``"`` or ``\\``, printable ASCII only), so a
description can never break the header.
"""

from __future__ import annotations

import re

from authz.errors import AuthzError, InsufficientScope
from authz.metadata import connector_scopes
from authz.models import Tenant

MAX_DESCRIPTION = 400
# RFC 6750 section 3: error-description = *( %x20-21 / %x23-5B / %x5D-7E )
_NOT_ALLOWED = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")


def quoted(value: str) -> str:
    """``value`` as a quoted-string holding only RFC 6750's allowed characters."""
    value = value.replace('"', "'").replace("\\", "/")
    return '"' + _NOT_ALLOWED.sub("?", value) + '"'


def www_authenticate(tenant: Tenant, error: AuthzError) -> str:
    """The full header value for ``error`` on ``tenant``'s resource."""
    metadata = quoted(tenant.metadata_url)
    if error.error is None:
        params = [f"resource_metadata={metadata}"]
        scopes = connector_scopes(tenant)
        if scopes:
            params.append(f"scope={quoted(' '.join(scopes))}")
        return "Bearer " + ", ".join(params)
    description = quoted(error.description[:MAX_DESCRIPTION])
    if isinstance(error, InsufficientScope):
        needed = quoted(" ".join(error.required))
        return (
            f'Bearer error="{error.error}", scope={needed}, resource_metadata={metadata}, '
            f"error_description={description}"
        )
    return f'Bearer error="{error.error}", error_description={description}, resource_metadata={metadata}'
