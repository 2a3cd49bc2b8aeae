"""System checks for tenant security settings, with stable ids (silence or document them by id).

=============  ========================================================================  ============
id             what                                                                      when
=============  ========================================================================  ============
cortex.E001    a tenant trusts the development issuer while DEBUG is off                 always
cortex.E002    a tenant has AUTH_MODE none while DEBUG is off                            always
cortex.E003    a tenant's issuer, JWKS URI or authorization server is plain http         always
               on a non-loopback host
cortex.E004    a tenant's algorithm list holds none, an HMAC or an unknown algorithm     always
cortex.W001    a tenant that requires tokens trusts no issuer (every token is refused)   always
cortex.W002    a tenant's resource URL is not https                                      ``--deploy``
cortex.W003    a tenant's issuer is not https                                            ``--deploy``
=============  ========================================================================  ============

Messages name the tenant (``obj``); text and hints are module-level so tests and docs can quote them.
The default tenant is judged with the environment's values applied (what the next ``migrate`` makes it).
Before ``migrate`` (no tables) the checks report nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError

from authz.bootstrap import environment_fields, insecure_url
from authz.jwks import KEY_TYPES
from authz.models import DEFAULT_TENANT, Tenant

E001 = "Tenant trusts the development issuer while DEBUG is off."
E001_HINT = "Set AUTH0_DOMAIN (or AUTH_ISSUER) and run migrate, or untick 'use dev issuer' in the admin."
E002 = "Tenant has AUTH_MODE 'none' (no token checks) while DEBUG is off."
E002_HINT = "Use AUTH_MODE=oauth2 or optional; 'none' is for local development with DEBUG on."
E003 = "Tenant's {field} {url!r} is plain http on a non-loopback host."
E003_HINT = "Use https; plain http is only allowed on 127.0.0.1, ::1 or localhost."
E004 = "Tenant's algorithms include {names}, which are not allowed."
E004_EMPTY = "Tenant allows no signing algorithm, so every token is refused."
E004_HINT = "Allowed: " + " ".join(KEY_TYPES) + " (never none or HMAC). Auth0 APIs sign with RS256."
W001 = "Tenant requires tokens but trusts no issuer, so every token is refused."
W001_HINT = "Set AUTH0_DOMAIN (or AUTH_ISSUER) and run migrate, or set the tenant's issuer in the admin."
W002 = "Tenant's resource URL {url!r} is not https."
W002_HINT = "MCP clients and Auth0 expect an https resource (MCP_RESOURCE_URL); terminate TLS in front."
W003 = "Tenant's issuer {url!r} is not https."
W003_HINT = "Production tokens should come from an https issuer (e.g. https://TENANT.auth0.com/)."


def _tenants(app_configs: Any) -> list[Tenant]:
    """The tenants to judge. The default tenant is judged as the environment will make it on the next
    ``migrate`` (``authz.bootstrap``), so that setting AUTH0_DOMAIN and running ``migrate`` is the way out of
    cortex.E001, not blocked by it."""
    if app_configs is not None and not any(config.label == "authz" for config in app_configs):
        return []
    try:
        tenants = list(Tenant.objects.order_by("slug"))
    except DatabaseError:  # before migrate, or no database yet
        return []
    try:
        fields = environment_fields(os.environ)
    except ImproperlyConfigured:  # bootstrap reports it, with the variable's name, when migrate runs
        fields = {}
    for tenant in tenants:
        if tenant.slug == DEFAULT_TENANT:
            for name, value in fields.items():
                setattr(tenant, name, value)
    return tenants


def tenant_messages(tenant: Tenant, debug: bool) -> Iterable[CheckMessage]:
    if tenant.use_dev_issuer and not debug:
        yield Error(E001, hint=E001_HINT, obj=tenant, id="cortex.E001")
    if tenant.auth_mode == Tenant.AuthMode.NONE and not debug:
        yield Error(E002, hint=E002_HINT, obj=tenant, id="cortex.E002")
    for field in ("issuer", "jwks_uri", "authorization_server"):
        url = getattr(tenant, field)
        if url and insecure_url(url):
            yield Error(E003.format(field=field, url=url), hint=E003_HINT, obj=tenant, id="cortex.E003")
    bad = [name for name in tenant.algorithm_list if name not in KEY_TYPES]
    if bad or not tenant.algorithm_list:
        message = E004.format(names=", ".join(bad)) if bad else E004_EMPTY
        yield Error(message, hint=E004_HINT, obj=tenant, id="cortex.E004")
    if tenant.auth_mode != Tenant.AuthMode.NONE and not tenant.use_dev_issuer and not tenant.issuer:
        yield Warning(W001, hint=W001_HINT, obj=tenant, id="cortex.W001")


def deploy_messages(tenant: Tenant) -> Iterable[CheckMessage]:
    if not tenant.resource_url.lower().startswith("https://"):
        yield Warning(W002.format(url=tenant.resource_url), hint=W002_HINT, obj=tenant, id="cortex.W002")
    if tenant.issuer and not tenant.issuer.lower().startswith("https://"):
        yield Warning(W003.format(url=tenant.issuer), hint=W003_HINT, obj=tenant, id="cortex.W003")


@register(Tags.security)
def check_tenants(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    return [message for tenant in _tenants(app_configs) for message in tenant_messages(tenant, settings.DEBUG)]


@register(Tags.security, deploy=True)
def check_tenants_deploy(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    return [message for tenant in _tenants(app_configs) for message in deploy_messages(tenant)]
