"""Tenants and their OAuth scopes.

A tenant is one protected MCP resource: its own issuer, audience, keys, scopes and tools. The default
tenant (slug ``default``) serves ``/mcp`` and is created or updated from the environment by
``authz.bootstrap``; others serve ``/t/<slug>/mcp`` and are made in the admin.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.core.validators import RegexValidator
from django.db import models

DEFAULT_TENANT = "default"
WELL_KNOWN_PRM = "/.well-known/oauth-protected-resource"


def split_words(value: str) -> list[str]:
    """Split a space- or comma-separated setting into its words, order kept, duplicates dropped."""
    return list(dict.fromkeys(item for item in value.replace(",", " ").split() if item))


class Tenant(models.Model):
    class AuthMode(models.TextChoices):
        OAUTH2 = "oauth2", "oauth2: every MCP request needs a valid token"
        OPTIONAL = "optional", "optional: discovery and noauth tools work without a token"
        NONE = "none", "none: no token checks (development only, refused unless DEBUG)"

    class ChallengeStyle(models.TextChoices):
        HTTP = "http", "http: 403 with WWW-Authenticate (MCP step-up)"
        RESULT = "result", 'result: tool error with _meta["mcp/www_authenticate"] (ChatGPT Apps)'

    slug = models.SlugField(
        unique=True,
        validators=[RegexValidator(r"^[a-z0-9][a-z0-9-]{0,48}$")],
        help_text="URL name: the tenant serves /t/<slug>/mcp (the default tenant serves /mcp).",
    )
    name = models.CharField(max_length=100)
    auth_mode = models.CharField(
        max_length=10, choices=AuthMode.choices, default=AuthMode.OAUTH2, help_text="AUTH_MODE for this tenant."
    )
    use_dev_issuer = models.BooleanField(
        default=False,
        help_text="Trust the development issuer built into this app (manage.py mint_token). Refused when DEBUG is off.",
    )
    issuer = models.CharField(
        max_length=300,
        blank=True,
        help_text="Exact `iss` of access tokens. For Auth0: https://TENANT.auth0.com/ (with the trailing slash).",
    )
    authorization_server = models.CharField(
        max_length=300,
        blank=True,
        help_text="Advertised in the protected-resource metadata. For Auth0: https://TENANT.auth0.com",
    )
    audience = models.CharField(
        max_length=300,
        blank=True,
        help_text="Required `aud` value. Must equal the Auth0 API Identifier. Empty: the resource URL.",
    )
    resource_url = models.CharField(
        max_length=300, help_text="The public MCP endpoint URL (MCP_RESOURCE_URL), e.g. https://your-mcp-host/mcp"
    )
    jwks_uri = models.CharField(
        max_length=300, blank=True, help_text="Signing keys. For Auth0: https://TENANT.auth0.com/.well-known/jwks.json"
    )
    algorithms = models.CharField(
        max_length=100,
        default="RS256",
        help_text="Allowed JWS algorithms, space separated (RS/PS/ES/EdDSA only; never none or HMAC). "
        "Must match the Auth0 API's Signing Algorithm.",
    )
    leeway_seconds = models.PositiveIntegerField(default=60, help_text="Clock skew allowed on exp/nbf/iat.")
    scope_claims = models.CharField(
        max_length=100,
        default="scope scp permissions",
        help_text="Claims whose union is the token's scopes. Auth0 RBAC puts them in `permissions`.",
    )
    allowed_origins = models.TextField(
        blank=True,
        help_text="Browser Origins allowed to call the MCP endpoint, one per line or space separated. "
        "Requests without an Origin header are always allowed.",
    )
    challenge_style = models.CharField(
        max_length=10,
        choices=ChallengeStyle.choices,
        default=ChallengeStyle.HTTP,
        help_text="How a tools/call without the tool's scopes is refused.",
    )
    resource_name = models.CharField(max_length=100, default="Cortex MCP")
    resource_documentation = models.CharField(max_length=300, blank=True)
    config_version = models.PositiveIntegerField(
        default=0, editable=False, help_text="Bumped on every tool or scope edit; per-process caches key on it."
    )
    # --- background work (authz.scopesync, cortex.ratelimit) ---
    mgmt_domain = models.CharField(
        max_length=300,
        blank=True,
        help_text="Auth0 tenant domain for the Management API (TENANT.auth0.com, not a custom domain). "
        "Empty: the issuer's host.",
    )
    mgmt_client_id = models.CharField(
        max_length=200,
        blank=True,
        help_text="Machine-to-machine application authorized for the Auth0 Management API with "
        "read:resource_servers and update:resource_servers. Empty: scope sync is off.",
    )
    mgmt_client_secret = models.CharField(
        max_length=300, blank=True, help_text="That application's client secret (write-only in the admin)."
    )
    rate_limit_per_minute = models.PositiveIntegerField(
        default=120, help_text="MCP requests per minute per token subject (or client address); 0 turns it off."
    )
    rate_limit_burst = models.PositiveIntegerField(
        default=30, help_text="Requests allowed at once above the steady rate (the token bucket's size)."
    )

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    @property
    def effective_audience(self) -> str:
        return self.audience or self.resource_url

    @property
    def metadata_url(self) -> str:
        """RFC 9728 section 3.1: the well-known path is inserted before the resource's path."""
        parts = urlsplit(self.resource_url)
        path = parts.path.rstrip("/")
        return f"{parts.scheme}://{parts.netloc}{WELL_KNOWN_PRM}{path}"

    @property
    def algorithm_list(self) -> list[str]:
        return split_words(self.algorithms)

    @property
    def scope_claim_list(self) -> list[str]:
        return split_words(self.scope_claims)


class Scope(models.Model):
    """An OAuth scope (an Auth0 API permission) in the tenant's connector catalogue."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="scopes")
    name = models.CharField(
        max_length=100,
        validators=[
            RegexValidator(
                r"^[\x21\x23-\x5b\x5d-\x7e]+$", "A scope is printable ASCII without space, quote or backslash."
            )
        ],
        help_text="Exactly as the Auth0 API permission, e.g. docs.write",
    )
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["tenant", "name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="unique_scope_per_tenant")]

    def __str__(self) -> str:
        return self.name


class DevSigningKey(models.Model):
    """The development issuer's RSA key (``authz.devissuer``), made on first use and kept across restarts
    so tokens minted before a restart still verify. Only used when a tenant trusts the dev issuer (DEBUG)."""

    kid = models.CharField(max_length=64, unique=True)
    private_pem = models.TextField()
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]
        verbose_name = "development signing key"

    def __str__(self) -> str:
        return self.kid


class ScopeSyncRun(models.Model):
    """One run of the scope sync to Auth0 (``authz.scopesync``): what it changed, or why it failed."""

    class Status(models.TextChoices):
        RUNNING = "running", "running"
        OK = "ok", "ok"
        FAILED = "failed", "failed"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="scope_sync_runs")
    started = models.DateTimeField(auto_now_add=True)
    finished = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    added = models.JSONField(default=list, blank=True, help_text="Scopes created at Auth0.")
    updated = models.JSONField(default=list, blank=True, help_text="Scopes whose description changed.")
    unchanged = models.JSONField(default=list, blank=True, help_text="Scopes already as they should be.")
    kept = models.JSONField(default=list, blank=True, help_text="Scopes at Auth0 this platform does not manage.")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started", "-id"]
        get_latest_by = "started"

    def __str__(self) -> str:
        return f"{self.tenant.slug} {self.started:%Y-%m-%d %H:%M:%S} {self.status}"
