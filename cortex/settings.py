"""Settings for Cortex MCP, read from the environment (12-factor).

Only process-wide settings live here. Everything a tenant can differ in (issuer, audience, JWKS URI,
algorithms, leeway, scope claims, origins, challenge style) lives on the ``authz.Tenant`` row; the seed
guide's variables (``AUTH_MODE``, ``AUTH0_DOMAIN``, ``AUTH0_AUDIENCE``, ``MCP_RESOURCE_URL``,
``REQUIRED_SCOPES``, ``AUTH_ISSUER``, ``AUTH_JWKS_URI``, ``AUTH_AUTHORIZATION_SERVER``) are read by
``authz.bootstrap`` to create or update the default tenant, not here.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
# Local state (SQLite file, collected static files); ignored by git.
(BASE_DIR / "var" / "static").mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item for item in os.environ.get(name, default).replace(",", " ").split() if item]


DEBUG = env_bool("DEBUG")

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "cortex-development-only-secret-key-do-not-use-in-production"

# The MCP resource's own host is always allowed, so the seed guide's variables are enough.
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS")
_resource_host = urlsplit(os.environ.get("MCP_RESOURCE_URL", "")).hostname
if _resource_host:
    ALLOWED_HOSTS.append(_resource_host)
if DEBUG or not ALLOWED_HOSTS:
    ALLOWED_HOSTS += ["127.0.0.1", "localhost", "[::1]"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "authz",
    "tools",
]

MIDDLEWARE = [
    "cortex.observability.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # The admin's CSS and JS under the production server (collected by `make serve` into STATIC_ROOT).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# The machine-facing API (MCP endpoint, metadata) runs under this shorter chain: see cortex/wsgi.py.
API_MIDDLEWARE = [
    "cortex.observability.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
]

ROOT_URLCONF = "cortex.urls"
WSGI_APPLICATION = "cortex.wsgi.application"
ASGI_APPLICATION = "cortex.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# SQLite by default, in WAL mode so readers never wait for the writer; PostgreSQL via DATABASE_URL.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0 if DEBUG else DATABASES["default"]["CONN_MAX_AGE"]
    # wal_autocheckpoint: copy the WAL back into the database (and fsync) every 10,000 pages (~40 MB) rather
    # than SQLite's 1,000: a memory store writes ~20 pages, so the default checkpointed every ~50 stores and
    # cost ~100-250 µs per store, measured.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000; "
            "PRAGMA wal_autocheckpoint=10000;"
        ),
        "transaction_mode": "IMMEDIATE",
    }
# PostgreSQL: Django's backend with a health check that needs no round trip while the connection is quiet
# (cortex/postgres/base.py says why that is as safe as SELECT 1).
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["ENGINE"] = "cortex.postgres"
# PostgreSQL (issue 3 speed): psycopg 3 server-side binding, so a statement a connection runs again and again
# (the audit INSERT, the memory store and search SQL, the codebase search queries) becomes a prepared statement
# after PG_PREPARE_THRESHOLD runs: no re-parsing or re-planning per call. PG_SERVER_SIDE_BINDING=0 turns it off
# (needed behind a pooler in transaction mode that cannot keep prepared statements, e.g. PgBouncer < 1.21).
if DATABASES["default"]["ENGINE"] == "cortex.postgres" and env_bool("PG_SERVER_SIDE_BINDING", True):
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"server_side_binding": True, "prepare_threshold": int(os.environ.get("PG_PREPARE_THRESHOLD", "5"))}
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis when configured (shared JWKS cache, Celery broker); otherwise a per-process memory cache.
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "cortex",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "cortex"}}

# --- Background work (issue 4): Celery, JWKS cache timing -------------------------------------------------
# Celery app ``cortex`` (cortex/celery.py). With REDIS_URL: Redis is the broker and the result store, and
# the beat schedule lives in the database (django-celery-beat, editable in the admin). Without it nothing
# needs Redis: a task sent with .delay() runs inline, and manage.py refresh_jwks / sync_scopes do the same work.
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_IGNORE_RESULT = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_TIME_LIMIT = 300
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
# JWKS (authz.jwks): refetch a document older than this; an unknown kid refetches at most once per cooldown.
JWKS_MAX_AGE_SECONDS = float(os.environ.get("JWKS_MAX_AGE_SECONDS", "600"))
JWKS_REFETCH_COOLDOWN_SECONDS = float(os.environ.get("JWKS_REFETCH_COOLDOWN_SECONDS", "30"))
# --- end background work ----------------------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"

# Behind a TLS-terminating proxy, trust its X-Forwarded-Proto only when told to.
if env_bool("TRUST_X_FORWARDED_PROTO"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# How long a process may answer MCP requests from its copy of a tenant row (cortex/mcp/tenants.py).
TENANT_CACHE_SECONDS = float(os.environ.get("TENANT_CACHE_SECONDS", "1"))

# Largest MCP request body accepted (bytes); larger bodies get 413 before they are parsed.
MCP_MAX_BODY_BYTES = int(os.environ.get("MCP_MAX_BODY_BYTES", str(1024 * 1024)))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # One JSON object per line with the request id (cortex.observability; LOG_FORMAT=console for text).
    "formatters": {"json": {"()": "cortex.observability.json_formatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.server": {"level": "WARNING"}},
}

# Tool handler modules, each defining ``TOOL`` (see tools.registry).
CORTEX_TOOL_MODULES = [
    "tools.builtin.codebase_search",
    "tools.builtin.docs_create",
    "tools.builtin.memory_search",
    "tools.builtin.memory_store",
    "tools.builtin.memory_delete",
]

# --- Interoperability profile (issue 6) -------------------------------------------------------------------
# CORTEX_PROFILE=conformance adds the fixture tools of the official MCP conformance suite
# (tools/fixtures/conformance) to the registry; `make conformance` runs the server that way, with
# AUTH_MODE=none and DEBUG=1. Unset (the default) nothing changes; any other value is a configuration error.
CORTEX_PROFILE = os.environ.get("CORTEX_PROFILE", "").strip().lower()
if CORTEX_PROFILE == "conformance":
    from tools.fixtures.conformance import MODULES as CONFORMANCE_TOOL_MODULES

    CORTEX_TOOL_MODULES = [*CORTEX_TOOL_MODULES, *CONFORMANCE_TOOL_MODULES]
elif CORTEX_PROFILE:
    raise ImproperlyConfigured(f"CORTEX_PROFILE={CORTEX_PROFILE!r}: the only profile is 'conformance'")
# --- end interoperability profile -------------------------------------------------------------------------

# --- operator experience: admin sign-in through Auth0, metrics (issue 5; see authz/oidc.py, README) -------
# Staff sign in to the admin with Auth0 (OpenID Connect, mozilla-django-oidc) when OIDC_RP_CLIENT_ID is set:
# an Auth0 "Regular Web Application" whose Allowed Callback URL is https://<host>/oidc/callback/ and whose
# Allowed Logout URL is https://<host>/admin/login/. Password login stays for the bootstrap superuser.
OIDC_RP_CLIENT_ID = os.environ.get("OIDC_RP_CLIENT_ID", "")
OIDC_RP_CLIENT_SECRET = os.environ.get("OIDC_RP_CLIENT_SECRET", "")
_oidc_domain = os.environ.get("OIDC_OP_DOMAIN") or os.environ.get("AUTH0_DOMAIN", "")
OIDC_OP_ISSUER = os.environ.get("OIDC_OP_ISSUER") or (f"https://{_oidc_domain}/" if _oidc_domain else "")
_oidc_base = OIDC_OP_ISSUER.rstrip("/")
OIDC_OP_AUTHORIZATION_ENDPOINT = os.environ.get("OIDC_OP_AUTHORIZATION_ENDPOINT") or f"{_oidc_base}/authorize"
OIDC_OP_TOKEN_ENDPOINT = os.environ.get("OIDC_OP_TOKEN_ENDPOINT") or f"{_oidc_base}/oauth/token"
OIDC_OP_USER_ENDPOINT = os.environ.get("OIDC_OP_USER_ENDPOINT") or f"{_oidc_base}/userinfo"
OIDC_OP_JWKS_ENDPOINT = os.environ.get("OIDC_OP_JWKS_ENDPOINT") or f"{_oidc_base}/.well-known/jwks.json"
OIDC_OP_LOGOUT_ENDPOINT = os.environ.get("OIDC_OP_LOGOUT_ENDPOINT") or f"{_oidc_base}/oidc/logout"
OIDC_RP_SIGN_ALGO = "RS256"
OIDC_RP_SCOPES = "openid email profile"
OIDC_USE_PKCE = True
OIDC_USE_NONCE = True
OIDC_STORE_ID_TOKEN = True  # the id_token_hint of Auth0's OIDC logout
OIDC_TIMEOUT = 5
OIDC_CALLBACK_CLASS = "authz.oidc.CallbackView"
OIDC_OP_LOGOUT_URL_METHOD = "authz.oidc.logout_url"
OIDC_JWKS_CACHE_SECONDS = int(os.environ.get("OIDC_JWKS_CACHE_SECONDS", "600"))
# Who may sign in besides existing active staff users: verified email domains, or role claim values
# (an Auth0 Action adds the user's roles to the ID token under OIDC_ROLE_CLAIM, a namespaced claim).
OIDC_ADMIN_EMAIL_DOMAINS = env_list("OIDC_ADMIN_EMAIL_DOMAINS")
OIDC_ADMIN_ROLES = env_list("OIDC_ADMIN_ROLES")
OIDC_ROLE_CLAIM = os.environ.get("OIDC_ROLE_CLAIM", "https://cortex-mcp/roles")
LOGIN_REDIRECT_URL = "/admin/"
LOGIN_REDIRECT_URL_FAILURE = "/admin/login/?oidc=failed"
LOGOUT_REDIRECT_URL = "/admin/login/"
AUTHENTICATION_BACKENDS = ["authz.oidc.PasswordBackend", "authz.oidc.StaffOIDCBackend"]

# /metrics: off with METRICS_ENABLED=0; with METRICS_TOKEN set, scrapers send Authorization: Bearer <token>.
METRICS_ENABLED = env_bool("METRICS_ENABLED", True)
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
# --- end operator experience ------------------------------------------------------------------------------
