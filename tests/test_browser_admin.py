"""The admin in a real browser: headless Chromium (the Debian package) driven by Playwright (the pip package,
pointed at /usr/bin/chromium; no browser download). Against the production server command (granian) and the
Auth0 stand-in: sign in with Auth0, change a tool's scopes on the tenant page, see the protected-resource
metadata change, copy the connector values. Screenshots go to ``test-artifacts/`` (git-ignored)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.auth0_login import Auth0Login
from tests.live import ROOT, LiveServer

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian package chromium is not installed")


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / ".gitignore").write_text("*\n")
    return ARTIFACTS


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[LiveServer, Auth0Login]]:
    auth0 = Auth0Login()
    server = LiveServer(
        tmp_path,
        {
            "OIDC_RP_CLIENT_ID": "admin-app",
            "OIDC_RP_CLIENT_SECRET": "admin-secret",
            "OIDC_OP_ISSUER": auth0.issuer,
            "OIDC_ADMIN_EMAIL_DOMAINS": "ops.example",
        },
    )
    auth0.add_web_client("admin-app", "admin-secret", [f"{server.url}/oidc/callback/"], [f"{server.url}/admin/login/"])
    auth0.user("olivia@ops.example")
    try:
        server.start()
        yield server, auth0
    finally:
        server.stop()
        auth0.stop()


def test_sign_in_change_scopes_and_see_the_metadata_change(
    stack: tuple[LiveServer, Auth0Login], artifacts: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    server, auth0 = stack
    metadata_url = f"{server.url}/.well-known/oauth-protected-resource"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
            page = context.new_page()
            page.goto(f"{server.url}/admin/")
            page.screenshot(path=str(artifacts / "01-login.png"), full_page=True)
            page.click("#auth0-login")  # → stand-in /authorize (PKCE) → /oidc/callback/ → /admin/
            page.wait_for_url(f"{server.url}/admin/")
            assert "olivia@ops.example" in page.content()
            assert auth0.authorize_requests[-1]["code_challenge_method"] == "S256"
            page.screenshot(path=str(artifacts / "02-signed-in.png"), full_page=True)

            page.goto(metadata_url)
            before = json.loads(page.inner_text("body"))
            assert before["scopes"]["docs.create"] == ["docs.write"]

            page.goto(f"{server.url}/admin/authz/tenant/")
            page.click("text=default")
            row = page.locator("tr.form-row", has_text="docs.create")
            row.locator("select[name$='-scopes']").select_option(label=["docs.write", "memory.write"])
            page.screenshot(path=str(artifacts / "03-tool-scopes.png"), full_page=True)
            page.click("input[name='_save']")
            page.wait_for_selector(".messagelist .success")
            page.screenshot(path=str(artifacts / "04-saved.png"), full_page=True)

            page.goto(metadata_url)
            after = json.loads(page.inner_text("body"))
            assert after["scopes"]["docs.create"] == ["docs.write", "memory.write"]

            page.goto(f"{server.url}/admin/authz/tenant/")
            page.click("text=Connect ChatGPT")
            page.wait_for_selector("#connector-values code.connector-value")
            values = page.locator("#connector-values code.connector-value").all_inner_texts()
            assert values[-1] == f"{server.url}/mcp" and values[-2] == metadata_url
            page.locator("button.copy").last.click()
            expect(page.locator("button.copy").last).to_have_text("Copied")
            assert page.evaluate("navigator.clipboard.readText()") == f"{server.url}/mcp"
            page.screenshot(path=str(artifacts / "05-connect.png"), full_page=True)
        finally:
            browser.close()
