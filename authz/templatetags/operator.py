"""Template helpers for the admin overrides."""

from __future__ import annotations

from django import template

from authz.oidc import oidc_enabled as _oidc_enabled

register = template.Library()


@register.simple_tag
def oidc_enabled() -> bool:
    """Whether the login page offers "Sign in with Auth0"."""
    return _oidc_enabled()
