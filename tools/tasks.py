"""Celery tasks of the tools app: a thin wrapper over ``tools.codebase_index.reindex`` (the function the admin
action and ``manage.py index_codebase`` call), run per tenant by beat from the rows ``authz.schedules`` makes."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from tools.codebase_index import reindex
from tools.models import Codebase

logger = logging.getLogger(__name__)


@shared_task(name="tools.tasks.reindex_codebases")
def reindex_codebases(slug: str) -> list[dict[str, Any]]:
    """Re-index every codebase of the tenant (incremental); a failing codebase is reported, not raised."""
    reports = []
    for codebase in Codebase.objects.filter(tenant__slug=slug).order_by("name"):
        try:
            reports.append(reindex(codebase))
        except Exception as exc:  # a vanished root, a permission error: recorded by reindex, reported here
            logger.warning("re-index of codebase %s failed: %s", codebase.name, exc)
            reports.append({"codebase": codebase.name, "status": "failed", "error": f"{type(exc).__name__}: {exc}"})
    return reports
