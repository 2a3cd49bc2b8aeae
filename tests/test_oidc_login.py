"""Staff sign-in to the admin through Auth0, end to end against the loopback stand-in: the browser's hops are
followed by hand (Django test client → stand-in /authorize → callback), the backend talks real HTTP to the
stand-in's /oauth/token, /userinfo and JWKS."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.contrib.auth.models import User
from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper

from authz import oidc
from tests.auth0_login import ROLE_CLAIM, Auth0Login

pytestmark = pytest.mark.django_db
CALLBACK = "http://testserver/oidc/callback/"


@pytest.fixture
def sso(settings: SettingsWrapper) -> Iterator[Auth0Login]:
    auth0 = Auth0Login()
    auth0.add_web_client("admin-app", "admin-secret", [CALLBACK], ["http://testserver/admin/login/"])
    settings.OIDC_RP_CLIENT_ID = "admin-app"
    settings.OIDC_RP_CLIENT_SECRET = "admin-secret"
    settings.OIDC_OP_ISSUER = auth0.issuer
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = f"{auth0.base}/authorize"
    settings.OIDC_OP_TOKEN_ENDPOINT = f"{auth0.base}/oauth/token"
    settings.OIDC_OP_USER_ENDPOINT = f"{auth0.base}/userinfo"
    settings.OIDC_OP_JWKS_ENDPOINT = auth0.jwks_uri
    settings.OIDC_OP_LOGOUT_ENDPOINT = f"{auth0.base}/oidc/logout"
    settings.OIDC_ADMIN_EMAIL_DOMAINS = ["ops.example"]
    settings.OIDC_ADMIN_ROLES = ["cortex-admin"]
    settings.OIDC_ROLE_CLAIM = ROLE_CLAIM
    oidc.reset_jwks_cache()
    yield auth0
    oidc.reset_jwks_cache()
    auth0.stop()


def sign_in(client: Client, server: Auth0Login) -> httpx.Response | None:
    """Start at the admin's "Sign in with Auth0", go through the stand-in, land on the callback."""
    start = client.get("/oidc/authenticate/", {"next": "/admin/"})
    assert start.status_code == 302 and start["Location"].startswith(f"{server.base}/authorize?")
    at_auth0 = httpx.get(start["Location"], follow_redirects=False)
    assert at_auth0.status_code == 302, at_auth0.text
    back = urlsplit(at_auth0.headers["Location"])
    return client.get(back.path, parse_qs(back.query))  # type: ignore[return-value]


def signed_in_as(client: Client) -> User | None:
    page = client.get("/admin/")
    return page.context["user"] if page.status_code == 200 else None


def test_existing_staff_user_signs_in_with_pkce_and_the_jwks_is_cached(sso: Auth0Login) -> None:
    User.objects.create_user("alice", email="Alice@corp.example", is_staff=True)
    sso.user("alice@corp.example")
    client = Client()
    done = sign_in(client, sso)
    assert done.status_code == 302 and done["Location"] == "/admin/"
    assert signed_in_as(client).username == "alice"
    request = sso.authorize_requests[-1]
    assert request["code_challenge_method"] == "S256" and len(request["code_challenge"]) == 43
    assert request["nonce"] and request["scope"] == "openid email profile"
    # A second sign-in verifies its ID token with the cached keys: no second JWKS fetch.
    sign_in(Client(), sso)
    assert sso.counts["jwks"] == 1


@pytest.mark.parametrize(
    ("email", "roles", "admitted"),
    [
        ("bob@ops.example", [], True),  # allowlisted email domain
        ("carol@else.example", ["cortex-admin"], True),  # allowlisted role claim
        ("dave@else.example", ["viewer"], False),  # neither
        ("erin@OPS.example", [], True),  # domains compare case-insensitively
    ],
)
def test_allowlist_creates_staff_operators(sso: Auth0Login, email: str, roles: list[str], admitted: bool) -> None:
    sso.user(email, roles=roles)
    client = Client()
    done = sign_in(client, sso)
    if not admitted:
        assert done["Location"] == "/admin/login/?oidc=failed"
        assert not User.objects.filter(email__iexact=email).exists()
        return
    user = User.objects.get(email__iexact=email)
    assert user.is_staff and not user.is_superuser
    assert [group.name for group in user.groups.all()] == [oidc.OPERATOR_GROUP]
    assert signed_in_as(client) == user
    assert user.has_perm("tools.change_tool") and not user.has_perm("auth.change_user")


