"""``manage.py sync_tools [--tenant SLUG]``: create missing tool rows (see ``tools.sync``)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from authz.models import Tenant
from tools.sync import sync_tools


class Command(BaseCommand):
    help = "Create a Tool row (with its default scopes) for every registered handler; existing rows are kept."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", help="Only this tenant (slug); default: every tenant.")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = None
        if options["tenant"]:
            try:
                tenant = Tenant.objects.get(slug=options["tenant"])
            except Tenant.DoesNotExist:
                raise CommandError(f"No tenant {options['tenant']!r}") from None
        for slug, made in sync_tools(tenant).items():
            if made["tools"] or made["scopes"]:
                if made["scopes"]:
                    self.stdout.write(f"{slug}: created scopes {', '.join(made['scopes'])}")
                self.stdout.write(f"{slug}: created tools {', '.join(made['tools'])}")
            else:
                self.stdout.write(f"{slug}: up to date")
