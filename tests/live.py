"""Real server processes for end-to-end tests and benchmarks.

``LiveServer`` runs the README's production command (granian, WSGI) on a free loopback port against a
database of its own: a fresh SQLite file, or a fresh PostgreSQL database on the server named by
``DATABASE_URL`` when the suite runs on PostgreSQL. ``manage()`` runs ``manage.py`` with the same
environment, so ``mint_token`` and ``add_codebase`` act on the server's database.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

from tests import processes

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def production_threads(database_url: str) -> int:
    """Request threads per worker as `make serve` chooses them (see the Makefile): 1 on SQLite, 4 on PostgreSQL."""
    return 4 if database_url.startswith("postgres") else 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _fresh_database(workdir: Path) -> tuple[str, str | None]:
    """A database URL for a new server, and the PostgreSQL database name to drop afterwards (if any)."""
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        return f"sqlite:///{workdir / 'db.sqlite3'}", None
    import psycopg

    name = f"cortex_live_{uuid.uuid4().hex[:10]}"
    parts = urlsplit(base)
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}")), name


def _drop_database(name: str) -> None:
    import psycopg

    parts = urlsplit(os.environ["DATABASE_URL"])
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class LiveServer:
    def __init__(self, workdir: Path, env: Mapping[str, str] | None = None, *, threads: int = 4) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        database_url, self._pg_name = _fresh_database(workdir)
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "cortex.settings",
            "SECRET_KEY": "live-server-test-key",
            "DEBUG": "1",
            "MCP_RESOURCE_URL": f"{self.url}/mcp",
            "DATABASE_URL": database_url,
            "LOG_LEVEL": "WARNING",
            **(env or {}),
        }
        self.log = workdir / "server.log"
        self.threads = threads
        self.proc: subprocess.Popen[bytes] | None = None

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=120
        )
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def start(self) -> LiveServer:
        self.manage("migrate", "--no-input")
        command = [
            str(BIN / "granian"),
            "--interface", "wsgi", "cortex.wsgi:application",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--workers", "1", "--blocking-threads", str(self.threads), "--no-ws",
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=self.log.open("wb"), stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/.well-known/oauth-protected-resource", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not answer in 30 s:\n{self.log.read_text()}")

    def worker_pids(self) -> list[int]:
        """The server's child processes (granian's workers, which serve the requests), from /proc."""
        assert self.proc is not None
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []

    def restart(self) -> LiveServer:
        """Stop the server process (if still running) and start a new one on the same port and database."""
        self.stop(keep_database=True)
        return self.start()

    def stop(self, *, keep_database: bool = False) -> None:
        processes.stop(self.proc)
        if self._pg_name and not keep_database:
            _drop_database(self._pg_name)
