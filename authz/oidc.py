"""Staff sign-in to the admin through Auth0 (OpenID Connect authorization code flow, mozilla-django-oidc).

Configuration is in ``settings`` (the "operator experience" block, from the environment): the Auth0 Regular
Web Application (``OIDC_RP_CLIENT_ID``/``OIDC_RP_CLIENT_SECRET``), the issuer (``OIDC_OP_ISSUER``, default
``https://{AUTH0_DOMAIN}/``) and the endpoints derived from it the way Auth0 lays them out. What this module
adds to the library's defaults, and why:

- **PKCE (S256) and a nonce** on every authorization request (``OIDC_USE_PKCE``, ``OIDC_USE_NONCE``).
- **The ID token is checked in full**: RS256 only, signature with a key from the issuer's JWKS, ``iss``
  exactly the configured issuer, ``aud`` containing our client id (the library itself skips the audience),
  ``exp``/``iat`` present and current, the nonce, and the userinfo ``sub`` equal to the ID token's (OIDC Core
  5.3.2: otherwise userinfo could describe someone else).
- **The JWKS is cached** per process (PyJWT's ``PyJWKClient``, ``OIDC_JWKS_CACHE_SECONDS``, default 600 s);
  a key it does not know yet makes it refetch once (Auth0 key rotation). A login does not fetch the JWKS.
- **Who gets in** (the allowlist lives in settings, from the environment, on purpose: who may administer the
  product is a deployment decision, and an allowlist in the database could be widened by anyone who got into
  the admin once). A user whose email Auth0 says is verified gets in when either
  (a) an active staff user with that email exists (their own permissions apply), or
  (b) the email's domain is in ``OIDC_ADMIN_EMAIL_DOMAINS``, or one of the values of the role claim
  ``OIDC_ROLE_CLAIM`` (a namespaced custom claim an Auth0 Action adds) is in ``OIDC_ADMIN_ROLES``: the user
  is created (or an existing one promoted) as staff in the "Cortex operators" group, which may manage
  everything of the authz and tools apps (and the beat schedule) but not users.
  Unverified emails, inactive users and everyone else are refused.
- **Logout goes through Auth0** (``/oidc/logout`` with ``id_token_hint``, ``client_id`` and
  ``post_logout_redirect_uri``), so signing out of the admin also ends the Auth0 session.
- **Password login stays for the bootstrap superuser**: while Auth0 sign-in is configured, the password
  backend admits superusers only; staff use Auth0. Without it, password login works for all staff.
"""

from __future__ import annotations

import logging
import threading
from typing import Any
from urllib.parse import urlencode

import jwt
from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AbstractBaseUser, Group, Permission
from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import absolutify
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView

logger = logging.getLogger(__name__)

OPERATOR_GROUP = "Cortex operators"
OPERATOR_APPS = ("authz", "tools", "django_celery_beat")

_jwks_clients: dict[tuple[str, int], jwt.PyJWKClient] = {}
_jwks_lock = threading.Lock()


def oidc_enabled() -> bool:
    """Auth0 sign-in is on when the client id and the issuer are configured."""
    return bool(getattr(settings, "OIDC_RP_CLIENT_ID", "") and getattr(settings, "OIDC_OP_ISSUER", ""))


def jwks_client(url: str) -> jwt.PyJWKClient:
    """One cached key client per JWKS URL and lifespan, shared by every login in this process."""
    lifespan = int(getattr(settings, "OIDC_JWKS_CACHE_SECONDS", 600))
    with _jwks_lock:
        client = _jwks_clients.get((url, lifespan))
        if client is None:
            client = jwt.PyJWKClient(url, cache_jwk_set=True, lifespan=lifespan, timeout=5)
            _jwks_clients[(url, lifespan)] = client
        return client


def reset_jwks_cache() -> None:
    """Forget the cached key clients (tests)."""
    with _jwks_lock:
        _jwks_clients.clear()


def email_domain(email: str) -> str:
    return email.rpartition("@")[2].lower()


def roles_of(claims: dict[str, Any]) -> set[str]:
    value = claims.get(getattr(settings, "OIDC_ROLE_CLAIM", ""))
    if isinstance(value, str):
        return {value}
    if isinstance(value, list):
        return {item for item in value if isinstance(item, str)}
    return set()


def allowlisted(claims: dict[str, Any]) -> bool:
    """Whether the claims' verified email domain or roles are on the operator allowlist (settings)."""
    domains = {domain.lower().lstrip("@") for domain in getattr(settings, "OIDC_ADMIN_EMAIL_DOMAINS", [])}
    roles = set(getattr(settings, "OIDC_ADMIN_ROLES", []))
    email = claims.get("email")
    if isinstance(email, str) and email_domain(email) in domains:
        return True
    return bool(roles & roles_of(claims))


def operator_group() -> Group:
    """The group allowlisted users join: every permission of the product's apps, none over users."""
    group, created = Group.objects.get_or_create(name=OPERATOR_GROUP)
    if created or not group.permissions.exists():
        group.permissions.set(Permission.objects.filter(content_type__app_label__in=OPERATOR_APPS))
    return group


class PasswordBackend(ModelBackend):
    """Username and password. While Auth0 sign-in is configured, only superusers (the bootstrap account made
    with ``createsuperuser``) may use it: staff sign in through Auth0, where MFA and offboarding live."""

    def user_can_authenticate(self, user: AbstractBaseUser | None) -> bool:
        if not super().user_can_authenticate(user):
            return False
        return not oidc_enabled() or bool(getattr(user, "is_superuser", False))