@pytest.mark.parametrize(
    ("case", "setup"),
    [
        ("unverified email", lambda a: a.user("bob@ops.example", verified=False)),
        ("wrong audience", lambda a: (a.user("bob@ops.example"), a.id_token_overrides.update(aud="other-app"))),
        ("wrong issuer", lambda a: (a.user("bob@ops.example"), a.id_token_overrides.update(iss="https://evil/"))),
        ("nonce replaced", lambda a: (a.user("bob@ops.example"), a.id_token_overrides.update(nonce="x"))),
        ("expired", lambda a: (a.user("bob@ops.example"), a.id_token_overrides.update(exp=1000))),
    ],
)
def test_refused_sign_ins(sso: Auth0Login, case: str, setup: object) -> None:
    setup(sso)  # type: ignore[operator]
    client = Client()
    done = sign_in(client, sso)
    assert done.status_code == 302 and done["Location"] == "/admin/login/?oidc=failed", case
    assert signed_in_as(client) is None
    assert not User.objects.filter(email__iexact="bob@ops.example").exists()


@pytest.mark.parametrize(("active", "staff", "admitted"), [(False, True, False), (True, False, False)])
def test_inactive_or_non_staff_users_stay_out(sso: Auth0Login, active: bool, staff: bool, admitted: bool) -> None:
    User.objects.create_user("frank", email="frank@corp.example", is_staff=staff, is_active=active)
    sso.user("frank@corp.example")
    client = Client()
    done = sign_in(client, sso)
    assert done["Location"] == "/admin/login/?oidc=failed"
    assert signed_in_as(client) is None
    assert User.objects.get(username="frank").is_staff is staff


def test_logout_goes_through_auth0(sso: Auth0Login) -> None:
    User.objects.create_user("alice", email="alice@corp.example", is_staff=True)
    sso.user("alice@corp.example")
    client = Client()
    sign_in(client, sso)
    id_token = client.session["oidc_id_token"]
    out = client.post("/admin/logout/")
    assert out.status_code == 302
    target = urlsplit(out["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{sso.base}/oidc/logout"
    query = {name: values[0] for name, values in parse_qs(target.query).items()}
    assert query == {
        "client_id": "admin-app",
        "post_logout_redirect_uri": "http://testserver/admin/login/",
        "id_token_hint": id_token,
    }
    final = httpx.get(out["Location"], follow_redirects=False)
    assert final.headers["Location"] == "http://testserver/admin/login/"
    assert signed_in_as(client) is None


@pytest.mark.parametrize(
    ("oidc_on", "superuser", "admitted"), [(True, True, True), (True, False, False), (False, False, True)]
)
def test_password_login_is_for_the_bootstrap_superuser(
    sso: Auth0Login, settings: SettingsWrapper, oidc_on: bool, superuser: bool, admitted: bool
) -> None:
    if not oidc_on:
        settings.OIDC_RP_CLIENT_ID = ""
    User.objects.create_user("root", password="pw-123456789", is_staff=True, is_superuser=superuser)
    client = Client()
    page = client.get("/admin/login/")
    assert ("Sign in with Auth0" in page.content.decode()) is oidc_on
    reply = client.post("/admin/login/?next=/admin/", {"username": "root", "password": "pw-123456789"})
    assert (reply.status_code == 302) is admitted


def test_admin_logout_without_auth0_session_is_django_logout(admin_client: Client) -> None:
    out = admin_client.post("/admin/logout/")
    assert out.status_code == 302 and out["Location"] == "/admin/login/"
    assert admin_client.get("/admin/").status_code == 302
