"""Memory tools at scale, in-process: ``.venv/bin/python bench/memory_bench.py``.

What it measures, so the figures mean something:
1. A fresh database (a new SQLite file, or a new database on the PostgreSQL server named by DATABASE_URL),
   migrated; settings ``cortex.settings`` with DEBUG off.
2. Bulk-loads BENCH_MEMORIES (default 100,000) memories for the benchmark user and as many for 100 other
   users (``bulk_create``, which sends no signal, then ``tools.memories.index_memories`` for the search
   postings, batch by batch). Text is 8-25 words drawn from a 5,000-word vocabulary with Zipf frequencies
   (word i has weight 1/(i+1)), one tag.
3. Times ``local_memory_search`` through ``tools.service.call_tool`` (validation, handler, audit row): p50
   and p99 over BENCH_QUERIES varied queries of 1-3 words, drawn (a) uniformly from the vocabulary and (b)
   with the text's own Zipf frequencies (common words: the expensive case), limit 10; and the most common
   word alone.
4. The `make bench` case in isolation: 1,000 memories of another user as bench/mcp_bench.py stores them,
   ``{"query": "alpha", "limit": 5}`` through call_tool and through ``tools.memories.search`` alone.
5. Store throughput: BENCH_STORES ``local_memory_store`` calls through call_tool, one client.
6. The same through the MCP endpoint: the server started as `make serve` does (one worker process, its
   request threads as `make serve` sets them, DEBUG off, tests/live.py) on this database, a bearer token
   from a stand-in issuer checked on every request; one httpx client over one keep-alive connection sends
   the uniform and Zipf query sets (latency of each request) and BENCH_STORES stores.
7. Stores from one client that costs next to nothing itself: wrk on one connection, one request at a time,
   BENCH_STORE_SECONDS (10), a different memory each time; then the database is checked to hold exactly
   the acknowledged stores.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MEMORIES = int(os.environ.get("BENCH_MEMORIES", "100000"))
QUERIES = int(os.environ.get("BENCH_QUERIES", "300"))
STORES = int(os.environ.get("BENCH_STORES", "2000"))
STORE_SECONDS = int(os.environ.get("BENCH_STORE_SECONDS", "10"))
VOCABULARY = [f"w{i}" for i in range(5000)]
ZIPF = [1 / (i + 1) for i in range(len(VOCABULARY))]
BENCH_WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"]


def fresh_database() -> tuple[str, Callable[[], None]]:
    """A database URL for this run and a function that removes the database afterwards."""
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        path = Path(tempfile.mkdtemp(prefix="cortex-memory-bench-")) / "db.sqlite3"
        return f"sqlite:///{path}", lambda: [p.unlink(missing_ok=True) for p in path.parent.glob("db.sqlite3*")]
    import psycopg

    name = f"cortex_bench_{uuid.uuid4().hex[:10]}"
    admin = urlunsplit(urlsplit(base)._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return urlunsplit(urlsplit(base)._replace(path=f"/{name}")), drop


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered) * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms, max {ordered[-1] * 1000:.2f} ms"


def main() -> int:
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    url, drop = fresh_database()
    os.environ.update(
        {"DJANGO_SETTINGS_MODULE": "cortex.settings", "DEBUG": "0", "SECRET_KEY": "memory-bench", "DATABASE_URL": url}
    )
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, connections

    from authz.models import Tenant
    from authz.principal import Principal
    from tools import memories
    from tools.models import Memory, MemoryTerm
    from tools.service import call_tool

    try:
        call_command("migrate", verbosity=0)
        tenant = Tenant.objects.create(slug="bench", name="Bench", resource_url="https://bench.example/mcp")
        scopes = frozenset({"memory.read", "memory.write"})
        user = Principal(subject="auth0|bench-user", client_id="bench", scopes=scopes, expires_at=0)
        rnd = random.Random(7)

        started = time.perf_counter()
        batch: list[Memory] = []
        for i in range(2 * MEMORIES):
            subject = user.subject if i % 2 == 0 else f"auth0|other-{i % 100}"
            words = " ".join(rnd.choices(VOCABULARY, ZIPF, k=rnd.randint(8, 25)))
            tags = [rnd.choice(VOCABULARY[:50])]
            batch.append(
                Memory(tenant=tenant, subject=subject, content=words, tags=tags, importance=rnd.randint(1, 10))
            )
            if len(batch) == 5000:
                memories.index_memories(Memory.objects.bulk_create(batch), fresh=True)
                batch = []
        memories.index_memories(Memory.objects.bulk_create(batch), fresh=True)
        loaded = time.perf_counter() - started
        print(f"database: {connection.vendor}; loaded {2 * MEMORIES} memories ({MEMORIES} for the benchmark user) "
              f"in {loaded:.1f} s ({2 * MEMORIES / loaded:.0f}/s, bulk_create + index_memories; "
              f"{MemoryTerm.objects.count()} postings)")  # fmt: skip
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE tools_memory")
                cursor.execute("VACUUM ANALYZE tools_memoryterm")

        def timed_search(arguments: dict) -> tuple[float, dict]:
            began = time.perf_counter()
            result = call_tool(tenant, user, "local_memory_search", arguments)
            elapsed = time.perf_counter() - began
            if result.is_error or result.structured is None:
                raise RuntimeError(f"search failed: {result.content}")
            return elapsed, result.structured

        for name, weights in (("uniform", None), ("zipf", ZIPF)):
            samples, totals, alone = [], [], []
            for _ in range(QUERIES):
                query = " ".join(rnd.choices(VOCABULARY, weights, k=rnd.randint(1, 3)))
                elapsed, found = timed_search({"query": query, "limit": 10})
                samples.append(elapsed)
                totals.append(found["total"])
                began = time.perf_counter()
                memories.search(tenant.pk, user.subject, memories.terms(query), memories.Filters(), 10, 0)
                alone.append(time.perf_counter() - began)
            cap = memories.MAX_CANDIDATES
            capped = sum(1 for total in totals if total >= cap)
            print(f"search, {QUERIES} {name} queries of 1-3 words, limit 10: {percentiles(samples)}; "
                  f"median total {statistics.median(totals):.0f}, {capped} at the {cap} cap")  # fmt: skip
            print(
                f"  the same queries, tools.memories.search alone (no validation, no audit row): {percentiles(alone)}"
            )
        common = [timed_search({"query": VOCABULARY[0], "limit": 10})[0] for _ in range(50)]
        print(f"search for the most common word ({VOCABULARY[0]}) x50: {percentiles(common)}")
        filtered = [timed_search({"query": VOCABULARY[0], "limit": 10, "tags": [VOCABULARY[3]]})[0] for _ in range(50)]
        print(f"  same with a tags filter x50: {percentiles(filtered)}")

        small = Principal(subject="bench-small", client_id="bench", scopes=scopes, expires_at=0)
        small_memories = Memory.objects.bulk_create(
            Memory(
                tenant=tenant,
                subject=small.subject,
                content=f"note {i}: " + " ".join(BENCH_WORDS[(i + k) % len(BENCH_WORDS)] for k in range(4)),
                tags=["bench"],
            )
            for i in range(1000)
        )
        memories.index_memories(small_memories, fresh=True)
        arguments = {"query": "alpha", "limit": 5}
        for _ in range(200):
            call_tool(tenant, small, "local_memory_search", arguments)
        n = 2000
        began = time.perf_counter()
        for _ in range(n):
            call_tool(tenant, small, "local_memory_search", arguments)
        via_call = (time.perf_counter() - began) / n
        words = memories.terms("alpha")
        began = time.perf_counter()
        for _ in range(n):
            memories.search(tenant.pk, small.subject, words, memories.Filters(), 5, 0)
        alone = (time.perf_counter() - began) / n
        print(f"make-bench case (1,000 memories, 400 match 'alpha', limit 5): call_tool {via_call * 1000:.3f} ms, "
              f"tools.memories.search alone {alone * 1000:.3f} ms")  # fmt: skip

        began = time.perf_counter()
        for i in range(STORES):
            content = f"stored {i}: " + " ".join(rnd.choices(VOCABULARY, ZIPF, k=12))
            result = call_tool(tenant, user, "local_memory_store", {"content": content, "tags": ["bench"]})
            if result.is_error:
                raise RuntimeError(f"store failed: {result.content}")
        stored = time.perf_counter() - began
        print(f"store through call_tool, one client: {STORES} in {stored:.2f} s ({STORES / stored:.0f}/s)")
        through_endpoint(url, tenant, user.subject, rnd)
        return 0
    finally:
        connections.close_all()
        drop()


def through_endpoint(url: str, tenant: object, subject: str, rnd: random.Random) -> None:
    """Phase 6: the same searches and stores as HTTP requests to a real server process on this database."""
    import httpx

    from bench.mcp_bench import StandInIssuer
    from tests.live import LiveServer, production_threads

    issuer = StandInIssuer()
    tenant.issuer = issuer.issuer  # type: ignore[attr-defined]
    tenant.jwks_uri = f"{issuer.issuer}.well-known/jwks.json"  # type: ignore[attr-defined]
    tenant.rate_limit_per_minute = 0  # type: ignore[attr-defined]  # one client, back to back
    tenant.save()  # type: ignore[attr-defined]
    workdir = Path(tempfile.mkdtemp(prefix="cortex-memory-bench-live-"))
    server = LiveServer(workdir, {"DEBUG": "0", "DATABASE_URL": url}, threads=production_threads(url)).start()
    try:
        endpoint = f"{server.url}/t/{tenant.slug}/mcp"  # type: ignore[attr-defined]
        token = issuer.mint(tenant.resource_url, subject, ["memory.read", "memory.write"])  # type: ignore[attr-defined]
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"}
        with httpx.Client(timeout=30, headers=headers) as client:

            def call(name: str, arguments: dict) -> float:
                body = {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "tools/call",
                    "params": {"name": name, "arguments": arguments},
                }
                began = time.perf_counter()
                reply = client.post(endpoint, json=body)
                elapsed = time.perf_counter() - began
                result = reply.json().get("result") if reply.status_code == 200 else None
                if result is None or result.get("isError"):
                    raise RuntimeError(f"{name} through the endpoint failed: {reply.status_code} {reply.text[:300]}")
                return elapsed

            for name, weights in (("uniform", None), ("zipf", ZIPF)):
                samples = [
                    call(
                        "local_memory_search",
                        {"query": " ".join(rnd.choices(VOCABULARY, weights, k=rnd.randint(1, 3))), "limit": 10},
                    )
                    for _ in range(QUERIES)
                ]
                print(f"through the MCP endpoint, search, {QUERIES} {name} queries, limit 10: {percentiles(samples)}")
            began = time.perf_counter()
            for i in range(STORES):
                content = f"posted {i}: " + " ".join(rnd.choices(VOCABULARY, ZIPF, k=12))
                call("local_memory_store", {"content": content, "tags": ["bench"]})
            stored = time.perf_counter() - began
            print(f"through the MCP endpoint, store, one httpx client: {STORES} in {stored:.2f} s "
                  f"({STORES / stored:.0f}/s; the client's own Python costs about 0.4 ms per request)")  # fmt: skip
        stores_with_wrk(endpoint, token, tenant, subject, rnd, workdir)
    finally:
        server.stop()
        issuer.httpd.shutdown()


def stores_with_wrk(endpoint: str, token: str, tenant: object, subject: str, rnd: random.Random, workdir: Path) -> None:
    """Phase 7: stores from one client that costs next to nothing itself: wrk on ONE connection, one request
    at a time, for STORE_SECONDS, each request a different memory. Then the database must hold exactly the
    acknowledged stores (one more if wrk stopped with a request in flight)."""
    import json
    import subprocess

    from tools.models import Memory

    bodies = [
        json.dumps(
            {
                "jsonrpc": "2.0",
                "id": i,
                "method": "tools/call",
                "params": {
                    "name": "local_memory_store",
                    "arguments": {"content": f"wrk {i}: " + " ".join(rnd.choices(VOCABULARY, ZIPF, k=12)),
                                  "tags": ["bench"]},
                },
            }
        )
        for i in range(10_000)
    ]  # fmt: skip
    script = workdir / "stores.lua"
    script.write_text(
        "wrk.method = 'POST'\n"
        "wrk.headers['Content-Type'] = 'application/json'\n"
        "wrk.headers['Accept'] = 'application/json, text/event-stream'\n"
        f"wrk.headers['Authorization'] = 'Bearer {token}'\n"
        f"local bodies = {{{', '.join(json.dumps(body) for body in bodies)}}}\n"
        "local sent = 0\n"
        "function request()\n"
        "  sent = sent + 1\n"
        "  return wrk.format(nil, nil, nil, bodies[(sent - 1) % #bodies + 1])\n"
        "end\n" + (ROOT / "bench" / "count_replies.lua").read_text()
    )
    owned = Memory.objects.filter(tenant=tenant, subject=subject)
    before = owned.count()
    done = subprocess.run(
        ["wrk", "-t1", "-c1", f"-d{STORE_SECONDS}s", "-s", str(script), endpoint],
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(line for line in done.stdout.splitlines() if line.startswith("BENCH "))
    figures = dict(item.split("=") for item in line.split()[1:])
    added = owned.count() - before
    print(
        f"through the MCP endpoint, store, one client on one connection (wrk -c1, one request at a time): "
        f"{figures['requests']} in {figures['seconds']} s ({figures['rps']}/s), p50 {figures['p50_ms']} ms, "
        f"p99 {figures['p99_ms']} ms, {figures['non_200']} non-200, {figures['error_bodies']} error bodies; "
        f"{added} memories added"
    )
    acknowledged = int(figures["requests"]) - int(figures["non_200"]) - int(figures["error_bodies"])
    if added not in (acknowledged, acknowledged + 1):
        raise RuntimeError(f"{acknowledged} stores acknowledged but {added} memories added")


if __name__ == "__main__":
    raise SystemExit(main())
