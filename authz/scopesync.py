"""Scope sync: make the tenant's Auth0 API (resource server) list every scope this platform manages.

The resource server is the one whose identifier is the tenant's audience. A sync reads its scopes, merges
ours in and PATCHes the whole list back (Auth0's PATCH replaces ``scopes``, so the list sent must be
complete): scopes this platform does not manage are kept as they are; ours are added when missing and get
the description of their ``Scope`` row (an empty row description keeps Auth0's). Nothing is sent when
nothing changed. Every run is recorded as a ``ScopeSyncRun`` (added / updated / unchanged / kept, or the
error), which the admin shows. The Management API calls go through ``authz.auth0`` (the ``auth0-python``
SDK): token by client credentials, 429 retried with ``Retry-After`` / ``x-ratelimit-reset``, 401/403 turned
into an error naming the missing client grant.

``sync(tenant)`` is the plain function the Celery task (``authz.tasks.sync_scopes``) and
``manage.py sync_scopes`` call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import httpx
from auth0.management.core.api_error import ApiError
from auth0.management.types import ResourceServerScope
from django.utils import timezone

from authz import auth0
from authz.models import Scope, ScopeSyncRun, Tenant

logger = logging.getLogger(__name__)


class NotConfigured(Exception):
    """The tenant has no Management API client (``mgmt_client_id`` / ``mgmt_client_secret``)."""


@dataclass
class Merge:
    """The full scope list to send, and what changed to get there."""

    scopes: list[dict[str, str]] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated)


def merge(current: list[dict[str, Any]], managed: dict[str, str]) -> Merge:
    """Merge our scopes (name -> description) into Auth0's list, keeping its order and its foreign scopes."""
    result = Merge()
    seen: set[str] = set()
    for item in current:
        value = item.get("value")
        if not isinstance(value, str) or value in seen:
            continue
        seen.add(value)
        description = item.get("description") or ""
        if value not in managed:
            result.kept.append(value)
        elif managed[value] and managed[value] != description:
            description = managed[value]
            result.updated.append(value)
        else:
            result.unchanged.append(value)
        result.scopes.append({"value": value, "description": description})
    for name, description in managed.items():
        if name not in seen:
            result.added.append(name)
            # Auth0's dashboard asks for a description; the scope's own name is better than nothing.
            result.scopes.append({"value": name, "description": description or name})
    return result


def managed_scopes(tenant: Tenant) -> dict[str, str]:
    return dict(Scope.objects.filter(tenant=tenant).order_by("name").values_list("name", "description"))


def sync(tenant: Tenant) -> ScopeSyncRun:
    """Run one sync and record it. Raises ``NotConfigured`` (nothing recorded) when the tenant has no
    Management API client; every other failure is recorded on the returned run (status ``failed``)."""
    if not auth0.configured(tenant):
        raise NotConfigured(
            f"tenant {tenant.slug}: no Auth0 Management API client (set mgmt_client_id and mgmt_client_secret, "
            "or AUTH0_MGMT_CLIENT_ID / AUTH0_MGMT_CLIENT_SECRET for the default tenant)"
        )
    run = ScopeSyncRun.objects.create(tenant=tenant)
    try:
        merged = _sync(tenant)
    except (auth0.ManagementApiError, httpx.HTTPError) as exc:
        run.status = ScopeSyncRun.Status.FAILED
        run.error = str(exc)
        logger.warning("scope sync for tenant %s failed: %s", tenant.slug, exc)
    else:
        run.status = ScopeSyncRun.Status.OK
        run.added, run.updated, run.unchanged, run.kept = merged.added, merged.updated, merged.unchanged, merged.kept
        if merged.changed:
            logger.info("scope sync for tenant %s: added %s, updated %s", tenant.slug, merged.added, merged.updated)
    run.finished = timezone.now()
    run.save()
    return run


def _sync(tenant: Tenant) -> Merge:
    identifier = tenant.effective_audience
    api = auth0.client(tenant).resource_servers
    try:
        server = api.get(identifier)
    except ApiError as exc:
        if exc.status_code == 404:
            raise auth0.ManagementApiError(
                f"Auth0 has no API with the identifier {identifier!r}: create it (Applications > APIs) with "
                "that identifier, or set the tenant's audience to the API's identifier"
            ) from exc
        raise auth0.explain(exc, f"read the API {identifier!r}", auth0.READ_GRANT) from exc
    current = [scope.model_dump(exclude_none=True) for scope in server.scopes or []]
    merged = merge(current, managed_scopes(tenant))
    if merged.changed:
        try:
            api.update(server.id or identifier, scopes=[ResourceServerScope(**scope) for scope in merged.scopes])
        except ApiError as exc:
            raise auth0.explain(exc, f"update the scopes of the API {identifier!r}", auth0.UPDATE_GRANT) from exc
    return merged
