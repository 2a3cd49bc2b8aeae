"""authz.devissuer: the embedded development issuer mints Auth0-shaped tokens that verify normally."""

from __future__ import annotations

import jwt
import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

from authz import devissuer, verifier
from authz.models import DevSigningKey, Tenant


@pytest.fixture
def dev(db: None, settings: SettingsWrapper, fresh_caches: None) -> Tenant:
    settings.DEBUG = True
    return Tenant.objects.create(
        slug="dev", name="Dev", resource_url="http://127.0.0.1:8000/t/dev/mcp", use_dev_issuer=True
    )


@pytest.mark.parametrize(
    ("resource", "issuer"),
    [
        ("http://127.0.0.1:8000/mcp", "http://127.0.0.1:8000/dev-issuer/"),
        ("https://host.example:8443/t/x/mcp", "https://host.example:8443/dev-issuer/"),
        ("http://[::1]:9000/mcp/", "http://[::1]:9000/dev-issuer/"),
    ],
)
def test_issuer_url(resource: str, issuer: str) -> None:
    assert devissuer.issuer_url(resource) == issuer


def test_minted_token_is_auth0_shaped(dev: Tenant) -> None:
    token = devissuer.mint(dev, ["search.read", "docs.write"], "dev|alice", 120)
    header = jwt.get_unverified_header(token)
    (row,) = DevSigningKey.objects.all()
    assert header == {"alg": "RS256", "typ": "JWT", "kid": row.kid}
    key = jwt.PyJWKSet.from_dict(devissuer.jwks())[row.kid].key
    claims = jwt.decode(token, key, algorithms=["RS256"], audience="http://127.0.0.1:8000/t/dev/mcp")
    assert claims["exp"] - claims["iat"] == 120
    assert {name: value for name, value in claims.items() if name not in {"iat", "exp"}} == {
        "iss": "http://127.0.0.1:8000/dev-issuer/",
        "aud": "http://127.0.0.1:8000/t/dev/mcp",
        "sub": "dev|alice",
        "azp": "cortex-dev",
        "scope": "search.read docs.write",
        "permissions": ["search.read", "docs.write"],
    }


def test_key_is_made_once_and_survives_a_restart(dev: Tenant) -> None:
    first = devissuer.mint(dev, [], "a", 60)
    devissuer._private_keys.clear()  # a new process
    second = devissuer.mint(dev, [], "b", 60)
    assert DevSigningKey.objects.count() == 1
    assert jwt.get_unverified_header(first)["kid"] == jwt.get_unverified_header(second)["kid"]
    assert verifier.verify_token(dev, first).subject == "a"


def test_issuer_and_audience_follow_the_tenant(dev: Tenant) -> None:
    dev.issuer = "http://127.0.0.1:8000/dev-issuer/"
    dev.audience = "https://api.example/custom"
    principal = verifier.verify_token(dev, devissuer.mint(dev, ["memory.read"], "bob", 60))
    assert (principal.claims["aud"], principal.scopes) == ("https://api.example/custom", {"memory.read"})


def test_refused_for_tenants_that_do_not_trust_it(dev: Tenant, settings: SettingsWrapper) -> None:
    other = Tenant.objects.create(slug="prod", name="Prod", resource_url="https://x.example/mcp", issuer="https://x/")
    with pytest.raises(devissuer.DevIssuerDisabled, match="tenant 'prod' does not use the development issuer"):
        devissuer.mint(other, [], "a", 60)
    with pytest.raises(ValueError, match="ttl must be a positive"):
        devissuer.mint(dev, [], "a", 0)
    settings.DEBUG = False
    with pytest.raises(devissuer.DevIssuerDisabled, match="disabled when DEBUG is off"):
        devissuer.mint(dev, [], "a", 60)
