"""``manage.py sync_scopes [--tenant SLUG]``: push scopes to Auth0 now, without Celery or Redis."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from authz import scopesync
from authz.models import ScopeSyncRun, Tenant
from authz.tasks import summary


class Command(BaseCommand):
    help = (
        "Sync the scopes of every tenant with a Management API client (or of one tenant) to its Auth0 API; "
        "prints one JSON summary per run (also recorded as a scope sync run)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", help="only this tenant's slug (an error if it has no Management client)")

    def handle(self, *args: Any, **options: Any) -> None:
        slug = options["tenant"]
        tenants = Tenant.objects.filter(slug=slug) if slug else Tenant.objects.all()
        if slug and not tenants.exists():
            raise CommandError(f"no tenant with slug {slug!r}")
        failed = []
        for tenant in tenants:
            try:
                run = scopesync.sync(tenant)
            except scopesync.NotConfigured as exc:
                if slug:
                    raise CommandError(str(exc)) from exc
                self.stdout.write(json.dumps({"tenant": tenant.slug, "status": "skipped"}))
                continue
            self.stdout.write(json.dumps(summary(run)))
            if run.status != ScopeSyncRun.Status.OK:
                failed.append(f"{tenant.slug}: {run.error}")
        if failed:
            raise CommandError("scope sync failed for " + "; ".join(failed))
