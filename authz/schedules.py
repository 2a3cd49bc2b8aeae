"""Each tenant's periodic tasks, as django-celery-beat rows an admin can edit (interval, enabled, ...).

Per tenant: "JWKS refresh: <slug>" every 10 minutes (``authz.tasks.refresh_jwks``) and "Scope sync: <slug>"
every 15 minutes (``authz.tasks.sync_scopes``, which skips tenants without a Management API client) and
"Codebase re-index: <slug>" every 60 minutes (``tools.tasks.reindex_codebases``, incremental). Rows are
created when a tenant is created and after every ``migrate`` (so the default tenant, which bootstrap makes
without signals, gets them too); an existing row is never changed, so an admin's edits stay. Deleting a
tenant deletes its rows.
"""

from __future__ import annotations

import json
from typing import Any

from django.apps import AppConfig
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models.signals import post_delete, post_migrate, post_save

from authz.models import Tenant

# (task name, row label, default minutes)
SCHEDULES = [
    ("authz.tasks.refresh_jwks", "JWKS refresh", 10),
    ("authz.tasks.sync_scopes", "Scope sync", 15),
    ("tools.tasks.reindex_codebases", "Codebase re-index", 60),
]


def row_name(label: str, tenant: Tenant) -> str:
    return f"{label}: {tenant.slug}"


def ensure(tenant: Tenant) -> list[str]:
    """Create the tenant's missing periodic-task rows; returns the names of those created."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    created = []
    for task, label, minutes in SCHEDULES:
        name = row_name(label, tenant)
        if PeriodicTask.objects.filter(name=name).exists():
            continue
        interval = IntervalSchedule.objects.filter(every=minutes, period=IntervalSchedule.MINUTES).first()
        if interval is None:
            interval = IntervalSchedule.objects.create(every=minutes, period=IntervalSchedule.MINUTES)
        PeriodicTask.objects.create(
            name=name,
            task=task,
            interval=interval,
            args=json.dumps([tenant.slug]),
            description=f"{label} for tenant {tenant.slug} (created by authz.schedules; edit freely)",
        )
        created.append(name)
    return created


def ensure_all(**kwargs: Any) -> None:
    """``post_migrate``: rows for every tenant, once the beat tables exist."""
    from django_celery_beat.models import PeriodicTask

    using = kwargs.get("using", DEFAULT_DB_ALIAS)
    tables = connections[using].introspection.table_names()
    if using != DEFAULT_DB_ALIAS or PeriodicTask._meta.db_table not in tables or Tenant._meta.db_table not in tables:
        return
    for tenant in Tenant.objects.all():
        ensure(tenant)


def _tenant_saved(sender: type[Tenant], instance: Tenant, created: bool, raw: bool = False, **kwargs: Any) -> None:
    if created and not raw:
        ensure(instance)


def _tenant_deleted(sender: type[Tenant], instance: Tenant, **kwargs: Any) -> None:
    from django_celery_beat.models import PeriodicTask

    PeriodicTask.objects.filter(name__in=[row_name(label, instance) for _, label, _ in SCHEDULES]).delete()


def connect(app_config: AppConfig) -> None:
    """Called from ``AuthzConfig.ready()`` after bootstrap's own ``post_migrate`` hook (order matters)."""
    post_migrate.connect(ensure_all, sender=app_config, dispatch_uid="authz.schedules.ensure_all")
    post_save.connect(_tenant_saved, sender=Tenant, dispatch_uid="authz.schedules.tenant_saved")
    post_delete.connect(_tenant_deleted, sender=Tenant, dispatch_uid="authz.schedules.tenant_deleted")
