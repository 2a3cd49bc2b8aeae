"""A real authorization server for end-to-end tests: interop/oidc-provider.mjs (npm ``oidc-provider``) run by Node.

``OidcProvider().start()`` runs it on a free loopback port and waits for the line it prints once it serves
requests; ``tenant_env()`` is what points a ``LiveServer``'s default tenant at it (``AUTH_ISSUER``,
``AUTH_JWKS_URI``, ``AUTH_AUTHORIZATION_SERVER``: plain http is allowed on loopback). ``authorize()`` plays the
user in a browser: it follows the authorization URL, signs in and consents through the server's HTML forms
over HTTP, granting only the scopes ``grant`` allows, and returns the redirect back to the client.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin

import httpx

from tests import processes
from tests.live import ROOT

SCRIPT = ROOT / "interop" / "oidc-provider.mjs"
USER, PASSWORD = "alice", "wonderland"


@dataclass
class Form:
    action: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    checkboxes: list[tuple[str, str]] = field(default_factory=list)


class FormParser(HTMLParser):
    """The forms of a page: action, text/password/hidden inputs, and checkboxes (name, value)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append(Form(action=values.get("action", "")))
        elif tag == "input" and self.forms:
            kind = values.get("type", "text")
            item = (values.get("name", ""), values.get("value", ""))
            (self.forms[-1].checkboxes if kind == "checkbox" else self.forms[-1].fields).append(item)


def forms(html: str) -> list[Form]:
    parser = FormParser()
    parser.feed(html)
    return parser.forms


class OidcProvider:
    def __init__(self, workdir: Path, scopes: Iterable[str] | None = None) -> None:
        self.workdir = workdir
        self.scopes = list(scopes) if scopes is not None else None
        self.proc: subprocess.Popen[str] | None = None
        self.issuer = ""
        self.jwks_uri = ""
        self.log = workdir / "oidc-provider.log"
        self.consents: list[list[str]] = []

    def start(self) -> OidcProvider:
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node is not on PATH (Node 20+ is needed for the interoperability tests)")
        if not (SCRIPT.parent / "node_modules" / "oidc-provider").exists():
            raise RuntimeError("interop/node_modules is missing: run `make interop-install`")
        env = {"PATH": "/usr/bin:/bin", "OIDC_USERS": f"{USER}:{PASSWORD}", "NODE_NO_WARNINGS": "1"}
        if self.scopes is not None:
            env["RESOURCE_SCOPES"] = " ".join(self.scopes)
        self.proc = subprocess.Popen(
            [node, str(SCRIPT)],
            cwd=SCRIPT.parent,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self.log.open("w"),
            text=True,
        )
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self.proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout=30)
        if not line or not line[0].strip():
            self.stop()
            raise RuntimeError(f"oidc-provider did not start:\n{self.log.read_text()}")
        info = json.loads(line[0])
        self.issuer, self.jwks_uri = info["issuer"], info["jwks_uri"]
        return self

    def stop(self) -> None:
        processes.stop(self.proc)

    def tenant_env(self) -> dict[str, str]:
        """Environment for ``LiveServer``: the default tenant trusts this authorization server."""
        return {
            "AUTH_MODE": "oauth2",
            "AUTH_ISSUER": self.issuer,
            "AUTH_JWKS_URI": self.jwks_uri,
            "AUTH_AUTHORIZATION_SERVER": self.issuer,
        }

    async def authorize(self, url: str, redirect_uri: str, grant: Callable[[str], bool] = lambda scope: True) -> str:
        """Sign in as the test user and consent, granting the scopes ``grant`` accepts; the final redirect URL.

        A new cookie jar each time, so every authorization signs in again and shows a fresh consent page.
        """
        async with httpx.AsyncClient(follow_redirects=False, timeout=30) as browser:
            response = await browser.get(url)
            for _ in range(12):
                if response.is_redirect:
                    location = urljoin(str(response.url), response.headers["location"])
                    if location.startswith(redirect_uri):
                        return location
                    response = await browser.get(location)
                    continue
                if response.status_code != 200:
                    raise RuntimeError(f"authorization failed: {response.status_code} {response.text[:500]}")
                [form] = forms(response.text)
                action = urljoin(str(response.url), form.action)
                if action.endswith("/login"):
                    data: dict[str, str | list[str]] = {"login": USER, "password": PASSWORD}
                else:
                    offered = [value for _, value in form.checkboxes]
                    chosen = [value for value in offered if grant(value)]
                    self.consents.append(chosen)
                    data = {"scope": chosen}
                response = await browser.post(action, data=data)
            raise RuntimeError("authorization did not come back to the client after 12 steps")
