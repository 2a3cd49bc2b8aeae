"""``manage.py oauth_doctor [--tenant SLUG] [--token TOKEN]``: the seed guide's troubleshooting table as
checks (``authz.doctor``). Prints one line per check, PASS / WARN / FAIL, and for each problem the fix;
exits with status 1 when any check FAILs, so it can gate a deployment."""

from __future__ import annotations

import os
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from authz import doctor
from authz.models import DEFAULT_TENANT, Tenant


class Command(BaseCommand):
    help = "Check a tenant's OAuth setup (Auth0, metadata, tools) and, given one, an access token."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", default=DEFAULT_TENANT, help="Tenant slug (default: default).")
        parser.add_argument("--token", default="", help="An access token to check ('-' reads it from stdin).")
        parser.add_argument(
            "--mgmt-client-id",
            default=os.environ.get("AUTH0_MGMT_CLIENT_ID", ""),
            help="Management API client id, when the tenant has none (env AUTH0_MGMT_CLIENT_ID).",
        )
        parser.add_argument(
            "--mgmt-client-secret",
            default=os.environ.get("AUTH0_MGMT_CLIENT_SECRET", ""),
            help="Management API client secret (env AUTH0_MGMT_CLIENT_SECRET).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"no tenant {options['tenant']!r} (run manage.py migrate to create the default one)")
        token = options["token"]
        if token == "-":
            token = sys.stdin.read().strip()
        management = None
        if options["mgmt_client_id"] and options["mgmt_client_secret"]:
            management = doctor.ManagementCredentials(options["mgmt_client_id"], options["mgmt_client_secret"])
        rows = doctor.run(tenant, token or None, management)
        styles = {
            doctor.Status.PASS: self.style.SUCCESS,
            doctor.Status.WARN: self.style.WARNING,
            doctor.Status.FAIL: self.style.ERROR,
        }
        self.stdout.write(f"oauth_doctor: tenant {tenant.slug} ({tenant.resource_url})")
        for row in rows:
            self.stdout.write(f"{styles[row.status](row.status.value):<4}  {row.check:<18}  {row.message}")
            if row.fix:
                self.stdout.write(f"{'':<24}fix: {row.fix}")
        counts = {status: sum(1 for row in rows if row.status is status) for status in doctor.Status}
        self.stdout.write(", ".join(f"{counts[status]} {status.value}" for status in doctor.Status))
        if doctor.failed(rows):
            sys.exit(1)
