"""Liveness and readiness probes for load balancers and orchestrators.

- ``GET /healthz``: the process answers (no database, no cache): 200 ``{"status": "ok"}``. A failing liveness
  probe restarts the process, so it must not depend on anything a restart cannot fix.
- ``GET /readyz``: can this process serve MCP requests now? 200 when every check passes, else 503; the body
  lists each check. Checks: ``database`` (a ``SELECT 1``), ``cache`` (a write and a read back: the shared
  JWKS copy and the rate limits live there) and ``jwks`` per tenant that verifies tokens.

JWKS freshness is reported per tenant (``fresh``, ``stale``, ``not_fetched``, ``unavailable``) but only
``unavailable`` (no keys at all and the last fetch failed: every token would be refused with 503) makes the
process unready. ``stale`` keys still verify tokens (cached keys keep working when Auth0 is down, by design),
and taking every replica out of rotation because Auth0's JWKS endpoint blinked would turn a degraded state
into an outage. The state comes from ``authz.jwks.status(tenant)``, which never fetches keys, so a probe
costs no request to Auth0.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse

from authz import jwks
from authz.models import Tenant

UNREADY_JWKS_STATES = {"unavailable"}


def _json(status: int, body: dict[str, Any]) -> HttpResponse:
    response = HttpResponse(json.dumps(body, indent=1).encode(), status=status, content_type="application/json")
    response["Cache-Control"] = "no-store"
    return response


def healthz(request: HttpRequest) -> HttpResponse:
    return _json(200, {"status": "ok"})


def check_database() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "not ready"
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"ok": True}


def check_cache() -> dict[str, Any]:
    key = f"readyz:{secrets.token_hex(4)}"
    try:
        cache.set(key, 1, timeout=5)
        ok = cache.get(key) == 1
        cache.delete(key)
    except Exception as exc:  # Redis down, wrong URL, ...
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"ok": True} if ok else {"ok": False, "error": "a value written to the cache could not be read back"}


def jwks_state(tenant: Tenant) -> dict[str, Any]:
    """The tenant's signing-key state from ``authz.jwks.status`` (which never fetches), named for operators:
    ``fresh``; ``stale`` (cached keys older than twice the max age); ``failing`` (cached keys in use, the last
    refresh failed); ``not_fetched`` (no token seen yet); ``unavailable`` (no keys and the last fetch failed)."""
    try:
        status = jwks.status(tenant)
    except Exception as exc:  # a broken cache backend
        return {"state": "unavailable", "ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    failing = bool(status.get("last_error"))
    if not status.get("cached"):
        state = "unavailable" if failing else "not_fetched"
    elif status.get("stale"):
        state = "stale"
    else:
        state = "failing" if failing else "fresh"
    summary = {key: status.get(key) for key in ("source", "kids", "fetched_at", "age_seconds", "last_error")}
    return {"state": state, "ok": state not in UNREADY_JWKS_STATES, **summary}


def check_jwks() -> dict[str, Any]:
    tenants: dict[str, Any] = {}
    for tenant in Tenant.objects.exclude(auth_mode=Tenant.AuthMode.NONE).order_by("slug"):
        tenants[tenant.slug] = jwks_state(tenant)
    return {"ok": all(item["ok"] for item in tenants.values()), "tenants": tenants}


def readyz(request: HttpRequest) -> HttpResponse:
    checks: dict[str, Any] = {"database": check_database(), "cache": check_cache()}
    checks["jwks"] = check_jwks() if checks["database"]["ok"] else {"ok": False, "error": "database unavailable"}
    ready = all(check["ok"] for check in checks.values())
    return _json(200 if ready else 503, {"status": "ready" if ready else "unready", "checks": checks})