class StaffOIDCBackend(OIDCAuthenticationBackend):
    """The OIDC backend with the ID token checked in full and the operator allowlist (module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # The library reads required settings here and raises when absent; this backend is always listed in
        # AUTHENTICATION_BACKENDS, so it must load (and simply decline) when Auth0 sign-in is not configured.
        from django.contrib.auth import get_user_model

        self.OIDC_OP_TOKEN_ENDPOINT = getattr(settings, "OIDC_OP_TOKEN_ENDPOINT", "")
        self.OIDC_OP_USER_ENDPOINT = getattr(settings, "OIDC_OP_USER_ENDPOINT", "")
        self.OIDC_OP_JWKS_ENDPOINT = getattr(settings, "OIDC_OP_JWKS_ENDPOINT", "")
        self.OIDC_RP_CLIENT_ID = getattr(settings, "OIDC_RP_CLIENT_ID", "")
        self.OIDC_RP_CLIENT_SECRET = getattr(settings, "OIDC_RP_CLIENT_SECRET", "")
        self.OIDC_RP_SIGN_ALGO = "RS256"
        self.OIDC_RP_IDP_SIGN_KEY = None
        self.UserModel = get_user_model()

    def authenticate(self, request: HttpRequest | None, **kwargs: Any) -> Any:
        if not oidc_enabled():
            return None
        try:
            return super().authenticate(request, **kwargs)
        except SuspiciousOperation as exc:
            # A refused ID token: the operator reads why in the log, the user lands on the refusal page.
            logger.warning("Auth0 sign-in refused: %s", exc)
            return None

    def verify_token(self, token: str, **kwargs: Any) -> dict[str, Any]:
        """The ID token's claims after every check in the module docstring; ``SuspiciousOperation`` names
        the failed one (logged as a warning by the callback, the user sees a refusal)."""
        nonce = kwargs.get("nonce")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise SuspiciousOperation(f"ID token is not a JWT: {exc}") from exc
        if header.get("alg") != "RS256":
            raise SuspiciousOperation(f"ID token algorithm {header.get('alg')!r} refused: RS256 required")
        try:
            key = jwks_client(self.OIDC_OP_JWKS_ENDPOINT).get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                audience=self.OIDC_RP_CLIENT_ID,
                issuer=settings.OIDC_OP_ISSUER,
                options={"require": ["iss", "aud", "exp", "iat", "sub"]},
                leeway=60,
            )
        except jwt.PyJWTError as exc:
            raise SuspiciousOperation(f"ID token refused: {type(exc).__name__}: {exc}") from exc
        if getattr(settings, "OIDC_USE_NONCE", True) and claims.get("nonce") != nonce:
            raise SuspiciousOperation("ID token refused: nonce mismatch")
        return claims

    def get_or_create_user(self, access_token: str, id_token: str, payload: dict[str, Any]) -> Any:
        userinfo = self.get_userinfo(access_token, id_token, payload)
        if userinfo.get("sub") != payload.get("sub"):
            raise SuspiciousOperation("userinfo describes another subject than the ID token")
        claims = {**payload, **userinfo}
        return self.admit(claims)

    def admit(self, claims: dict[str, Any]) -> Any:
        """The staff user these (verified) claims sign in as, or ``None`` when they may not."""
        email = claims.get("email")
        if not isinstance(email, str) or "@" not in email:
            logger.warning("Auth0 sign-in refused for %s: no email claim", claims.get("sub"))
            return None
        if claims.get("email_verified") is not True:
            logger.warning("Auth0 sign-in refused for %s: email not verified", email)
            return None
        users = list(self.UserModel.objects.filter(email__iexact=email)[:2])
        if len(users) > 1:
            logger.warning("Auth0 sign-in refused for %s: several users have this email", email)
            return None
        user = users[0] if users else None
        if user is not None and not user.is_active:
            logger.warning("Auth0 sign-in refused for %s: the user is inactive", email)
            return None
        if user is not None and user.is_staff:
            return user
        if not allowlisted(claims):
            logger.warning("Auth0 sign-in refused for %s: not staff, email domain and roles not allowed", email)
            return None
        if user is None:
            user = self.UserModel.objects.create_user(email[:150], email=email)
        user.is_staff = True
        user.save(update_fields=["is_staff"])
        user.groups.add(operator_group())
        logger.info("Auth0 sign-in admitted %s as staff (allowlist)", email)
        return user


class CallbackView(OIDCAuthenticationCallbackView):
    """The library's callback; a user who is not staff (the admin's own rule) never gets a session."""

    def login_success(self) -> Any:
        if not getattr(self.user, "is_staff", False):
            return self.login_failure()
        return super().login_success()


def logout_url(request: HttpRequest) -> str:
    """Auth0's OIDC logout (RP-initiated logout) for the current session, back to the admin login page."""
    params = {
        "client_id": settings.OIDC_RP_CLIENT_ID,
        "post_logout_redirect_uri": absolutify(request, settings.LOGOUT_REDIRECT_URL),
    }
    id_token = request.session.get("oidc_id_token")
    if id_token:
        params["id_token_hint"] = id_token
    return f"{settings.OIDC_OP_LOGOUT_ENDPOINT}?{urlencode(params)}"
