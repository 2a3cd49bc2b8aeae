"""authz.challenge: the WWW-Authenticate header for each kind of refusal, compared as whole strings."""

from __future__ import annotations

import pytest

from authz import errors
from authz.challenge import quoted, www_authenticate
from authz.models import Scope, Tenant

PRM = "https://api.example/.well-known/oauth-protected-resource/mcp"


@pytest.fixture
def shop(db: None, fresh_caches: None) -> Tenant:
    tenant = Tenant.objects.create(slug="shop", name="Shop", resource_url="https://api.example/mcp/")
    Scope.objects.filter(tenant=tenant).delete()  # drop the tool sync's scopes: these tests name their own
    for name in ["search.read", "docs.write"]:
        Scope.objects.create(tenant=tenant, name=name)
    tenant.refresh_from_db()
    return tenant


CASES = [
    (errors.MissingToken(), f'Bearer resource_metadata="{PRM}", scope="search.read docs.write"'),
    (
        errors.TokenExpired("token expired at 2026-01-01T00:00:00Z (now 2026-01-01T00:05:00Z)"),
        'Bearer error="invalid_token", error_description="token expired at 2026-01-01T00:00:00Z '
        f'(now 2026-01-01T00:05:00Z)", resource_metadata="{PRM}"',
    ),
    (
        errors.IssuerMismatch("issuer mismatch: expected 'https://x/', got 'https://x'"),
        'Bearer error="invalid_token", error_description="issuer mismatch: expected \'https://x/\', '
        f'got \'https://x\'", resource_metadata="{PRM}"',
    ),
    (
        errors.InvalidRequest("Authorization header has more than one credential"),
        'Bearer error="invalid_request", error_description="Authorization header has more than one credential", '
        f'resource_metadata="{PRM}"',
    ),
    (
        errors.InsufficientScope(["docs.write"], ["docs.write"]),
        f'Bearer error="insufficient_scope", scope="docs.write", resource_metadata="{PRM}", '
        'error_description="Unauthorized: scope docs.write required"',
    ),
    (
        errors.InsufficientScope(["memory.write"], ["memory.read", "memory.write"]),
        f'Bearer error="insufficient_scope", scope="memory.read memory.write", resource_metadata="{PRM}", '
        'error_description="Unauthorized: scope memory.write required"',
    ),
    (
        errors.KeysUnavailable("signing keys unavailable"),
        f'Bearer resource_metadata="{PRM}", scope="search.read docs.write"',
    ),
]


@pytest.mark.parametrize(("error", "header"), CASES, ids=[type(case[0]).__name__ for case in CASES])
def test_challenge_headers(shop: Tenant, error: errors.AuthzError, header: str) -> None:
    assert www_authenticate(shop, error) == header


def test_no_scope_parameter_without_scopes(shop: Tenant) -> None:
    Scope.objects.filter(tenant=shop).delete()
    shop.refresh_from_db()
    assert www_authenticate(shop, errors.MissingToken()) == f'Bearer resource_metadata="{PRM}"'


def test_scope_edits_show_at_once(shop: Tenant) -> None:
    www_authenticate(shop, errors.MissingToken())
    Scope.objects.create(tenant=shop, name="memory.read")
    shop.refresh_from_db()
    assert www_authenticate(shop, errors.MissingToken()).endswith('scope="search.read docs.write memory.read"')


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain text", '"plain text"'),
        ('say "hi"', "\"say 'hi'\""),
        ("back\\slash", '"back/slash"'),
        ("new\nline\ttab", '"new?line?tab"'),
        ("caf\u00e9 \u2603", '"caf? ?"'),
    ],
)
def test_quoted_values_keep_to_rfc6750(value: str, expected: str) -> None:
    assert quoted(value) == expected


def test_description_cannot_break_the_header(shop: Tenant) -> None:
    header = www_authenticate(shop, errors.MalformedToken('bad "x", error="forged"\r\nSet-Cookie: a=b' + "x" * 1000))
    description = header.split('error_description="', 1)[1].split('", resource_metadata=', 1)[0]
    assert '"' not in description and "\r" not in description and "\n" not in description
    assert len(description) == 400
