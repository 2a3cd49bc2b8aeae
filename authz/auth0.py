"""A thin layer over the ``auth0-python`` SDK for the Management API: where, with which token, and what an
error means to an operator.

- Where: the tenant's canonical Auth0 domain (``Tenant.mgmt_domain``, else the issuer's host; a custom domain
  does not serve the Management API). ``https`` always, except on a loopback host (the test stand-in).
- Token: client credentials (``GetToken.client_credentials`` for ``https://DOMAIN/api/v2/``), kept in the
  shared Django cache until a minute before it expires, so every worker process reuses one token instead of
  asking Auth0 (whose token endpoint is rate limited too) on every run. The SDK's own token provider is not
  used: it keeps the token per client object and always speaks https.
- Rate limits: the SDK's management client retries a 429 itself, waiting ``Retry-After`` or until
  ``x-ratelimit-reset`` (capped at 60 s), at most ``MAX_RETRIES`` times; a 429 from the token endpoint is
  retried here the same way.
- Errors: 401/403 become ``ManagementApiError`` naming the client grant the application lacks
  (``read:resource_servers`` to read the API, ``update:resource_servers`` to change its scopes).
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any
from urllib.parse import urlsplit

from auth0.authentication import GetToken
from auth0.authentication.exceptions import Auth0Error, RateLimitError
from auth0.management import Auth0
from auth0.management.core.api_error import ApiError
from django.core.cache import cache

from authz.bootstrap import is_loopback
from authz.models import Tenant

logger = logging.getLogger(__name__)

MAX_RETRIES = 4
MAX_WAIT_SECONDS = 60.0
TIMEOUT_SECONDS = 10.0
READ_GRANT = "read:resource_servers"
UPDATE_GRANT = "update:resource_servers"


class ManagementApiError(Exception):
    """The Management API refused or failed; the message says what to change, where one can tell."""


def domain(tenant: Tenant) -> str:
    """``host[:port]`` of the tenant's Auth0 Management API."""
    if tenant.mgmt_domain:
        return tenant.mgmt_domain.removeprefix("https://").removeprefix("http://").rstrip("/")
    return urlsplit(tenant.issuer).netloc


def configured(tenant: Tenant) -> bool:
    return bool(tenant.mgmt_client_id and tenant.mgmt_client_secret and domain(tenant))


def _scheme(host: str) -> str:
    return "http" if is_loopback(f"http://{host}") else "https"


def audience(tenant: Tenant) -> str:
    return f"https://{domain(tenant)}/api/v2/"


def _token_key(tenant: Tenant) -> str:
    material = f"{domain(tenant)}\n{tenant.mgmt_client_id}\n{tenant.mgmt_client_secret}".encode()
    return f"authz:auth0:mgmt-token:{hashlib.sha256(material).hexdigest()[:32]}"


def token(tenant: Tenant) -> str:
    """A Management API access token for the tenant's M2M application (cached until shortly before expiry)."""
    key = _token_key(tenant)
    cached = cache.get(key)
    if cached:
        return str(cached)
    host = domain(tenant)
    client = GetToken(
        host,
        tenant.mgmt_client_id,
        client_secret=tenant.mgmt_client_secret,
        protocol=_scheme(host),
        timeout=TIMEOUT_SECONDS,
        telemetry=False,
    )
    for attempt in range(MAX_RETRIES + 1):
        try:
            answer: dict[str, Any] = client.client_credentials(audience=audience(tenant))
            break
        except RateLimitError as exc:
            if attempt == MAX_RETRIES:
                raise ManagementApiError(f"Auth0 token endpoint kept answering 429 ({exc.message})") from exc
            wait = min(max(exc.reset_at - time.time(), 0.5), MAX_WAIT_SECONDS) if exc.reset_at > 0 else 2**attempt
            logger.info("Auth0 token endpoint rate limited; retrying in %.1f s", wait)
            time.sleep(wait)
        except Auth0Error as exc:
            said = f"{exc.status_code} {exc.error_code}: {exc.message}"
            if exc.status_code == 401:
                raise ManagementApiError(
                    f"Auth0 refused a Management API token for client {tenant.mgmt_client_id} ({said}): check the "
                    "client id and secret"
                ) from exc
            if exc.status_code == 403:
                raise ManagementApiError(
                    f"Auth0 refused a Management API token for client {tenant.mgmt_client_id} ({said}): authorize "
                    f"the application for the Auth0 Management API with a client grant of {READ_GRANT} and "
                    f"{UPDATE_GRANT} (Applications > APIs > Auth0 Management API > Machine to Machine Applications)"
                ) from exc
            raise ManagementApiError(f"Auth0 token endpoint: {exc.status_code} {exc.message}") from exc
        except OSError as exc:  # requests' ConnectionError and timeouts are OSErrors
            raise ManagementApiError(f"Auth0 token endpoint at {host} unreachable: {exc}") from exc
    access_token = answer["access_token"]
    expires_in = int(answer.get("expires_in", 86400))
    cache.set(key, access_token, timeout=max(expires_in - 60, 1))
    return str(access_token)


def client(tenant: Tenant) -> Auth0:
    """The SDK's Management API client for the tenant (bounded 429 retries, our cached token)."""
    host = domain(tenant)
    return Auth0(
        base_url=f"{_scheme(host)}://{host}/api/v2",
        token=lambda: token(tenant),
        timeout=TIMEOUT_SECONDS,
        max_retries=MAX_RETRIES,
    )


def explain(exc: ApiError, action: str, grant: str) -> ManagementApiError:
    """An SDK error as an operator reads it: Auth0's message, and for 401/403 the grant to add."""
    body = exc.body if isinstance(exc.body, dict) else {}
    said = body.get("message") or str(exc.body)[:200]
    code = f" ({body['errorCode']})" if body.get("errorCode") else ""
    if exc.status_code in (401, 403):
        return ManagementApiError(
            f"Auth0 refused to {action}: {exc.status_code} {said}{code}. The Management API application needs "
            f"the client grant {grant} (Applications > APIs > Auth0 Management API > Machine to Machine "
            "Applications)"
        )
    if exc.status_code == 429:
        return ManagementApiError(f"Auth0 kept rate limiting ({MAX_RETRIES} retries) while trying to {action}")
    return ManagementApiError(f"Auth0 could not {action}: {exc.status_code} {said}{code}")
