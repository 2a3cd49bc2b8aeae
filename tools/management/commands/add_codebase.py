"""``manage.py add_codebase NAME PATH [--tenant SLUG] [--include GLOB ...] [--exclude GLOB ...] [--no-index]``.

Registers the codebase and builds its search index at once (``--no-index`` leaves that to
``manage.py index_codebase`` or the hourly task); until a codebase is indexed, searches scan its tree.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from authz.models import DEFAULT_TENANT, Tenant
from tools.codebase_files import resolve_root
from tools.codebase_index import reindex
from tools.models import Codebase


class Command(BaseCommand):
    help = "Register a directory that codebase.search may read (stored as its real path)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("path")
        parser.add_argument("--tenant", default=DEFAULT_TENANT, help="Tenant slug (default: %(default)s).")
        parser.add_argument("--include", action="append", default=[], help="Glob to include (repeatable).")
        parser.add_argument("--exclude", action="append", default=[], help="Glob to skip (repeatable).")
        parser.add_argument("--no-index", action="store_true", help="Register only; index later.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            tenant = Tenant.objects.get(slug=options["tenant"])
        except Tenant.DoesNotExist:
            raise CommandError(f"No tenant {options['tenant']!r}") from None
        try:
            root = resolve_root(options["path"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        name = options["name"]
        if not 1 <= len(name) <= 64:
            raise CommandError("NAME must be 1 to 64 characters")
        if Codebase.objects.filter(tenant=tenant, name=name).exists():
            raise CommandError(f"Tenant {tenant.slug} already has a codebase {name!r}")
        codebase = Codebase.objects.create(
            tenant=tenant,
            name=name,
            root=root,
            include="\n".join(options["include"]),
            exclude="\n".join(options["exclude"]),
        )
        self.stdout.write(f"Registered codebase {name} for tenant {tenant.slug}: {root}")
        if not options["no_index"]:
            report = reindex(codebase)
            self.stdout.write(f"Indexed {report['files']} files, {report['lines']} lines in {report['seconds']:.2f} s")
