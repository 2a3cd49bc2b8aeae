"""``manage.py mint_token``: print an access token from the embedded development issuer.

For laptops without an Auth0 tenant (DEBUG on, the tenant trusts the dev issuer). Only the token goes to
stdout, so ``TOKEN=$(python manage.py mint_token --scope "search.read docs.write")`` works.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from authz.devissuer import DevIssuerDisabled, mint
from authz.models import DEFAULT_TENANT, Tenant, split_words


class Command(BaseCommand):
    help = "Print a development access token for a tenant that trusts the embedded development issuer."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", default=DEFAULT_TENANT, help="Tenant slug (default: default).")
        parser.add_argument(
            "--scope",
            default=None,
            help="Scopes, space or comma separated (default: all of the tenant's scopes).",
        )
        parser.add_argument("--sub", default="dev-user", help="Token subject (default: dev-user).")
        parser.add_argument("--ttl", type=int, default=3600, help="Lifetime in seconds (default: 3600).")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"no tenant {options['tenant']!r}")
        if options["scope"] is None:
            scopes = list(tenant.scopes.order_by("id").values_list("name", flat=True))
        else:
            scopes = split_words(options["scope"])
        if options["ttl"] <= 0:
            raise CommandError("--ttl must be a positive number of seconds")
        try:
            token = mint(tenant, scopes, options["sub"], options["ttl"])
        except DevIssuerDisabled as exc:
            raise CommandError(
                f"{exc}. The development issuer works only with DEBUG on and a tenant whose "
                "'use dev issuer' is set (the default tenant gets it when no AUTH0_DOMAIN is set)."
            ) from exc
        self.stdout.write(token)
