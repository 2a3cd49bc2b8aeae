"""The default tenant from the environment, so the seed guide's variables work unchanged.

``bootstrap_default_tenant`` creates or updates the tenant with slug ``default`` (it serves ``/mcp``). It
runs after every ``manage.py migrate`` (``post_migrate``; re-run ``migrate`` after changing these variables)
and can be called directly. **The environment wins for the fields it names, and only for those**: a field
whose variable is unset keeps what an admin set. On creation, unset variables take the defaults below.

============================  ==============================================================================
``AUTH_MODE``                 ``auth_mode`` (``oauth2`` | ``optional`` | ``none``; default ``oauth2``)
``AUTH0_DOMAIN``              issuer ``https://DOMAIN/`` (trailing slash, as Auth0's ``iss``), authorization
                              server ``https://DOMAIN`` (as the seed guide's metadata shows), JWKS
                              ``https://DOMAIN/.well-known/jwks.json``; turns the development issuer off
``AUTH_ISSUER``               any OIDC provider's exact ``iss`` (overrides ``AUTH0_DOMAIN``'s); authorization
                              server defaults to it without the trailing slash, JWKS to
                              ``<issuer>/.well-known/jwks.json``
``AUTH_JWKS_URI``             ``jwks_uri`` (overrides the default above)
``AUTH_AUTHORIZATION_SERVER`` ``authorization_server`` (overrides the default above)
``AUTH0_AUDIENCE``            ``audience`` (the Auth0 API Identifier; empty means the resource URL)
``MCP_RESOURCE_URL``          ``resource_url`` (default ``http://127.0.0.1:8000/mcp``)
``REQUIRED_SCOPES``           scope names (space or comma separated) created when missing, never deleted;
                              default on creation: the seed's five
``RATE_LIMIT_PER_MINUTE``     ``rate_limit_per_minute`` (MCP requests per minute per subject; 0 = off;
                              default 120)
``RATE_LIMIT_BURST``          ``rate_limit_burst`` (default 30)
``AUTH0_MGMT_CLIENT_ID``      ``mgmt_client_id``: the M2M application scope sync uses (``authz.scopesync``)
``AUTH0_MGMT_CLIENT_SECRET``  ``mgmt_client_secret``
``AUTH0_MGMT_DOMAIN``         ``mgmt_domain`` (the canonical TENANT.auth0.com; empty: the issuer's host)
============================  ==============================================================================

A plain-http issuer, JWKS URI or authorization server is allowed only on a loopback host (127.0.0.0/8,
::1, localhost); anything else raises ``ImproperlyConfigured``. With no ``AUTH0_DOMAIN``/``AUTH_ISSUER``,
``DEBUG`` on and a tenant that trusts no issuer, the tenant trusts the embedded development issuer
(``authz.devissuer``); while it does, its issuer fields follow the resource URL's origin.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections, transaction

from authz import devissuer
from authz.models import DEFAULT_TENANT, Scope, Tenant, split_words

DEFAULT_RESOURCE_URL = "http://127.0.0.1:8000/mcp"
DEFAULT_SCOPES = ["search.read", "docs.write", "memory.read", "memory.write", "memory.delete"]
_SCOPE_NAME = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")


def is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def insecure_url(url: str) -> bool:
    """True for a plain-http URL off loopback: tokens or keys from there could be forged in transit."""
    return urlsplit(url).scheme.lower() != "https" and not is_loopback(url)


def _url(name: str, value: str, check_transport: bool = True) -> str:
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ImproperlyConfigured(f"{name}={value!r} is not an http(s) URL")
    if check_transport and insecure_url(value):
        raise ImproperlyConfigured(
            f"{name}={value!r} uses plain http on a non-loopback host; use https (plain http is only allowed "
            "on 127.0.0.1, ::1 or localhost)"
        )
    return value


def _env(environ: Mapping[str, str], name: str) -> str:
    return (environ.get(name) or "").strip()


def environment_fields(environ: Mapping[str, str]) -> dict[str, Any]:
    """The tenant fields the environment names, validated."""
    fields: dict[str, Any] = {}
    mode = _env(environ, "AUTH_MODE")
    if mode:
        if mode not in Tenant.AuthMode.values:
            raise ImproperlyConfigured(f"AUTH_MODE={mode!r}: expected one of {', '.join(Tenant.AuthMode.values)}")
        fields["auth_mode"] = mode
    resource = _env(environ, "MCP_RESOURCE_URL")
    if resource:
        fields["resource_url"] = _url("MCP_RESOURCE_URL", resource, check_transport=False)
    audience = _env(environ, "AUTH0_AUDIENCE")
    if audience:
        fields["audience"] = audience

    for name, field in [("RATE_LIMIT_PER_MINUTE", "rate_limit_per_minute"), ("RATE_LIMIT_BURST", "rate_limit_burst")]:
        value = _env(environ, name)
        if value:
            if not value.isdigit():
                raise ImproperlyConfigured(f"{name}={value!r}: expected a whole number (0 turns the limit off)")
            fields[field] = int(value)
    for name, field in [
        ("AUTH0_MGMT_CLIENT_ID", "mgmt_client_id"),
        ("AUTH0_MGMT_CLIENT_SECRET", "mgmt_client_secret"),
        ("AUTH0_MGMT_DOMAIN", "mgmt_domain"),
    ]:
        value = _env(environ, name)
        if value:
            fields[field] = value

    domain = _env(environ, "AUTH0_DOMAIN").removeprefix("https://").rstrip("/")
    issuer = _env(environ, "AUTH_ISSUER")
    server = _env(environ, "AUTH_AUTHORIZATION_SERVER")
    jwks_uri = _env(environ, "AUTH_JWKS_URI")
    if issuer:
        _url("AUTH_ISSUER", issuer)
        server = server or issuer.rstrip("/")
        jwks_uri = jwks_uri or issuer.rstrip("/") + "/.well-known/jwks.json"
    elif domain:
        if "/" in domain:
            raise ImproperlyConfigured(f"AUTH0_DOMAIN={domain!r} should be a host name such as TENANT.auth0.com")
        issuer = f"https://{domain}/"
        server = server or f"https://{domain}"
        jwks_uri = jwks_uri or f"https://{domain}/.well-known/jwks.json"
    if issuer:
        fields["issuer"] = issuer
        fields["use_dev_issuer"] = False
    if server:
        fields["authorization_server"] = _url("AUTH_AUTHORIZATION_SERVER", server)
    if jwks_uri:
        fields["jwks_uri"] = _url("AUTH_JWKS_URI", jwks_uri)
    return fields


def required_scopes(environ: Mapping[str, str]) -> list[str] | None:
    """``REQUIRED_SCOPES`` as a list (``None`` when unset)."""
    value = _env(environ, "REQUIRED_SCOPES")
    if not value:
        return None
    names = split_words(value)
    for name in names:
        if not _SCOPE_NAME.fullmatch(name):
            raise ImproperlyConfigured(f"REQUIRED_SCOPES: {name!r} is not a valid scope name")
    return names


def bootstrap_default_tenant(environ: Mapping[str, str] = os.environ) -> Tenant:
    """Create or update the default tenant from ``environ`` (see the module docstring); returns it."""
    from tools.models import Tool
    from tools.sync import SCOPE_DESCRIPTIONS, sync_tenant

    fields = environment_fields(environ)
    scopes = required_scopes(environ)
    with transaction.atomic():
        tenant = Tenant.objects.select_for_update().filter(slug=DEFAULT_TENANT).first()
        created = tenant is None
        if tenant is None:
            tenant = Tenant(slug=DEFAULT_TENANT, name="Default", resource_url=DEFAULT_RESOURCE_URL)
            scopes = DEFAULT_SCOPES if scopes is None else scopes
        for name, value in fields.items():
            setattr(tenant, name, value)
        if "issuer" not in fields and settings.DEBUG and (tenant.use_dev_issuer or not tenant.issuer):
            tenant.use_dev_issuer = True
            tenant.issuer = devissuer.issuer_url(tenant.resource_url)
            tenant.authorization_server = tenant.issuer.rstrip("/")
            tenant.jwks_uri = tenant.issuer + ".well-known/jwks.json"
        if created:
            # Without signals, so the scopes below are made first, in REQUIRED_SCOPES order (the order the
            # metadata and challenges list them in); the tool rows follow from tools.sync.
            Tenant.objects.bulk_create([tenant])
        else:
            tenant.save()
        existing = set(Scope.objects.filter(tenant=tenant).values_list("name", flat=True))
        for name in scopes or []:
            if name not in existing:
                Scope.objects.create(tenant=tenant, name=name, description=SCOPE_DESCRIPTIONS.get(name, ""))
        if created and Tool._meta.db_table in connections[DEFAULT_DB_ALIAS].introspection.table_names():
            sync_tenant(tenant)
    tenant.refresh_from_db()
    return tenant


def bootstrap_after_migrate(**kwargs: Any) -> None:
    """``post_migrate`` of the authz app: bootstrap on the default database once its tables exist."""
    using = kwargs.get("using", DEFAULT_DB_ALIAS)
    if using != DEFAULT_DB_ALIAS or Tenant._meta.db_table not in connections[using].introspection.table_names():
        return
    bootstrap_default_tenant()
