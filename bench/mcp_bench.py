"""`make bench`: authenticated ``tools/call`` throughput of one server process, measured with wrk.

What it does, so the figure means something:
1. Starts a stand-in issuer on loopback (an RSA key and its JWKS over HTTP, as Auth0 publishes it) and the
   server exactly as `make serve` does (granian, WSGI) with ONE worker process, DEBUG off, trusting that
   issuer through AUTH_ISSUER / AUTH_JWKS_URI: the production token path, JWKS fetched over HTTP.
2. Stores 1,000 memories for the benchmark user through the MCP endpoint (``local_memory_store``).
3. Drives ``tools/call`` of ``local_memory_search`` ({"query": "alpha", "limit": 5}) with a bearer token over
   16 concurrent keep-alive connections for a fixed time with wrk (not Python), and prints requests/s,
   p50 and p99 latency, the count of non-200 replies and of JSON-RPC or tool errors in 200 replies.

Environment: BENCH_SECONDS (default 15), BENCH_CONNECTIONS (16), BENCH_THREADS (server blocking threads,
default as `make serve`: 1 on SQLite, 4 on PostgreSQL), DATABASE_URL (PostgreSQL; default a fresh SQLite file).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.live import LiveServer, production_threads  # noqa: E402

SECONDS = int(os.environ.get("BENCH_SECONDS", "15"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "16"))
THREADS = int(os.environ.get("BENCH_THREADS") or production_threads(os.environ.get("DATABASE_URL", "")))
MEMORIES = 1000
WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"]

WRK_SCRIPT = (Path(__file__).parent / "count_replies.lua").read_text()


class StandInIssuer:
    """An RSA key published as a JWKS on loopback, like ``https://TENANT.auth0.com/.well-known/jwks.json``."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        body = json.dumps({"keys": [{**jwk, "kid": "bench-key", "use": "sig", "alg": "RS256"}]}).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.httpd.server_port}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def server_env(self) -> dict[str, str]:
        """The environment of a production-like server (DEBUG off) whose default tenant trusts this issuer."""
        return {
            "DEBUG": "0",
            "AUTH_ISSUER": self.issuer,
            "AUTH_JWKS_URI": f"{self.issuer}.well-known/jwks.json",
            "AUTH_AUTHORIZATION_SERVER": self.issuer.rstrip("/"),
        }

    def mint(self, audience: str, subject: str, scopes: list[str]) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": [audience, f"{self.issuer}userinfo"],
            "sub": subject,
            "azp": "bench-client",
            "iat": now,
            "exp": now + 3600,
            "scope": " ".join(scopes),
            "permissions": scopes,
        }
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": "bench-key"})


def rpc(client: httpx.Client, url: str, token: str, request_id: int, name: str, arguments: dict) -> dict:
    params = {"name": name, "arguments": arguments}
    body = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"}
    reply = client.post(url, json=body, headers=headers)
    reply.raise_for_status()
    payload = reply.json()
    if "error" in payload or payload["result"].get("isError"):
        raise RuntimeError(f"{name} failed: {payload}")
    return payload["result"]


def main() -> int:
    issuer = StandInIssuer()
    workdir = Path(tempfile.mkdtemp(prefix="cortex-bench-"))
    env = {
        **issuer.server_env(),
        # One user sends everything: lift the per-user limit out of the way but keep its check on the path.
        "RATE_LIMIT_PER_MINUTE": "60000000",
        "RATE_LIMIT_BURST": "1000000",
    }
    server = LiveServer(workdir, env, threads=THREADS).start()
    try:
        url = f"{server.url}/mcp"
        token = issuer.mint(url, "bench-user", ["memory.read", "memory.write"])
        started = time.perf_counter()
        with httpx.Client(timeout=30) as client:
            for i in range(MEMORIES):
                words = " ".join(WORDS[(i + k) % len(WORDS)] for k in range(4))
                rpc(client, url, token, i, "local_memory_store", {"content": f"note {i}: {words}", "tags": ["bench"]})
            stored_in = time.perf_counter() - started
            probe = rpc(client, url, token, 0, "local_memory_search", {"query": "alpha", "limit": 5})
        hits = len((probe.get("structuredContent") or {}).get("results", []))
        print(f"stored {MEMORIES} memories in {stored_in:.2f} s ({MEMORIES / stored_in:.0f}/s, one client); "
              f"search for 'alpha' returns {hits} results")  # fmt: skip

        body = json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tools/call",
                "params": {"name": "local_memory_search", "arguments": {"query": "alpha", "limit": 5}},
            }
        )
        script = workdir / "bench.lua"
        script.write_text(
            "wrk.method = 'POST'\n"
            f"wrk.body = {json.dumps(body)}\n"
            "wrk.headers['Content-Type'] = 'application/json'\n"
            "wrk.headers['Accept'] = 'application/json, text/event-stream'\n"
            f"wrk.headers['Authorization'] = 'Bearer {token}'\n" + WRK_SCRIPT
        )
        database = "PostgreSQL" if server.env["DATABASE_URL"].startswith("postgres") else "SQLite"
        threads = f"{THREADS} request thread{'s' if THREADS > 1 else ''}"
        print(f"wrk: {CONNECTIONS} connections, {SECONDS} s, one server process ({threads}), {database}")
        done = subprocess.run(
            ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "-s", str(script), url],
            capture_output=True,
            text=True,
            check=True,
        )
        line = next(line for line in done.stdout.splitlines() if line.startswith("BENCH "))
        figures = dict(item.split("=") for item in line.split()[1:])
        print(
            f"requests/s: {figures['rps']}\np50 latency: {figures['p50_ms']} ms\np99 latency: {figures['p99_ms']} ms\n"
            f"non-200 replies: {figures['non_200']}\nerror bodies in 200 replies: {figures['error_bodies']}\n"
            f"socket errors: {figures['socket_errors']}\nrequests: {figures['requests']}"
        )
        return 0 if figures["non_200"] == "0" and figures["error_bodies"] == "0" else 1
    finally:
        server.stop()
        issuer.httpd.shutdown()


if __name__ == "__main__":
    raise SystemExit(main())
