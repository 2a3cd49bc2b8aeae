"""`make bench-codebase`: codebase.search on the installed CPython standard library, through the MCP endpoint.

What it does, so the figures mean something:
1. Starts a stand-in issuer (RSA key + JWKS on loopback, as in ``bench/mcp_bench.py``) and the production
   server (granian, WSGI, one process, DEBUG off) on a fresh database: SQLite, or PostgreSQL with
   ``DATABASE_URL``. Every request carries a bearer token the server verifies (the token check is included).
2. Registers the standard library (``sysconfig.get_paths()["stdlib"]``; ``*.py``, without ``site-packages``
   and ``__pycache__``: about 1,800 files and 860,000 lines) with ``manage.py add_codebase --no-index`` and indexes it
   with ``manage.py index_codebase`` (timed: build time), then prints the index size (the database's growth
   and the text / posting-list bytes).
3. Sends each literal query of ``QUERIES`` (identifiers, common words, rare strings, strings with no match)
   as ``tools/call`` of ``codebase.search`` (default arguments: case-insensitive, limit 50), one client,
   keep-alive, after one warm-up round; prints p50 / p90 / max latency over all requests, for the default
   and with ``case_sensitive: true``.
4. Times ``rg -F -n`` (case-sensitive, and ``-i``) on the same files for every query, warm, for comparison.

Environment: BENCH_ROUNDS (timed rounds over the query list, default 5), DATABASE_URL (PostgreSQL; default
a fresh SQLite file), BENCH_STDLIB (another tree to index instead).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from contextlib import closing
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from mcp_bench import StandInIssuer, rpc  # noqa: E402

from tests.live import LiveServer, production_threads  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
STDLIB = os.environ.get("BENCH_STDLIB") or sysconfig.get_paths()["stdlib"]
INCLUDE = ["*.py"]
EXCLUDE = ["site-packages/", "__pycache__/"]
QUERIES = [
    "def __init__",
    "import os",
    "self.assertEqual",
    "return None",
    "raise ValueError",
    "subprocess.Popen",
    "getaddrinfo",
    "_PyObject_LookupSpecial",
    "HTTPConnection",
    "SimpleNamespace",
    "__class_getitem__",
    "ZipFile",
    "socket.AF_INET6",
    "json.dumps(",
    "os.path.join(",
    "Decimal('",
    "lambda x:",
    "if __name__ == '__main__':",
    "TODO",
    "deprecated",
    "asyncio.get_event_loop",
    "urllib.parse",
    "threading.Lock()",
    "xyzzy_never_there",
    "no such string in the stdlib 42",
    "qwertyuiop",
    "zzzzzz",
    'ValueError("invalid literal',
    "encodings.idna",
    "maxsize",
]


def _database_bytes(server: LiveServer, workdir: Path) -> int:
    url = server.env["DATABASE_URL"]
    if not url.startswith("postgres"):
        import sqlite3

        # Pages still in the WAL (up to 10,000 between checkpoints, cortex/settings.py) would count twice.
        with closing(sqlite3.connect(workdir / "db.sqlite3")) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return sum(path.stat().st_size for path in workdir.glob("db.sqlite3*"))
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return int(row[0]) if row else 0


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    p50 = statistics.median(ordered)
    return f"p50 {p50:.1f} ms, p90 {p90:.1f} ms, max {ordered[-1]:.1f} ms ({len(ordered)} requests)"


def _rg_ms(query: str, ignore_case: bool) -> float:
    command = ["rg", "--no-config", "-F", "-n", "--hidden", "--max-filesize", "1M", "-g", "*.py"]
    command += [arg for glob in EXCLUDE for arg in ("-g", f"!{glob}")]
    command += (["-i"] if ignore_case else []) + ["--", query, STDLIB]
    subprocess.run(command, stdout=subprocess.DEVNULL, check=False)  # warm
    times = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, check=False)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> int:
    issuer = StandInIssuer()
    workdir = Path(tempfile.mkdtemp(prefix="cortex-codebase-bench-"))
    env = {
        **issuer.server_env(),
        "RATE_LIMIT_PER_MINUTE": "0",  # the benchmark client is one user sending back to back
    }
    server = LiveServer(workdir, env, threads=production_threads(os.environ.get("DATABASE_URL", ""))).start()
    try:
        database = "PostgreSQL" if server.env["DATABASE_URL"].startswith("postgres") else "SQLite"
        globs = [arg for glob in INCLUDE for arg in ("--include", glob)]
        globs += [arg for glob in EXCLUDE for arg in ("--exclude", glob)]
        server.manage("add_codebase", "stdlib", STDLIB, *globs, "--no-index")
        empty = _database_bytes(server, workdir)
        started = time.perf_counter()
        report = server.manage("index_codebase", "stdlib").strip()
        built_in = time.perf_counter() - started
        grown = _database_bytes(server, workdir) - empty
        print(f"tree: {STDLIB} (include {' '.join(INCLUDE)}; exclude {' '.join(EXCLUDE)}); database: {database}")
        print(f"index build: {built_in:.1f} s wall for `manage.py index_codebase` ({report})")
        print(f"index size: database grew by {grown / 1e6:.1f} MB")
        started = time.perf_counter()
        again = server.manage("index_codebase", "stdlib").strip()
        print(f"re-index with nothing changed: {time.perf_counter() - started:.1f} s wall ({again})")

        url = f"{server.url}/mcp"
        token = issuer.mint(url, "bench-user", ["search.read"])
        results: dict[str, list[float]] = {"default (case-insensitive)": [], "case_sensitive": []}
        counts: dict[str, int] = {}
        slowest: dict[str, float] = {}
        with httpx.Client(timeout=60) as client:
            for label, extra in (("default (case-insensitive)", {}), ("case_sensitive", {"case_sensitive": True})):
                for round_ in range(ROUNDS + 1):
                    for number, query in enumerate(QUERIES):
                        arguments = {"query": query, **extra}
                        started = time.perf_counter()
                        result = rpc(client, url, token, number, "codebase.search", arguments)
                        elapsed = (time.perf_counter() - started) * 1000
                        if round_ == 0:
                            counts[f"{label}:{query}"] = len(result["structuredContent"]["matches"])
                            continue  # warm-up
                        results[label].append(elapsed)
                        key = f"{query!r}{' (case-sensitive)' if extra else ''}"
                        slowest[key] = max(slowest.get(key, 0.0), elapsed)
        for label, samples in results.items():
            print(f"codebase.search through MCP, {label}: {_percentiles(samples)}")
        worst = sorted(slowest.items(), key=lambda item: -item[1])[:3]
        print("slowest queries: " + ", ".join(f"{key} {ms:.1f} ms" for key, ms in worst))
        no_match = sum(1 for key, count in counts.items() if key.startswith("case_sensitive:") and count == 0)
        print(f"queries: {len(QUERIES)} ({no_match} with no match, case-sensitive), limit 50, {ROUNDS} timed rounds")

        if shutil.which("rg"):
            sensitive = [_rg_ms(query, False) for query in QUERIES]
            insensitive = [_rg_ms(query, True) for query in QUERIES]
            print(f"rg -F -n (same files, warm), per query: p50 {statistics.median(sensitive):.1f} ms, "
                  f"max {max(sensitive):.1f} ms; with -i: p50 {statistics.median(insensitive):.1f} ms")  # fmt: skip
        else:
            print("rg not installed: no ripgrep comparison")
        return 0
    finally:
        server.stop()
        issuer.httpd.shutdown()


if __name__ == "__main__":
    raise SystemExit(main())
