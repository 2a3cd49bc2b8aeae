"""Celery tasks of the authz app: thin wrappers, one tenant each, over the plain functions that
``manage.py refresh_jwks`` / ``manage.py sync_scopes`` and the tests call directly.

Beat runs them per tenant from the rows ``authz.schedules`` creates (args: ``[slug]``). They return a JSON
summary (visible with a result backend, and in the worker's log at INFO) and never raise for an outcome an
operator handles elsewhere: a JWKS failure is in ``jwks.status``, a sync failure in its ``ScopeSyncRun``.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from authz import jwks, scopesync
from authz.models import Tenant

logger = logging.getLogger(__name__)


@shared_task(name="authz.tasks.refresh_jwks")
def refresh_jwks(slug: str) -> dict[str, Any]:
    """Fetch the tenant's JWKS into the shared cache now (``jwks.refresh``)."""
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        return {"tenant": slug, "ok": False, "error": "no such tenant"}
    return jwks.refresh(tenant)


@shared_task(name="authz.tasks.sync_scopes")
def sync_scopes(slug: str) -> dict[str, Any]:
    """Sync the tenant's scopes to its Auth0 API (``scopesync.sync``); skipped without a Management client."""
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        return {"tenant": slug, "status": "failed", "error": "no such tenant"}
    try:
        run = scopesync.sync(tenant)
    except scopesync.NotConfigured as exc:
        logger.debug("%s", exc)
        return {"tenant": slug, "status": "skipped", "error": str(exc)}
    return summary(run)


def summary(run: Any) -> dict[str, Any]:
    """A ``ScopeSyncRun`` as JSON (the task result, the command's output)."""
    return {
        "tenant": run.tenant.slug,
        "run": run.pk,
        "status": run.status,
        "added": run.added,
        "updated": run.updated,
        "unchanged": run.unchanged,
        "kept": run.kept,
        "error": run.error,
    }
