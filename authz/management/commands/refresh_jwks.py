"""``manage.py refresh_jwks [--tenant SLUG]``: fetch signing keys now, without Celery or Redis."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from authz import jwks
from authz.models import Tenant


class Command(BaseCommand):
    help = "Fetch the JWKS of every tenant (or one) into the shared cache now; prints one JSON status per tenant."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", help="only this tenant's slug")

    def handle(self, *args: Any, **options: Any) -> None:
        tenants = Tenant.objects.all()
        if options["tenant"]:
            tenants = tenants.filter(slug=options["tenant"])
            if not tenants.exists():
                raise CommandError(f"no tenant with slug {options['tenant']!r}")
        failed = []
        for tenant in tenants:
            status = jwks.refresh(tenant)
            self.stdout.write(json.dumps(status))
            if not status["ok"]:
                failed.append(tenant.slug)
        if failed:
            raise CommandError(f"JWKS refresh failed for: {', '.join(failed)}")
