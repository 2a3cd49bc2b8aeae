"""manage.py mint_token: prints only a token, which the verifier accepts."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from pytest_django.fixtures import Settings as SettingsWrapper

from authz import verifier
from authz.models import Tenant


@pytest.fixture
def dev(db: None, settings: SettingsWrapper, fresh_caches: None) -> Tenant:
    settings.DEBUG = True
    return Tenant.objects.create(
        slug="dev", name="Dev", resource_url="http://127.0.0.1:8000/t/dev/mcp", use_dev_issuer=True
    )


def mint(*args: str) -> str:
    out = StringIO()
    call_command("mint_token", *args, stdout=out)
    return out.getvalue()


def test_prints_only_a_token_that_verifies(dev: Tenant) -> None:
    output = mint("--tenant", "dev", "--scope", "search.read docs.write", "--sub", "auth0|me", "--ttl", "90")
    token = output.strip()
    assert output == token + "\n"
    assert token.count(".") == 2
    principal = verifier.verify_token(dev, token)
    assert (principal.subject, principal.scopes) == ("auth0|me", {"search.read", "docs.write"})
    assert principal.expires_at - principal.claims["iat"] == 90


def test_default_scopes_are_the_tenants(dev: Tenant) -> None:
    principal = verifier.verify_token(dev, mint("--tenant", "dev").strip())
    assert principal.scopes == set(dev.scopes.values_list("name", flat=True))
    assert principal.subject == "dev-user"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tenant", "prod"], "tenant 'prod' does not use the development issuer"),
        (["--tenant", "nobody"], "no tenant 'nobody'"),
        (["--tenant", "dev", "--ttl", "0"], "--ttl must be a positive number"),
    ],
)
def test_errors(dev: Tenant, args: list[str], message: str) -> None:
    Tenant.objects.create(slug="prod", name="Prod", resource_url="https://x.example/mcp", issuer="https://x/")
    with pytest.raises(CommandError, match=message):
        mint(*args)


def test_refused_with_debug_off(dev: Tenant, settings: SettingsWrapper) -> None:
    settings.DEBUG = False
    with pytest.raises(CommandError, match="disabled when DEBUG is off"):
        mint("--tenant", "dev")
