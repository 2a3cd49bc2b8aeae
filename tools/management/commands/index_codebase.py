"""``manage.py index_codebase [--tenant SLUG] [--full] [NAME ...]``: build or refresh codebase search indexes."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from authz.models import Tenant
from tools.codebase_index import reindex
from tools.models import Codebase


class Command(BaseCommand):
    help = (
        "Index registered codebases for codebase.search: the first run reads every file, later runs only the "
        "changed, added and deleted ones. Without NAME, every codebase (of --tenant, or of all tenants)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("names", nargs="*", metavar="NAME", help="Codebase names (default: all).")
        parser.add_argument("--tenant", help="Tenant slug (default: every tenant; required with NAME if ambiguous).")
        parser.add_argument("--full", action="store_true", help="Re-read every file and rebuild the postings.")

    def handle(self, *args: Any, **options: Any) -> None:
        rows = Codebase.objects.select_related("tenant").order_by("tenant__slug", "name")
        if options["tenant"]:
            if not Tenant.objects.filter(slug=options["tenant"]).exists():
                raise CommandError(f"No tenant {options['tenant']!r}")
            rows = rows.filter(tenant__slug=options["tenant"])
        names: list[str] = options["names"]
        if names:
            rows = rows.filter(name__in=names)
            missing = sorted(set(names) - {row.name for row in rows})
            if missing:
                raise CommandError(f"No codebase named {', '.join(missing)}")
        failed = 0
        for codebase in rows:
            label = f"{codebase.tenant.slug}:{codebase.name}"
            try:
                report = reindex(codebase, full=options["full"])
            except (OSError, ValueError) as exc:
                failed += 1
                self.stderr.write(f"{label}: {exc}")
                continue
            if report["status"] == "busy":
                self.stdout.write(f"{label}: another re-index is running; skipped")
                continue
            self.stdout.write(
                f"{label}: {report['status']} in {report['seconds']:.2f} s: {report['files']} files, "
                f"{report['lines']} lines ({report['added']} added, {report['changed']} changed, "
                f"{report['deleted']} deleted, {report['skipped']} skipped); text {report['bytes']} bytes, "
                f"postings {report['posting_bytes']} bytes"
            )
        if failed:
            raise CommandError(f"{failed} codebase(s) could not be indexed")
